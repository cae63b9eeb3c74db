"""Signing in to the console. Everything that shows the canary->system map requires it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.security import safe_next
from canary.web.users import check_user, end_session, open_session, session_user

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.before_app_request
def load_user() -> None:
    # The cookie only names a server-side session: logout and password changes end every copy of it.
    g.user = session_user(get_db(), session.get("sid")) if session.get("sid") else None


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        if g.user is None:
            return redirect(url_for("auth.login", next=request.path))
        return view(**kwargs)

    return wrapped


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
            # Only same-origin paths: an open redirect here would hand sessions to a phishing page.
            return redirect(safe_next(request.args.get("next"), url_for("console.index")))
        if result.retry_after:
            page = render_template("login.html", error=translate("slow_down"))
            return page, 429, {"Retry-After": str(result.retry_after)}
        error = translate("bad_login")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=("POST",))
def logout():
    from canary.web.console import check_csrf

    check_csrf()
    end_session(get_db(), session.get("sid"))
    session.clear()
    return redirect(url_for("auth.login"))
