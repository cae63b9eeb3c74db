"""The console app factory: one blueprint per concern, the REST API beside the pages."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from canary.settings import ensure_secret, get_int, get_list
from canary.store import open_db
from canary.web.proxies import TrustedProxies, parse_networks


def _metrics_authorized(authorization: str) -> bool:
    from canary.web.db import get_db
    from canary.web.tokens import bearer_account

    return bearer_account(get_db(), authorization) is not None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the console app. ``config`` may set ``DATABASE`` (default: $CANARY_DB or canary.db)."""
    app = Flask(__name__)
    app.config.update(DATABASE=os.environ.get("CANARY_DB", "canary.db"))
    app.config.update(config or {})
    # Migrate once at start-up and take (or create) the session key from the registry, so sessions
    # survive restarts and no secret sits in a config file.
    bootstrap = open_db(app.config["DATABASE"])
    try:
        if not app.config.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = ensure_secret(bootstrap, "web.secret_key")
        upload_mb = get_int(bootstrap, "web.upload_max_mb")
        proxies = parse_networks(get_list(bootstrap, "web.trusted_proxies"), "web.trusted_proxies")
    finally:
        bootstrap.close()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    if not app.config.get("MAX_CONTENT_LENGTH"):
        # Werkzeug refuses a larger request body with 413 before reading it (uploads to scan).
        app.config["MAX_CONTENT_LENGTH"] = upload_mb * 1024 * 1024

    from canary.web import api, auth, console, csrf, db, errors, i18n, inbox_api, inbox_view, security, triage

    _ = inbox_api  # its routes join the API's blueprint as it is imported, before the blueprint is registered

    db.init_app(app)
    security.init_app(app)
    csrf.init_app(app)
    i18n.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(inbox_view.bp)
    app.register_blueprint(triage.bp)
    app.register_blueprint(api.bp)
    # /healthz, /readyz, /metrics: no login, no data (canary.ops.health).
    from canary.ops import health

    app.register_blueprint(health.bp)
    # Last: these error handlers answer for the whole app (styled pages; JSON under /api/).
    errors.init_app(app)
    # /metrics counters move with each sighting: an API token (any role) reads them, nobody else.
    app.config["METRICS_AUTHORIZED"] = _metrics_authorized
    # Client address and TLS from the reverse proxy's headers, only when the proxy is a trusted one.
    app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)  # type: ignore[method-assign]
    return app
