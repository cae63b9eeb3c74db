"""The durable outbox: one row per (alert version x destination x kind), delivered at least once.

``kind`` is ``page`` (the alert itself) or ``acknowledged`` / ``resolved`` (the state-change notice sent
to the destinations that were paged). Rows of one alert to one destination go out in order: a row is
not claimed while an earlier one of the same alert and destination is still pending.

Rows are written in the correlation transaction, so an alert is never created without its pages.
A worker claims due rows with a lease (owner + expiry) and marks a row delivered only after the
destination accepted it; a worker killed mid-delivery leaves its lease to expire and another worker
sends the row again with the same idempotency key, for the receiver to drop the repeat.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.alert.destinations import Destination
from canary.alert.shapes import Alert, NoticePayload
from canary.store.events import utcnow
from canary.store.restores import restore_generation
from canary.store.tx import write_transaction


@dataclass
class Message:
    id: int
    alert_id: int
    version: int
    destination_id: int
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    kind: str = "page"


INSTANCE = "instance"


def instance_id(db: sqlite_utils.Database) -> str:
    """A random name for this registry, so idempotency keys of two registries never collide, plus its
    restore generation (``r1``...): a restored registry hands out the alert ids of the alerts lost
    with the restore again, and those must not carry keys already delivered."""
    db.execute("INSERT OR IGNORE INTO alert_state (name, value) VALUES (?, ?)", [INSTANCE, secrets.token_hex(4)])
    instance = str(db.execute("SELECT value FROM alert_state WHERE name = ?", [INSTANCE]).fetchone()[0])
    generation = restore_generation(db)
    return f"{instance}r{generation}" if generation else instance


def idempotency_key(instance: str, alert_id: int, version: int, destination_id: int, kind: str = "page") -> str:
    """Stable for one alert version to one destination, distinct across registries (``instance``).

    A state-change notice adds its kind: ``...-d<destination>-acknowledged`` / ``-resolved``.
    """
    key = f"canary-{instance}-a{alert_id}-v{version}-d{destination_id}"
    return key if kind == "page" else f"{key}-{kind}"


def enqueue(db: sqlite_utils.Database, instance: str, view: Alert,
            destinations: list[Destination]) -> int:
    """Queue this alert version for every destination whose routing accepts it (inside the caller's transaction)."""
    queued = 0
    now = time.time()
    for destination in destinations:
        if not destination.accepts(view["severity"], view["systems"]):
            continue
        key = idempotency_key(instance, view["id"], view["version"], destination.id)
        payload = {**view, "idempotency_key": key}
        cursor = db.execute(
            "INSERT INTO alert_outbox (alert_id, version, destination_id, idempotency_key, payload, "
            "next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [view["id"], view["version"], destination.id, key, json.dumps(payload, ensure_ascii=False),
             now, utcnow()],
        )
        queued += cursor.rowcount
    return queued


def paged_destination_ids(db: sqlite_utils.Database, alert_id: int) -> set[int]:
    """Destinations paged for this alert: recorded in ``alerts.paged`` and, for alerts from before that
    record, those with a page in the outbox (delivered or still on its way)."""
    row = db.execute("SELECT paged FROM alerts WHERE id = ?", [alert_id]).fetchone()
    recorded = json.loads(row[0] or "{}").get("destinations", []) if row else []
    return set(recorded) | {r[0] for r in db.execute(
        "SELECT DISTINCT destination_id FROM alert_outbox WHERE alert_id = ? AND kind = 'page'", [alert_id])}


def enqueue_notice(db: sqlite_utils.Database, instance: str, payload: NoticePayload, kind: str,
                   destinations: list[Destination], key_kind: str | None = None) -> int:
    """Queue a notice (``kind``: acknowledged/resolved, or updated: canary.alert.followup) for ``destinations``.

    Inside the caller's transaction, with the state change itself. ``key_kind``: what the idempotency key
    ends with, when one alert version may have several notices of ``kind`` (follow-ups).
    """
    queued = 0
    now = time.time()
    for destination in destinations:
        key = idempotency_key(instance, payload["id"], payload["version"], destination.id, key_kind or kind)
        cursor = db.execute(
            "INSERT INTO alert_outbox (alert_id, version, destination_id, idempotency_key, payload, "
            "next_attempt_at, created_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [payload["id"], payload["version"], destination.id, key,
             json.dumps({**payload, "idempotency_key": key}, ensure_ascii=False), now, utcnow(), kind],
        )
        queued += cursor.rowcount
    return queued


