"""Signing in to the console. Everything that shows the canary->system map requires it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.users import check_user

bp = Blueprint("auth", __name__, url_prefix="/auth")


@bp.before_app_request
def load_user() -> None:
    g.user = session.get("user")


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
        if check_user(get_db(), name, request.form.get("password", ""), source=request.remote_addr):
            session.clear()
            session["user"] = name
            target = request.args.get("next", "")
            # Only local paths: an open redirect here would hand sessions to a phishing page.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("console.index")
            return redirect(target)
        error = translate("bad_login")
    return render_template("login.html", error=error), (401 if error else 200)


@bp.route("/logout", methods=("POST",))
def logout():
    from canary.web.console import check_csrf

    check_csrf()
    session.clear()
    return redirect(url_for("auth.login"))
