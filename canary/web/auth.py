"""Signing in, and who the request is: a console session or an API bearer token, with its role.

Every view states the role it needs with ``@requires(role)``; the decorator records it on the view so
a test can walk the URL map and check that no route was forgotten.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, session, url_for

from canary.web.audit import Actor, record
from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.roles import allows
from canary.web.security import safe_next
from canary.web.tokens import bearer_account
from canary.web.users import Account, check_user, end_session, open_session, session_account

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.before_app_request
def load_user() -> None:
    account: Account | None
    if request.blueprint == "api":
        # The API reads bearer tokens only, never the session cookie: a browser cannot be tricked into it.
        account = bearer_account(get_db(), request.headers.get("Authorization", ""))
    else:
        # The cookie only names a server-side session: logout and password changes end every copy of it.
        account = session_account(get_db(), session.get("sid")) if session.get("sid") else None
    g.account = account
    g.user = account.name if account else None


def current_actor() -> Actor:
    account: Account = g.account
    return Actor(account.name, account.role, "api" if request.blueprint == "api" else "console", request.remote_addr)


def requires(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse anonymous requests (sign-in page, or 401 on the API) and accounts below ``role`` (403)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(**kwargs: Any) -> Any:
            if g.account is None:
                if request.blueprint == "api":
                    return jsonify(error="a valid API token is required (Authorization: Bearer ...)"), 401
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if not allows(g.account.role, role):
                abort(403)
            return view(**kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return decorate


login_required = requires("viewer")


@bp.route("/login", methods=("GET", "POST"))
def login():
    error = None
    if request.method == "POST":
        name = request.form.get("username", "")
        result = check_user(get_db(), name, request.form.get("password", ""), source=request.remote_addr)
        if result.ok:
            end_session(get_db(), session.get("sid"))
            session.clear()
            session["sid"] = open_session(get_db(), name)
            account = session_account(get_db(), session["sid"])
            # Who signed in, from where: the audit log answers "who was in the console then".
            record(get_db(), Actor(name, account.role if account else "?", "console", request.remote_addr), "sign-in")
            # Only same-origin paths: an open redirect here would hand sessions to a phishing page.
            return redirect(safe_next(request.args.get("next"), url_for("console.index")))
        if result.retry_after:
            page = render_template("login.html", error=translate("slow_down"))
            return page, 429, {"Retry-After": str(result.retry_after)}
        error = translate("bad_login")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=("POST",))
@login_required
def logout():
    record(get_db(), current_actor(), "sign-out")
    end_session(get_db(), session.get("sid"))
    session.clear()
    flash(translate("signed_out"))
    return redirect(url_for("auth.login"))
