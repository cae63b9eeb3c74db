"""What the callback listener shows: the same bytes for every visitor, token or not.

The page is an ordinary patient-portal sign-in; images are a transparent 1x1 GIF. Nothing here depends
on the request beyond the kind of path, so a thief comparing a real token with a made-up one sees no
difference.
"""

from __future__ import annotations

import base64

PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")

IMAGE_SUFFIXES = (".gif", ".png", ".jpg", ".jpeg", ".ico", ".svg", ".webp", ".bmp")

ROBOTS_TXT = b"User-agent: *\nDisallow: /\n"

PORTAL_PAGE = b"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>Espace patient - Connexion</title>
<style>
body{font-family:Arial,Helvetica,sans-serif;background:#f3f6f9;margin:0;color:#1d2b36}
header{background:#00558c;color:#fff;padding:14px 24px;font-size:18px}
main{max-width:420px;margin:48px auto;background:#fff;padding:28px;border-radius:6px;
box-shadow:0 1px 4px rgba(0,0,0,.12)}
label{display:block;margin:14px 0 4px;font-size:14px}
input{width:100%;padding:8px;box-sizing:border-box;border:1px solid #b8c4ce;border-radius:4px}
button{margin-top:20px;width:100%;padding:10px;background:#00558c;color:#fff;border:0;border-radius:4px}
p.small{font-size:12px;color:#5a6b78}
</style>
</head>
<body>
<header>Espace patient</header>
<main>
<h1 style="font-size:20px">Acc&egrave;s &agrave; vos documents</h1>
<p>Pour consulter vos comptes rendus, ordonnances et r&eacute;sultats, identifiez-vous.</p>
<form method="post" action="/connexion" autocomplete="off">
<label for="identifiant">Identifiant (adresse e-mail)</label>
<input id="identifiant" name="identifiant" type="email" required>
<label for="motdepasse">Mot de passe</label>
<input id="motdepasse" name="motdepasse" type="password" required>
<button type="submit">Se connecter</button>
</form>
<p class="small">Premi&egrave;re connexion ? Utilisez le code re&ccedil;u par SMS ou par courrier.
Assistance : du lundi au vendredi, de 8 h &agrave; 18 h.</p>
</main>
</body>
</html>
"""

# Same on every answer: nothing cached (each opening calls back), nothing leaked to other sites.
COMMON_HEADERS = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# The pictures the per-canary documents link to, by mechanism (file name at the end of the path). Only
# opening the document reaches these, so they are classed differently from pages (see noise.py).
DOCUMENT_PICTURES = {
    "docx-header-picture": "entete.gif",
    "docx-footer-picture": "logo.gif",
    "docx-includepicture": "bandeau.png",
    "xlsx-picture": "logo-etablissement.png",
}
_PICTURE_MECHANISMS = {name: mechanism for mechanism, name in DOCUMENT_PICTURES.items()}

# Kinds of callback path; noise classes apply per kind (docs/tripwire.md, "Noise").
DOCUMENT_PICTURE, IMAGE, ROBOTS, PAGE = "document-picture", "image", "robots", "page"


def path_kind(path: str) -> str:
    if path == "/robots.txt":
        return ROBOTS
    if picture_mechanism(path):
        return DOCUMENT_PICTURE
    return IMAGE if is_image_path(path) else PAGE


def picture_mechanism(path: str) -> str | None:
    """Which document picture ``path`` names (e.g. docx-header-picture), or None."""
    return _PICTURE_MECHANISMS.get(path.rsplit("/", 1)[-1].lower())


def is_image_path(path: str) -> bool:
    lowered = path.lower()
    return lowered.endswith(IMAGE_SUFFIXES) or "/img/" in lowered or "/pixel" in lowered