def queued_notices(db: sqlite_utils.Database, alert_id: int, kind: str) -> int:
    return int(db.execute("SELECT COUNT(*) FROM alert_outbox WHERE alert_id = ? AND kind = ?",
                          [alert_id, kind]).fetchone()[0])


def claim(db: sqlite_utils.Database, owner: str, *, limit: int, lease_seconds: float) -> list[Message]:
    """Take up to ``limit`` due rows whose destination is not backing off, leased to ``owner``."""
    now = time.time()
    with write_transaction(db):
        rows = db.execute(
            """SELECT o.id FROM alert_outbox o JOIN alert_destinations d ON d.id = o.destination_id
               WHERE o.state = 'pending' AND o.next_attempt_at <= ?
                 AND (o.lease_until IS NULL OR o.lease_until < ?)
                 AND (d.retry_at IS NULL OR d.retry_at <= ?)
                 AND NOT EXISTS (SELECT 1 FROM alert_outbox e WHERE e.alert_id = o.alert_id
                                 AND e.destination_id = o.destination_id AND e.state = 'pending' AND e.id < o.id)
               ORDER BY o.next_attempt_at, o.id LIMIT ?""",
            [now, now, now, limit],
        ).fetchall()
        ids = [row[0] for row in rows]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        db.execute(
            f"UPDATE alert_outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id IN ({marks})",
            [owner, now + lease_seconds, *ids],
        )
        claimed = db.execute(
            f"""SELECT id, alert_id, version, destination_id, idempotency_key, payload, attempts, kind
                FROM alert_outbox WHERE id IN ({marks}) ORDER BY id""",
            ids,
        ).fetchall()
    return [Message(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in claimed]


def reclaim_dead_leases(db: sqlite_utils.Database, host: str, own_pid: int) -> int:
    """Release the leases of workers of this host whose process is gone (kill -9, crash, reboot).

    Without this, what a dead worker had claimed waits out its lease (``alert.lease_seconds``). A
    worker of another host is never judged: only its lease expiry frees its rows. Owners are
    ``host:pid:random`` (see DeliveryWorker).
    """
    now = time.time()
    owners = [row[0] for row in db.execute(
        "SELECT DISTINCT lease_owner FROM alert_outbox WHERE state = 'pending' AND lease_until >= ? "
        "AND lease_owner LIKE ?", [now, f"{host}:%"])]
    dead = [owner for owner in owners if _dead_local_owner(owner, host, own_pid)]
    if not dead:
        return 0
    marks = ", ".join("?" * len(dead))
    with write_transaction(db):
        return db.execute(
            f"UPDATE alert_outbox SET lease_owner = NULL, lease_until = NULL "
            f"WHERE state = 'pending' AND lease_owner IN ({marks})", dead).rowcount


def _dead_local_owner(owner: str, host: str, own_pid: int) -> bool:
    rest = owner[len(host) + 1:]
    pid_text = rest.split(":", 1)[0]
    if not owner.startswith(host + ":") or not pid_text.isdigit() or int(pid_text) == own_pid:
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def mark_delivered(db: sqlite_utils.Database, message: Message) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE alert_outbox SET state = 'delivered', delivered_at = ?, lease_owner = NULL, lease_until = NULL, "
            "last_error = NULL WHERE id = ?",
            [utcnow(), message.id],
        )
        db.execute(
            "UPDATE alert_destinations SET failures = 0, failing_since = NULL, retry_at = NULL, warned_for = NULL, "
            "last_error = NULL, last_success_at = ? WHERE id = ?",
            [utcnow(), message.destination_id],
        )


def backoff(failures: int, base: float, maximum: float) -> float:
    """Exponential backoff with a little jitter so workers do not retry in lockstep."""
    delay = min(maximum, base * 2.0 ** max(0, failures - 1))
    return delay * random.uniform(0.85, 1.0)


