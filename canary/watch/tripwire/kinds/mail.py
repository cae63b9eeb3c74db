"""``mail``: a message to canary addresses, whole (the SMTP receiver); one event per canary it names."""

from __future__ import annotations

import base64
import logging
from typing import Any

import sqlite_utils

from canary.normalize import email_key
from canary.store.registry import find_by_marker
from canary.watch.tripwire.hits import Hit, record_hit
from canary.watch.tripwire.kinds.base import SightingKind, StoreSettings
from canary.watch.tripwire.messages import header_recipients, is_probe, keep_message

log = logging.getLogger("canary.tripwire")


def store(db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None, settings: StoreSettings) -> int:
    raw = base64.b64decode(payload["raw"])
    peer, rcpt_to = payload["peer"], list(payload["rcpt_to"])
    canaries: dict[str, str] = {}
    # Our own probe of a consumer mailbox ('contacts confirm') names no canary, even once confirmed.
    for address in ([] if is_probe(db, payload["digest"].get("message_id")) else rcpt_to):
        canary_id = find_by_marker(db, "email", email_key(address))
        if canary_id and canary_id not in canaries:
            canaries[canary_id] = address
    forwarded_by = payload.get("forwarded_by")
    if not canaries and forwarded_by and not is_probe(db, payload["digest"].get("message_id")):
        # A consumer mailbox forwarded it: the envelope names our relay address, the headers
        # still name the canary's mailbox.
        for address in header_recipients(raw):
            canary_id = find_by_marker(db, "email", address)
            if canary_id and canary_id not in canaries:
                canaries[canary_id] = address
    if not canaries:
        log.info("mail from %s to %d address(es) that are no canary", peer, len(rcpt_to))
        if forwarded_by:
            # Kept for the operator: providers confirm a forward by mailing its target.
            keep_message(db, channel="smtp", canary_ids=[], raw=raw, peer=peer, mail_from=payload["mail_from"],
                         rcpt_to=rcpt_to, digest=payload["digest"], max_bytes=settings.mail_max_bytes)
        return 0
    stored = keep_message(db, channel="smtp", canary_ids=list(canaries), raw=raw, peer=peer,
                          mail_from=payload["mail_from"], rcpt_to=rcpt_to, digest=payload["digest"],
                          max_bytes=settings.mail_max_bytes)
    for canary_id, address in canaries.items():
        details = {**payload["digest"], "mail_from": payload["mail_from"], "recipient": address,
                   "helo": payload["helo"], "peer": peer, "size": len(raw), "message": stored,
                   "tls": payload["tls"], "forwarded_by": forwarded_by if address not in rcpt_to else None}
        hit = Hit(channel="smtp", source=peer, source_ip=peer, time=payload["received"],
                  dedup_key=f"{dedup}:{canary_id}" if dedup else None,
                  details={k: v for k, v in details.items() if v is not None})
        record_hit(db, hit, canary_id, settings.policy)
    return len(canaries)


def mail_payload(raw: bytes, *, peer: str, mail_from: str | None, rcpt_to: list[str], helo: str | None,
                 tls: dict[str, str] | None, received: str, digest: dict[str, Any],
                 forwarded_by: str | None = None) -> dict[str, Any]:
    """What the SMTP receiver hands the writer: the whole message (base64) and its envelope."""
    return {"raw": base64.b64encode(raw).decode("ascii"), "peer": peer, "mail_from": mail_from,
            "rcpt_to": rcpt_to, "helo": helo, "tls": tls, "received": received, "digest": digest,
            "forwarded_by": forwarded_by}


KIND = SightingKind(name="mail", listener="canary.watch.tripwire.smtp",
                    payload_keys=("raw", "peer", "mail_from", "rcpt_to", "helo", "tls", "received", "digest",
                                  "forwarded_by"),
                    store=store)
