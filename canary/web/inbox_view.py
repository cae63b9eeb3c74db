"""The console's triage inbox: open alerts first, searched with the API's filters, acknowledged in bulk,
refreshed in place (a small script under the page's CSP nonce) without losing what is ticked."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from canary.alert.inbox import inbox
from canary.errors import CanaryError
from canary.settings import get_int
from canary.store.events import CHANNELS, SEVERITIES, utcnow
from canary.store.filters import ALERT_STATES, InboxFilter, inbox_filter
from canary.timezones import display_zone
from canary.web import actions, cuts, queries
from canary.web.auth import current_actor, requires
from canary.web.db import get_db
from canary.web.i18n import translate
from canary.web.inbox_api import offset_arg

bp = Blueprint("inbox", __name__)
FILTER_KEYS = ("state", "system", "channel", "severity", "since", "q")


def _read() -> tuple[dict[str, Any], str | None]:
    """The page's alerts for the query string's filters, and the refusal of a bad filter (then no alert)."""
    args = request.args
    try:
        checked = inbox_filter(get_db(), state=args.get("state"), system=args.get("system"),
                               channel=args.get("channel"), severity=args.get("severity"), since=args.get("since"),
                               search=args.get("q"))
        page = inbox(get_db(), checked, limit=queries.page_size(args.get("limit")),
                     offset=offset_arg(args.get("offset")))
    except CanaryError as exc:
        return {"items": [], "total": 0, "next_offset": None, "filter": InboxFilter()}, str(exc)
    page["items"] = [cuts.alert(item, g.account.role) for item in page["items"]]
    return {**page, "filter": checked}, None


@bp.route("/inbox")
@requires("viewer")
def page():
    found, error = _read()
    systems = [row["name"] for row in get_db().query("SELECT name FROM systems ORDER BY name")]
    return render_template("inbox.html", **found, error=error, systems=systems, channels=CHANNELS,
                           severities=SEVERITIES, states=ALERT_STATES, args=request.args,
                           refresh=get_int(get_db(), "web.inbox_refresh_seconds"), read_at=utcnow(),
                           can_ack=g.account.role in ("analyst", "admin")), (400 if error else 200)


@bp.route("/inbox/rows")
@requires("viewer")
def rows():
    """The table's rows alone, for the page's refresh; the match count in a header."""
    found, error = _read()
    body = render_template("inbox_rows.html", **found, can_ack=g.account.role in ("analyst", "admin"))
    # When it was read, in the console's zone (the browser's own clock and zone may differ).
    at = display_zone(get_db()).show(utcnow())
    return body, (400 if error else 200), {"X-Inbox-Total": str(found["total"]), "X-Inbox-At": at,
                                           "Cache-Control": "no-store"}


@bp.route("/inbox/ack", methods=("POST",))
@requires("analyst")
def acknowledge():
    """Acknowledge every ticked alert with one note; each refusal (already acknowledged, unknown) is said."""
    form = request.form
    kept: dict[str, Any] = {k: form[k] for k in FILTER_KEYS if form.get(k)}
    back = redirect(url_for("inbox.page", **kept))
    ids = [value for value in form.getlist("ids") if value.isdigit()]
    if not ids:
        flash(translate("inbox_none_ticked"), "error")
        return back
    note = form.get("note", "").strip() or None
    done = 0
    for alert_id in ids:
        try:
            actions.change_alert(get_db(), current_actor(), int(alert_id), "ack", note)
            done += 1
        except CanaryError as exc:
            flash(f"#{alert_id}: {exc}", "error")
    flash(translate("inbox_acked").format(count=done), "ok" if done else "error")
    return back
