"""French and English for the console. French first: most users are French hospital teams."""

from __future__ import annotations

from flask import Flask, g, request

LANGUAGES = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "title": {"fr": "Canary — dossiers patients pièges", "en": "Canary — honeytoken patient records"},
    "login": {"fr": "Connexion", "en": "Sign in"},
    "logout": {"fr": "Déconnexion", "en": "Sign out"},
    "username": {"fr": "Identifiant", "en": "Username"},
    "password": {"fr": "Mot de passe", "en": "Password"},
    "bad_login": {"fr": "Identifiant ou mot de passe incorrect.", "en": "Wrong username or password."},
    "slow_down": {"fr": "Trop d'essais depuis cette adresse : réessayez dans un moment.",
                  "en": "Too many attempts from this address: try again in a moment."},
    "systems": {"fr": "Systèmes surveillés", "en": "Watched systems"},
    "system": {"fr": "Système", "en": "System"},
    "kind": {"fr": "Type", "en": "Kind"},
    "establishment": {"fr": "Établissement", "en": "Establishment"},
    "canaries": {"fr": "Canaris actifs", "en": "Active canaries"},
    "no_system": {"fr": "Aucun système enregistré. Commencez par « canary system add ».",
                  "en": "No system registered yet. Start with 'canary system add'."},
    "recent_events": {"fr": "Derniers événements", "en": "Recent events"},
    "no_event": {"fr": "Aucun événement.", "en": "No event."},
    "time": {"fr": "Heure", "en": "Time"},
    "channel": {"fr": "Canal", "en": "Channel"},
    "severity": {"fr": "Gravité", "en": "Severity"},
    "source": {"fr": "Source", "en": "Source"},
    "nav_systems": {"fr": "Systèmes", "en": "Systems"},
    "nav_alerts": {"fr": "Alertes", "en": "Alerts"},
    "alerts_open": {"fr": "Alertes en cours", "en": "Open alerts"},
    "alerts_all": {"fr": "Toutes les alertes", "en": "All alerts"},
    "show_all": {"fr": "Voir aussi les alertes résolues", "en": "Show resolved alerts too"},
    "show_open": {"fr": "Seulement les alertes en cours", "en": "Open alerts only"},
    "no_alert": {"fr": "Aucune alerte.", "en": "No alert."},
    "state": {"fr": "État", "en": "State"},
    "count": {"fr": "Événements", "en": "Events"},
    "first_seen": {"fr": "Premier", "en": "First seen"},
    "last_seen": {"fr": "Dernier", "en": "Last seen"},
    "ack": {"fr": "Prendre en charge", "en": "Acknowledge"},
    "resolve": {"fr": "Clore", "en": "Resolve"},
    "note": {"fr": "Note", "en": "Note"},
    "state_open": {"fr": "ouverte", "en": "open"},
    "state_acknowledged": {"fr": "prise en charge", "en": "acknowledged"},
    "state_resolved": {"fr": "close", "en": "resolved"},
    "nav_overview": {"fr": "Vue d'ensemble", "en": "Overview"},
    "nav_canaries": {"fr": "Canaris", "en": "Canaries"},
    "nav_events": {"fr": "Événements", "en": "Events"},
    "nav_sweeps": {"fr": "Balayages", "en": "Sweeps"},
    "nav_settings": {"fr": "Réglages", "en": "Settings"},
    "nav_audit": {"fr": "Journal d'audit", "en": "Audit log"},
    "signed_out": {"fr": "Vous êtes déconnecté.", "en": "You are signed out."},
    "system_alert": {"fr": "alerte en cours", "en": "alert open"},
    "system_failed": {"fr": "plantation en échec", "en": "plantings failed"},
    "system_never_planted": {"fr": "jamais planté", "en": "never planted"},
    "system_quiet": {"fr": "calme", "en": "quiet"},
    "timeline": {"fr": "30 derniers jours", "en": "Last 30 days"},
    "timeline_legend": {"fr": "gris : événements, rouge : alertes", "en": "grey: events, red: alerts"},
    "peak": {"fr": "maximum", "en": "peak"},
    "events": {"fr": "événements", "en": "events"},
    "last_sweep": {"fr": "Dernier balayage", "en": "Last sweep"},
    "next_sweep": {"fr": "Prochain balayage", "en": "Next sweep"},
    "deliveries": {"fr": "Envois", "en": "Deliveries"},
    "pending": {"fr": "en attente", "en": "pending"},
    "failing": {"fr": "en échec", "en": "failing"},
    "older": {"fr": "Plus anciens", "en": "Older"},
    "alert_story": {"fr": "Histoire de l'alerte", "en": "Alert story"},
    "theft_window": {"fr": "Fenêtre du vol", "en": "Theft window"},
    "evidence": {"fr": "Preuves", "en": "Evidence"},
    "attempts": {"fr": "Essais", "en": "Attempts"},
    "last_error": {"fr": "Dernière erreur", "en": "Last error"},
    "planted": {"fr": "Plantés", "en": "Planted"},
    "add_system": {"fr": "Ajouter un système", "en": "Add a system"},
    "add": {"fr": "Ajouter", "en": "Add"},
    "system_saved": {"fr": "Système enregistré.", "en": "System saved."},
    "save": {"fr": "Enregistrer", "en": "Save"},
    "notes": {"fr": "Notes", "en": "Notes"},
    "system_added": {"fr": "Système ajouté.", "en": "System added."},
    "canary": {"fr": "Canari", "en": "Canary"},
    "canary_id": {"fr": "Identifiant du canari", "en": "Canary id"},
    "all_systems": {"fr": "Tous les systèmes", "en": "All systems"},
    "search": {"fr": "Chercher", "en": "Search"},
    "generation": {"fr": "Génération", "en": "Generation"},
    "created": {"fr": "Créé", "en": "Created"},
    "no_canary": {"fr": "Aucun canari.", "en": "No canary."},
    "record_preview": {"fr": "Le dossier tel qu'un voleur le verrait", "en": "The record as a thief would see it"},
    "born": {"fr": "née", "en": "born"},
    "gp": {"fr": "Médecin traitant", "en": "GP"},
    "tokens": {"fr": "Jetons", "en": "Tokens"},
    "download_record": {"fr": "Télécharger le dossier (JSON)", "en": "Download the record (JSON)"},
    "viewer_no_record": {"fr": "Votre rôle ne montre pas le contenu des canaris.",
                         "en": "Your role does not show what canaries contain."},
    "plantings": {"fr": "Plantations", "en": "Plantings"},
    "target": {"fr": "Cible", "en": "Target"},
    "feeds": {"fr": "Flux surveillés", "en": "Feeds"},
    "feed": {"fr": "Flux", "en": "Feed"},
    "schedule": {"fr": "Calendrier", "en": "Schedule"},
    "last_run": {"fr": "Dernier passage", "en": "Last run"},
    "run_now": {"fr": "Lancer maintenant", "en": "Run now"},
    "no_feed": {"fr": "Aucun flux.", "en": "No feed."},
    "feed_added": {"fr": "Flux ajouté.", "en": "Feed added."},
    "feed_started": {"fr": "Balayage lancé.", "en": "Sweep started."},
    "started": {"fr": "Début", "en": "Started"},
    "files": {"fr": "Fichiers", "en": "Files"},
    "bytes": {"fr": "Octets", "en": "Bytes"},
    "findings": {"fr": "Trouvailles", "en": "Findings"},
    "skipped": {"fr": "Ignorés", "en": "Skipped"},
    "notify_targets": {"fr": "Destinations des alertes", "en": "Notification targets"},
    "no_destination": {"fr": "Aucune destination.", "en": "No destination."},
    "send_test": {"fr": "Envoyer un test", "en": "Send test"},
    "api_tokens": {"fr": "Jetons d'API", "en": "API tokens"},
    "name": {"fr": "Nom", "en": "Name"},
    "role": {"fr": "Rôle", "en": "Role"},
    "expires": {"fr": "Expire", "en": "Expires"},
    "revoked": {"fr": "Révoqué", "en": "Revoked"},
    "value": {"fr": "Valeur", "en": "Value"},
    "origin": {"fr": "Origine", "en": "Source"},
    "origin_env": {"fr": "environnement", "en": "environment"},
    "origin_registry": {"fr": "registre", "en": "registry"},
    "origin_default": {"fr": "défaut", "en": "default"},
    "meaning": {"fr": "Sens", "en": "Meaning"},
    "who": {"fr": "Qui", "en": "Who"},
    "via": {"fr": "Par", "en": "Via"},
    "from": {"fr": "Depuis", "en": "From"},
    "action": {"fr": "Action", "en": "Action"},
    "details": {"fr": "Détails", "en": "Details"},
    "accounts": {"fr": "Comptes", "en": "Accounts"},
    "disabled": {"fr": "Désactivé", "en": "Disabled"},
    "plant": {"fr": "Planter", "en": "Plant"},
    "retire": {"fr": "Retirer", "en": "Retire"},
    "confirm_retire": {"fr": "Je confirme le retrait de toutes ses plantations",
                       "en": "I confirm removing all its plantings"},
    "retire_done": {"fr": "{retired} retirés, {failed} en échec.", "en": "{retired} retired, {failed} failed."},
    "webhook_secret": {"fr": "Secret HMAC (affiché une fois) : {secret}", "en": "HMAC secret (shown once): {secret}"},
    "add_destination": {"fr": "Ajouter une destination", "en": "Add a destination"},
    "systems_filter": {"fr": "systèmes (séparés par des virgules, vide : tous)",
                       "en": "systems (comma-separated, empty: all)"},
    "confirm_remove": {"fr": "confirmer", "en": "confirm"},
    "remove": {"fr": "Supprimer", "en": "Remove"},
    "choose_file": {"fr": "Choisissez un fichier à analyser.", "en": "Choose a file to scan."},
    "scan_started": {"fr": "Analyse lancée ; le fichier sera effacé ensuite.",
                     "en": "Scan started; the file is deleted afterwards."},
    "scan_file": {"fr": "Analyser un fichier (jamais conservé)", "en": "Scan a file (never kept)"},
    "scan": {"fr": "Analyser", "en": "Scan"},
    "nav_watch": {"fr": "Sources surveillées", "en": "Watch sources"},
    "access_sources": {"fr": "Journaux d'accès des DPI", "en": "EHR access logs"},
    "no_source": {"fr": "Aucune source.", "en": "No source."},
    "lines": {"fr": "Lignes", "en": "Lines"},
    "malformed": {"fr": "Illisibles", "en": "Malformed"},
    "matched": {"fr": "Reconnues", "en": "Matched"},
    "tripwires": {"fr": "Pièges actifs", "en": "Tripwires"},
    "last_event": {"fr": "Dernier événement", "en": "Last event"},
    "last_24h": {"fr": "Dernières 24 h", "en": "Last 24 h"},
    "not_configured": {"fr": "non configuré", "en": "not configured"},
    "mailboxes": {"fr": "Boîtes relevées", "en": "Polled mailboxes"},
    "ignore_rules": {"fr": "Règles d'exclusion", "en": "Ignore rules"},
    "plant_target": {"fr": "Cible : mllp://, https://…/fhir ou file:///…",
                     "en": "Target: mllp://, https://…/fhir or file:///…"},
    "confirm_plant": {"fr": "Je confirme la plantation", "en": "I confirm the planting"},
    "confirm_needed": {"fr": "Cochez la confirmation avant de planter.",
                       "en": "Tick the confirmation before planting."},
    "plant_done": {"fr": "{planted} plantés, {already} déjà présents, {failed} en échec.",
                   "en": "{planted} planted, {already} already there, {failed} failed."},
}


def pick_language() -> str:
    wanted = request.args.get("lang") or request.cookies.get("lang")
    if wanted in LANGUAGES:
        return wanted
    return request.accept_languages.best_match(LANGUAGES) or "fr"


def translate(key: str) -> str:
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry.get(g.get("lang", "fr"), entry["fr"])


def init_app(app: Flask) -> None:
    @app.before_request
    def _set_language() -> None:
        g.lang = pick_language()

    @app.after_request
    def _remember_language(response):
        if request.args.get("lang") in LANGUAGES:
            response.set_cookie("lang", request.args["lang"], samesite="Strict", httponly=True)
        return response

    app.jinja_env.globals.update(_=translate, languages=LANGUAGES)
