"""What a tripwire listener saw, as plain data that can wait in the journal and be stored later.

Each listener builds a ``Sighting`` (kind + JSON-able payload + unique id) and hands it to the writer.
Storing it (token lookup, noise, ignore rules, event) is the same code whether it runs at once in the
writer's batch or later from the journal (canary.store.journal); a replayed sighting carries the dedup
key ``journal:<id>`` (``:<canary>`` for mail), so it can never be stored twice.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from canary.normalize import email_key
from canary.store.events import record_event
from canary.store.journal import Entry
from canary.store.registry import find_by_marker
from canary.watch.tripwire.hits import Hit, canary_for_tokens, record_hit
from canary.watch.tripwire.ignore import matching_rule
from canary.watch.tripwire.messages import header_recipients, is_probe, keep_message
from canary.watch.tripwire.noise import NoisePolicy, noise_reason

log = logging.getLogger("canary.tripwire")

KINDS = ("http", "webhook", "dns", "mail")


@dataclass
class Sighting:
    """One acknowledged sighting; ``store(db)`` runs in the writer (its ``journal_entry`` if refused)."""

    kind: str
    payload: dict[str, Any]
    store_with: SightingStore
    id: str = field(default_factory=lambda: secrets.token_hex(10))

    def journal_entry(self) -> Entry:
        return {"id": self.id, "kind": self.kind, "payload": self.payload}

    def __call__(self, db: sqlite_utils.Database) -> Any:
        return self.store_with.store(db, self.journal_entry())


@dataclass(frozen=True)
class SightingStore:
    """Turns sightings into events; built once per ``serve`` from the settings."""

    policy: NoisePolicy
    mail_max_bytes: int = 1_048_576

    def sighting(self, kind: str, payload: dict[str, Any]) -> Sighting:
        if kind not in KINDS:
            raise ValueError(f"unknown sighting kind {kind!r}")
        return Sighting(kind, payload, self)

    def replay(self, db: sqlite_utils.Database, entry: Entry) -> Any:
        return self.store(db, entry, replayed=True)

    def store(self, db: sqlite_utils.Database, entry: Entry, *, replayed: bool = False) -> Any:
        kind, payload = entry["kind"], entry["payload"]
        dedup = f"journal:{entry['id']}" if replayed else None
        if kind == "mail":
            return self._mail(db, payload, dedup)
        hit = hit_from(payload["hit"])
        if dedup and hit.dedup_key is None:
            hit.dedup_key = dedup
        canary_id: str | None = None
        if kind == "http":
            canary_id = canary_for_tokens(db, payload["candidates"])
        elif kind == "webhook":
            number = payload.get("number")
            canary_id = find_by_marker(db, "phone", number) if number else None
            if canary_id is None:
                log.info("webhook %s for a number that is no canary", hit.channel)
        elif kind == "dns":
            for suffix in payload["suffixes"]:  # the exact hostname marker first, then any token label
                canary_id = find_by_marker(db, "hostname", suffix)
                if canary_id:
                    break
            canary_id = canary_id or canary_for_tokens(db, payload["candidates"])
        else:
            raise ValueError(f"unknown sighting kind {kind!r}")
        if canary_id is None:
            _same_work_as_a_hit(db, hit, self.policy)
            return None
        return record_hit(db, hit, canary_id, self.policy)

    def _mail(self, db: sqlite_utils.Database, payload: dict[str, Any], dedup: str | None) -> int:
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
                             rcpt_to=rcpt_to, digest=payload["digest"], max_bytes=self.mail_max_bytes)
            return 0
        stored = keep_message(db, channel="smtp", canary_ids=list(canaries), raw=raw, peer=peer,
                              mail_from=payload["mail_from"], rcpt_to=rcpt_to, digest=payload["digest"],
                              max_bytes=self.mail_max_bytes)
        for canary_id, address in canaries.items():
            details = {**payload["digest"], "mail_from": payload["mail_from"], "recipient": address,
                       "helo": payload["helo"], "peer": peer, "size": len(raw), "message": stored,
                       "tls": payload["tls"], "forwarded_by": forwarded_by if address not in rcpt_to else None}
            hit = Hit(channel="smtp", source=peer, source_ip=peer, time=payload["received"],
                      dedup_key=f"{dedup}:{canary_id}" if dedup else None,
                      details={k: v for k, v in details.items() if v is not None})
            record_hit(db, hit, canary_id, self.policy)
        return len(canaries)


def _same_work_as_a_hit(db: sqlite_utils.Database, hit: Hit, policy: NoisePolicy) -> None:
    """What storing a hit costs, for a token that names no canary, leaving nothing behind.

    The answer waits for the writer's commit; when a made-up token skipped the lookups and the insert,
    a real one answered measurably later (+0.17 ms median on loopback, ``bench/callbacks.py --timing``)
    and a visitor could tell real tokens from made-up ones by timing alone. So the same reads are made
    and the event is written inside a savepoint that is rolled back: the same work, nothing stored
    (measured after: the medians differ by less than the noise between two halves of one series).
    """
    db.execute("SELECT system FROM canaries WHERE id = ?", [""]).fetchone()
    noise = noise_reason(db, policy, channel=hit.channel, canary_id="", source_ip=hit.source_ip,
                         user_agent=hit.user_agent, hint=hit.noise_hint, time=hit.time)
    rule = matching_rule(db, system=None, source_ip=hit.source_ip, user_agent=hit.user_agent)
    details = {**hit.details, "group": f"tripwire:{hit.channel}:-", "noise": noise, "ignored_by": rule}
    db.execute("SAVEPOINT same_work")
    record_event(db, channel=hit.channel, source=hit.source, severity="high", details=details, time=hit.time)
    db.execute("ROLLBACK TO same_work")
    db.execute("RELEASE same_work")


def hit_payload(hit: Hit) -> dict[str, Any]:
    return dataclasses.asdict(hit)


def hit_from(data: dict[str, Any]) -> Hit:
    return Hit(**data)


def mail_payload(raw: bytes, *, peer: str, mail_from: str | None, rcpt_to: list[str], helo: str | None,
                 tls: dict[str, str] | None, received: str, digest: dict[str, Any],
                 forwarded_by: str | None = None) -> dict[str, Any]:
    return {"raw": base64.b64encode(raw).decode("ascii"), "peer": peer, "mail_from": mail_from,
            "rcpt_to": rcpt_to, "helo": helo, "tls": tls, "received": received, "digest": digest,
            "forwarded_by": forwarded_by}
