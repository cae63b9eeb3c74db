"""The registry side of contact points: proposed consumer mailboxes and what the pools could not give.

A mailbox at a consumer provider may belong to a real person until the operator has opened it, so
a proposal lives only in ``contact_points`` (state ``pending``): not on the canary's record, not a
marker, never planted or exported. ``confirm`` moves it onto the record and makes it an ``email``
marker in one transaction, so sweeps and the mail watchers find it from then on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.crowding import ContactBudget
from canary.generate.pools import Pools
from canary.normalize import email_key
from canary.store.registry import get_system, now_iso
from canary.store.shapes import ContactPoint
from canary.store.tx import write_transaction

CONTACT_KEYS = ("canary_id", "kind", "value", "provider", "state")


def contact_taken(db: sqlite_utils.Database, kind: str, value: str) -> bool:
    """Whether a proposal already reserves this (normalised) value."""
    return db.execute("SELECT 1 FROM contact_points WHERE kind = ? AND value = ?", [kind, value]).fetchone() is not None


def add_contact_points(db: sqlite_utils.Database, points: Iterable[tuple[str, ContactPoint]]) -> None:
    """Store ``(canary_id, point)`` pairs from generated records (inside the seeding transaction)."""
    created = now_iso()
    rows = []
    for canary_id, point in points:
        value = point["value"]
        if value is not None and point["kind"] == "email":
            value = email_key(value)
        rows.append([canary_id, point["kind"], value, point["provider"], point["state"], created])
    db.conn.executemany("INSERT INTO contact_points (canary_id, kind, value, provider, state, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)", rows)  # one call per seeding batch


def list_contact_points(db: sqlite_utils.Database, *, pending_only: bool = False,
                        system: str | None = None) -> list[dict[str, Any]]:
    where, params = ["cn.status = 'active'"], []
    if pending_only:
        where.append("cp.state = 'pending'")
    if system is not None:
        get_system(db, system)
        where.append("cn.system = ?")
        params.append(system)
    sql = ("SELECT cp.canary_id, cp.kind, cp.value, cp.provider, cp.state FROM contact_points cp "
           "JOIN canaries cn ON cn.id = cp.canary_id WHERE " + " AND ".join(where) + " ORDER BY cp.id")
    return [dict(zip(CONTACT_KEYS, row, strict=True)) for row in db.execute(sql, params).fetchall()]


def pending_mailboxes(db: sqlite_utils.Database, values: Iterable[str] = (), *,
                      all_pending: bool = False) -> list[str]:
    """The proposed mailboxes still to confirm among ``values`` (or all pending ones of active canaries).

    CanaryError for an address that is not a proposal, before anything is sent or written."""
    if all_pending:
        return [row[0] for row in db.execute(
            "SELECT cp.value FROM contact_points cp JOIN canaries cn ON cn.id = cp.canary_id WHERE cp.kind = 'email' "
            "AND cp.state = 'pending' AND cn.status = 'active' ORDER BY cp.id").fetchall()]
    out = []
    for value in dict.fromkeys(email_key(v) for v in values):
        row = db.execute("SELECT state FROM contact_points WHERE kind = 'email' AND value = ?", [value]).fetchone()
        if row is None:
            raise CanaryError(f"{value} is not a proposed mailbox; see 'canary contacts list --pending'")
        if row[0] != "confirmed":  # confirming twice changes nothing
            out.append(value)
    return out


def confirm_mailboxes(db: sqlite_utils.Database, values: Iterable[str] = (), *, all_pending: bool = False) -> list[str]:
    """Put opened mailboxes on their canaries (record and marker); return the addresses confirmed.

    All or nothing: an address that is not a pending proposal stops the whole command.
    """
    wanted = [email_key(v) for v in values]
    with write_transaction(db):
        if all_pending:
            rows = db.execute("SELECT cp.id, cp.canary_id, cp.value FROM contact_points cp JOIN canaries cn "
                              "ON cn.id = cp.canary_id WHERE cp.kind = 'email' AND cp.state = 'pending' "
                              "AND cn.status = 'active' ORDER BY cp.id").fetchall()
        else:
            rows = []
            for value in dict.fromkeys(wanted):
                row = db.execute("SELECT id, canary_id, value, state FROM contact_points WHERE kind = 'email' "
                                 "AND value = ?", [value]).fetchone()
                if row is None:
                    raise CanaryError(f"{value} is not a proposed mailbox; see 'canary contacts list --pending'")
                if row[3] == "confirmed":
                    continue  # confirming twice changes nothing
                rows.append(row[:3])
        for point_id, canary_id, address in rows:
            _put_on_record(db, canary_id, address)
            db.execute("UPDATE contact_points SET state = 'confirmed', confirmed_at = ? WHERE id = ?",
                       [now_iso(), point_id])
    return [row[2] for row in rows]


def unfilled_contacts(db: sqlite_utils.Database, system: str | None = None) -> dict[str, list[str]]:
    """Active canaries that should carry a phone or an e-mail the pools could not give, by id."""
    sql = ("SELECT cp.canary_id, cp.kind FROM contact_points cp JOIN canaries cn ON cn.id = cp.canary_id "
           "WHERE cp.state = 'unfilled' AND cn.status = 'active'")
    params: list[str] = []
    if system is not None:
        sql += " AND cn.system = ?"
        params.append(system)
    out: dict[str, list[str]] = {}
    for canary_id, kind in db.execute(sql + " ORDER BY cp.id", params).fetchall():
        out.setdefault(canary_id, []).append(kind)
    return out


def contacts_in_use(db: sqlite_utils.Database, system: str) -> tuple[list[str], list[str]]:
    """Phone numbers and mail domains the system's active canaries carry (counted by the crowding bounds)."""
    phones: list[str] = []
    domains: list[str] = []
    rows = db.execute("SELECT json_extract(record, '$.phones'), json_extract(record, '$.email') FROM canaries "
                      "WHERE system = ? AND status = 'active'", [system]).fetchall()
    for numbers, email in rows:
        phones.extend(json.loads(numbers or "[]"))
        if email:
            domains.append(str(email).rsplit("@", 1)[-1])
    return phones, domains


