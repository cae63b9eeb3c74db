"""What every console answer carries against a hostile browser context, and where a login may lead.

Headers: a Content-Security-Policy that allows only this origin's forms and the page's own inline
style and script (by a per-response nonce; the script reads this origin only), no framing, no referrer,
no MIME sniffing. The session cookie is marked ``Secure`` whenever the request came over TLS.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, g, request
from flask.sessions import SecureCookieSessionInterface

# Browsers drop these anywhere in a URL (tab, newline, carriage return) or at its ends (C0 and space).
_DROPPED_INSIDE = re.compile(r"[\t\n\r]")
_TRIMMED = "".join(chr(c) for c in range(0x21))


def safe_next(target: str | None, default: str) -> str:
    """``target`` if a browser would stay on this origin following it, else ``default``.

    The check runs on the URL as the browser will read it (WHATWG URL parsing: tabs and newlines
    removed, C0 and spaces trimmed, backslashes read as slashes), and that normalised form is what
    is returned: a same-origin absolute path, never ``//host`` nor a scheme.
    """
    if not target:
        return default
    url = _browser_form(target)
    # Checked decoded once more: a proxy or a later redirect that decodes %2F or %09 must not leave either.
    if not (_same_origin_path(url) and _same_origin_path(_browser_form(unquote(url)))):
        return default
    return url


def _browser_form(url: str) -> str:
    return _DROPPED_INSIDE.sub("", url).strip(_TRIMMED).replace("\\", "/")


def _same_origin_path(url: str) -> bool:
    if not url.startswith("/") or url.startswith("//") or any(ord(c) < 0x20 or c == "\x7f" for c in url):
        return False
    parts = urlsplit(url)
    return not (parts.scheme or parts.netloc)


class _TlsAwareSessions(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def _nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{_nonce()}'; script-src 'nonce-{_nonce()}'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def init_app(app: Flask) -> None:
    app.session_interface = _TlsAwareSessions()
    app.after_request(_headers)
    app.jinja_env.globals["csp_nonce"] = _nonce
