"""Follow-up notices: an incident updated by new evidence tells the destinations it paged.

An event joining an open incident with a new channel (the thief's DNS lookup after the link was opened)
or new canaries, without escalating it (same severity, no new system), is not a new page: the
destinations already paged get one low-urgency notice through the outbox, like acknowledge/resolve
notices, saying what was added. An escalation pages again instead (canary.alert.correlate).
"""

from __future__ import annotations

import sqlite_utils

from canary.alert import outbox
from canary.alert.destinations import Destination
from canary.alert.shapes import Alert, NoticePayload, NoticeText
from canary.alert.text import SEVERITY_WORDS, _short, human_time
from canary.store.events import utcnow
from canary.timezones import Zone

KIND = "updated"
SHOWN_CANARIES = 10  # canaries named in the text; ``notice.added.canaries`` lists them all


def update_text(view: Alert, channels: list[str], canaries: list[str], zone: Zone) -> NoticeText:
    """Title and text {fr, en}: what the incident gained, as it is now; plainly not a new page."""
    systems = ", ".join(view["systems"]) or "?"
    short_fr, short_en = _short(view)
    sev_fr, sev_en = SEVERITY_WORDS.get(view["severity"], (view["severity"], view["severity"]))
    fr = [f"Alerte #{view['id']} mise à jour le {human_time(view['last_seen'], zone)} ({zone.label_fr}) :"]
    en = [f"Alert #{view['id']} updated at {human_time(view['last_seen'], zone)} ({zone.label_en}):"]
    if channels:
        fr.append(f"- nouveau canal : {', '.join(channels)}" if len(channels) == 1
                  else f"- nouveaux canaux : {', '.join(channels)}")
        en.append(f"- new channel: {', '.join(channels)}" if len(channels) == 1
                  else f"- new channels: {', '.join(channels)}")
    if canaries:
        named = ", ".join(canaries[:SHOWN_CANARIES]) + (" …" if len(canaries) > SHOWN_CANARIES else "")
        fr.append(f"- {len(canaries)} nouveau(x) canari(s) : {named}")
        en.append(f"- {len(canaries)} new canar{'y' if len(canaries) == 1 else 'ies'}: {named}")
    fr.append(f"Alerte : {short_fr} — {systems} ({sev_fr}), {view['count']} événement(s), "
              f"canaux {', '.join(view['channels'])}.")
    en.append(f"Alert: {short_en} — {systems} ({sev_en}), {view['count']} event(s), "
              f"channels {', '.join(view['channels'])}.")
    fr.append("Nouveaux éléments seulement, pas une nouvelle alerte.")
    en.append("New evidence only, not a new page.")
    return {"title": f"[MISE À JOUR/UPDATE] Canary #{view['id']} : {short_fr} / {short_en} — {systems}",
            "text": {"fr": "\n".join(fr), "en": "\n".join(en)}}


def queue_update_notices(db: sqlite_utils.Database, instance: str, view: Alert, destinations: list[Destination],
                         channels: list[str], canaries: list[str], zone: Zone) -> int:
    """Queue the follow-up for every destination paged for this alert that takes notices (inside the
    caller's transaction). One per batch of events: its key carries the alert's event count."""
    paged = outbox.paged_destination_ids(db, view["id"])
    targets = [d for d in destinations if d.id in paged and d.takes_notices]
    if not targets or not (channels or canaries):
        return 0
    payload: NoticePayload = {**view, **update_text(view, channels, canaries, zone),
                              "notice": {"type": "update", "from": view["state"], "to": view["state"], "by": None,
                                         "at": utcnow(), "note": None,
                                         "added": {"channels": channels, "canaries": canaries}}}
    return outbox.enqueue_notice(db, instance, payload, KIND, targets, key_kind=f"{KIND}-{view['count']}")