def budget_for_system(db: sqlite_utils.Database, system: str, pools: Pools, *,
                      replacing: bool = False, patients: int | None = None,
                      profile_data: Mapping[str, Any] | None = None) -> ContactBudget:
    """The crowding budget of one seeding run: the pool's blocks and what the system already uses
    (nothing when the run replaces the system's canaries, as a rotation does). ``patients``: the
    system's own size (``system edit --patients`` or its host profile), else ``generate.host_patients``;
    ``profile_data``: its host profile, whose phone block density the pool blocks' group sizes follow."""
    phones, domains = ([], []) if replacing else contacts_in_use(db, system)
    return ContactBudget.for_system(patients or pools.host_patients, pools.phones, phones, domains,
                                    profile_data=profile_data, salt=system)


def _put_on_record(db: sqlite_utils.Database, canary_id: str, address: str) -> None:
    row = db.execute("SELECT record FROM canaries WHERE id = ?", [canary_id]).fetchone()
    record = json.loads(row[0])
    if record.get("email") and email_key(record["email"]) != address:
        raise CanaryError(f"canary {canary_id} already carries {record['email']}; {address} not confirmed")
    record["email"] = address
    db.execute("UPDATE canaries SET record = ? WHERE id = ?",
               [json.dumps(record, ensure_ascii=False, sort_keys=True), canary_id])
    cursor = db.execute("INSERT INTO markers (kind, value, canary_id) VALUES ('email', ?, ?) ON CONFLICT DO NOTHING",
                        [address, canary_id])
    if cursor.rowcount == 0:
        owner = db.execute("SELECT canary_id FROM markers WHERE kind = 'email' AND value = ?", [address]).fetchone()
        if owner is None or owner[0] != canary_id:
            raise CanaryError(f"{address} already belongs to another canary; not confirmed")
