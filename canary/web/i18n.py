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
    "sev_critical": {"fr": "critique", "en": "critical"},
    "sev_high": {"fr": "élevée", "en": "high"},
    "sev_medium": {"fr": "moyenne", "en": "medium"},
    "sev_low": {"fr": "faible", "en": "low"},
    "sev_info": {"fr": "info", "en": "info"},
    "times_in": {"fr": "Heures affichées", "en": "Times shown in"},
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
