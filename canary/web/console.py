"""The console's pages: systems and recent events, alerts with their lifecycle."""

from __future__ import annotations

import secrets

from flask import Blueprint, abort, g, redirect, render_template, request, session, url_for

from canary.alert.correlate import correlate_all
from canary.alert.model import acknowledge, list_alerts, resolve
from canary.errors import CanaryError
from canary.store.events import list_events
from canary.store.registry import list_systems
from canary.timezones import display_zone
from canary.web.auth import login_required
from canary.web.db import get_db

bp = Blueprint("console", __name__)


def csrf_token() -> str:
    """A per-session token every state-changing form carries (SameSite cookies are the second lock)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


def check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
        abort(400)


@bp.app_context_processor
def _inject_csrf() -> dict:
    return {"csrf_token": csrf_token}


@bp.app_template_filter("local")
def _local_time(value: str | None) -> str:
    """A stored UTC time in the one zone people read (setting display.timezone), as in the alert texts."""
    if "zone" not in g:
        g.zone = display_zone(get_db())
    return str(g.zone.show(value))


@bp.app_context_processor
def _inject_health() -> dict:
    def health_problems() -> list[str]:
        """What stops pages from going out, on every page: a blocked delivery worker, invalid settings."""
        from canary.alert.outbox import blocked_reason
        from canary.settings import setting_problems

        db = get_db()
        reason = blocked_reason(db)
        return ([reason] if reason else []) + setting_problems(db)

    return {"health_problems": health_problems}


@bp.app_context_processor
def _inject_zone() -> dict:
    def zone_name() -> str:
        if "zone" not in g:
            g.zone = display_zone(get_db())
        return str(g.zone.name)

    return {"zone_name": zone_name}


@bp.route("/")
@login_required
def index():
    db = get_db()
    events = list_events(db, limit=20)[::-1]
    return render_template("index.html", systems=list_systems(db), events=events)


@bp.route("/alerts")
@login_required
def alerts():
    db = get_db()
    # Fold in events not yet correlated, so the page is current even if no worker runs.
    correlate_all(db)
    open_only = request.args.get("all") is None
    return render_template("alerts.html", alerts=list_alerts(db, open_only=open_only), open_only=open_only)


@bp.route("/alerts/<int:alert_id>/<any(ack, resolve):action>", methods=("POST",))
@login_required
def alert_action(alert_id: int, action: str):
    check_csrf()
    change = acknowledge if action == "ack" else resolve
    try:
        change(get_db(), alert_id, by=g.user, note=request.form.get("note") or None)
    except CanaryError as exc:
        session["flash"] = str(exc)
    return redirect(url_for("console.alerts"))
