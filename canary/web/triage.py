"""Console routes of the triage additions: the canary memo (more to come beside it)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from canary.errors import CanaryError, NotFound
from canary.web.auth import current_actor, requires
from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.memos import set_memo

bp = Blueprint("triage", __name__)


@bp.app_template_filter("word")
def word(value: object, prefix: str) -> str:
    """A stored code (a system kind, a delivery state) in the reader's language; the code itself if unknown."""
    key = f"{prefix}{value}"
    shown = translate(key)
    return str(value) if shown == key else shown


@bp.route("/canaries/<canary_id>/memo", methods=("POST",))
@requires("analyst")
def canary_memo(canary_id: str):
    try:
        set_memo(get_db(), current_actor(), canary_id, request.form.get("memo", ""))
        flash(translate("memo_saved"), "ok")
    except NotFound:
        abort(404)
    except CanaryError as exc:
        flash(str(exc), "error")
    back = request.form.get("back")
    return redirect(url_for("console.canaries", id=canary_id) if back == "list"
                    else url_for("console.canary", canary_id=canary_id))


@bp.route("/sweeps/<int:sweep_id>")
@requires("viewer")
def sweep(sweep_id: int):
    from canary.web.sweep_view import sweep_result

    try:
        result = sweep_result(get_db(), sweep_id, g.account.role)
    except NotFound:
        abort(404)
    return render_template("sweep.html", **result)