def mark_failed(db: sqlite_utils.Database, message: Message, error: str, *, base: float, maximum: float) -> None:
    """Put the row back for later and make its destination back off; nothing is ever dropped.

    The backoff doubles per round of attempts, not per message: the other messages of a batch that
    failed together join the destination's current delay instead of lengthening it.
    """
    now = time.time()
    error = error[:500]
    with write_transaction(db):
        row = db.execute("SELECT failures, retry_at FROM alert_destinations WHERE id = ?",
                         [message.destination_id]).fetchone()
        failures, retry_at = (row[0], row[1]) if row else (0, None)
        if retry_at is None or retry_at <= now:
            failures += 1
            retry_at = now + backoff(failures, base, maximum)
        db.execute(
            "UPDATE alert_outbox SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ? "
            "WHERE id = ? AND state = 'pending'",
            [retry_at, error, message.id],
        )
        db.execute(
            "UPDATE alert_destinations SET failures = ?, failing_since = COALESCE(failing_since, ?), retry_at = ?, "
            "last_error = ? WHERE id = ?",
            [failures, now, retry_at, error, message.destination_id],
        )


BLOCKED_STATE = "delivery_blocked"


def mark_blocked(db: sqlite_utils.Database, reason: str) -> bool:
    """The worker cannot run at all (e.g. a bad setting): every destination shows it as a failure.

    Counted once per distinct reason, so ``notify list`` and the failing-destination warning see it;
    returns whether this reason is new.
    """
    now = time.time()
    with write_transaction(db):
        row = db.execute("SELECT value FROM alert_state WHERE name = ?", [BLOCKED_STATE]).fetchone()
        if row is not None and json.loads(row[0])["reason"] == reason:
            return False
        db.execute("INSERT OR REPLACE INTO alert_state (name, value) VALUES (?, ?)",
                   [BLOCKED_STATE, json.dumps({"reason": reason, "since": now})])
        db.execute("UPDATE alert_destinations SET failures = failures + 1, "
                   "failing_since = COALESCE(failing_since, ?), last_error = ?", [now, reason[:500]])
    return True


def mark_unblocked(db: sqlite_utils.Database) -> None:
    """The worker runs again: clear what ``mark_blocked`` wrote (real delivery failures stay)."""
    row = db.execute("SELECT value FROM alert_state WHERE name = ?", [BLOCKED_STATE]).fetchone()
    if row is None:
        return
    reason = json.loads(row[0])["reason"]
    with write_transaction(db):
        db.execute("DELETE FROM alert_state WHERE name = ?", [BLOCKED_STATE])
        db.execute("UPDATE alert_destinations SET failures = 0, failing_since = NULL, warned_for = NULL, "
                   "last_error = NULL WHERE last_error = ?", [reason[:500]])


def blocked_reason(db: sqlite_utils.Database) -> str | None:
    """Why the delivery worker last could not run, while it still cannot."""
    row = db.execute("SELECT value FROM alert_state WHERE name = ?", [BLOCKED_STATE]).fetchone()
    return None if row is None else str(json.loads(row[0])["reason"])


def postpone(db: sqlite_utils.Database, message: Message, until: float) -> None:
    """Give back a claimed row untouched (rate limit): not an attempt, not a failure."""
    with write_transaction(db):
        db.execute(
            "UPDATE alert_outbox SET next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, "
            "attempts = MAX(0, attempts - 1) WHERE id = ? AND state = 'pending'",
            [until, message.id],
        )


def failing_destinations(db: sqlite_utils.Database, older_than: float) -> list[dict[str, Any]]:
    """Destinations failing since before ``older_than`` (epoch) not yet warned about for this outage."""
    return list(db.query(
        "SELECT id, url, kind, failing_since, last_error, failures FROM alert_destinations "
        "WHERE failing_since IS NOT NULL AND failing_since <= ? "
        "AND (warned_for IS NULL OR warned_for != failing_since)",
        [older_than],
    ))


def mark_warned(db: sqlite_utils.Database, destination_id: int, failing_since: float) -> None:
    db.execute("UPDATE alert_destinations SET warned_for = ? WHERE id = ?", [failing_since, destination_id])


def prune_delivered(db: sqlite_utils.Database, keep_days: int) -> int:
    """Forget messages delivered more than ``keep_days`` ago; pending ones are never touched."""
    cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    cursor = db.execute("DELETE FROM alert_outbox WHERE state = 'delivered' AND delivered_at < ?", [cutoff])
    return cursor.rowcount
