"""State-change notices: when an alert is acknowledged or resolved, the destinations it paged are told.

The notice goes through the durable outbox like a page (idempotency key, retries, leases), after the
pages of the same alert to the same destination. It never pages again: it is the alert object with a
``notice`` field and a short text, and senders give it the lowest urgency their protocol has.
Incident services (PagerDuty, Opsgenie...) get none: apprise could only open a new incident there.
"""

from __future__ import annotations

from typing import Literal

import sqlite_utils

from canary.alert import outbox
from canary.alert.destinations import list_destinations
from canary.alert.shapes import Alert, Notice, NoticePayload
from canary.alert.text import render_notice
from canary.timezones import Zone, display_zone

# The columns naming who changed an alert to each state, and when (the model writes them, notices quote them).
WHO_WHEN: dict[str, tuple[Literal["acked_by", "resolved_by"], Literal["acked_at", "resolved_at"]]] = {
    "acknowledged": ("acked_by", "acked_at"), "resolved": ("resolved_by", "resolved_at")}


def notice_payload(view: Alert, kind: str, previous_state: str, zone: Zone | None = None) -> NoticePayload:
    """The alert object as it is now, plus ``notice``, with the notice's title and text."""
    who, when = WHO_WHEN[kind]
    notice: Notice = {"type": "state-change", "from": previous_state, "to": kind, "by": view[who], "at": view[when],
                      "note": view["note"]}
    text = render_notice(view, kind, view[who], view[when], zone) if zone else render_notice(view, kind, view[who],
                                                                                              view[when])
    return {**view, **text, "notice": notice}


def queue_notices(db: sqlite_utils.Database, view: Alert, kind: str, previous_state: str) -> int:
    """Queue the notice for every destination paged for this alert (inside the caller's transaction)."""
    paged = outbox.paged_destination_ids(db, view["id"])
    destinations = [d for d in list_destinations(db) if d.id in paged and d.takes_notices]
    if not destinations:
        return 0
    payload = notice_payload(view, kind, previous_state, display_zone(db))
    return outbox.enqueue_notice(db, outbox.instance_id(db), payload, kind, destinations)
