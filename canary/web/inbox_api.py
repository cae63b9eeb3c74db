"""``GET /api/v1/inbox``: the triage inbox as ``canary inbox --json`` prints it, cut to the token's role."""

from __future__ import annotations

from flask import g, jsonify, request

from canary.alert.inbox import inbox
from canary.errors import CanaryError
from canary.store.filters import inbox_filter
from canary.web import cuts, queries
from canary.web.api import route
from canary.web.db import get_db


def offset_arg(raw: str | None) -> int:
    if raw in (None, ""):
        return 0
    if not raw.isdigit():
        raise CanaryError(f"offset must be a number ≥ 0, got {raw!r}")
    return int(raw)


@route("/inbox", "GET", "viewer", "The triage inbox (canary inbox --json): open alerts first, then acknowledged, "
       "then resolved; filtered by state, system, channel, least severity, since and a search (q).",
       query=("state", "system", "channel", "severity", "since", "q", "limit", "offset"))
def inbox_list():
    args = request.args
    checked = inbox_filter(get_db(), state=args.get("state"), system=args.get("system"),
                           channel=args.get("channel"), severity=args.get("severity"), since=args.get("since"),
                           search=args.get("q"))
    page = inbox(get_db(), checked, limit=queries.page_size(args.get("limit")), offset=offset_arg(args.get("offset")))
    return jsonify({**page, "items": [cuts.alert(item, g.account.role) for item in page["items"]]})
