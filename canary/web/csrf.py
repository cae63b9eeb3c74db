"""Cross-site request forgery: every state-changing form carries a per-session token.

SameSite=Strict cookies are the second lock. The REST API takes bearer tokens only (never the session
cookie), so a browser cannot be made to call it on someone's behalf and it needs no form token.
"""

from __future__ import annotations

import secrets

from flask import Flask, abort, request, session

# Signing in has no session yet to bind a token to; the throttled password check is its guard.
EXEMPT_ENDPOINTS = frozenset({"auth.login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        abort(400)


def _protect() -> None:
    # The API (matched or not) never reads the session cookie, so there is nothing to forge there.
    if request.method in SAFE_METHODS or request.endpoint in EXEMPT_ENDPOINTS or request.path.startswith("/api/"):
        return
    check_csrf()


def init_app(app: Flask) -> None:
    app.before_request(_protect)
    app.jinja_env.globals["csrf_token"] = csrf_token
