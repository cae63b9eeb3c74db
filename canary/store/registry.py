"""Systems and canaries in the registry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.markers import Marker, markers_for
from canary.store.shapes import CanaryRecord
from canary.store.tx import write_transaction

SYSTEM_KINDS = ("ehr", "lab", "imaging", "billing", "backup", "warehouse", "partner", "pharmacy", "other")
_SYSTEM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- systems -------------------------------------------------------------------------------------

def add_system(
    db: sqlite_utils.Database,
    name: str,
    kind: str,
    *,
    establishment: str | None = None,
    finess: str | None = None,
    notes: str | None = None,
    site_commune: str | None = None,
    patients: int | None = None,
) -> dict[str, Any]:
    """``site_commune``: INSEE code of the establishment's commune, already checked by the caller
    (canary.generate.catchment.resolve_commune); ``patients``: how many patients the system holds."""
    if not _SYSTEM_NAME.match(name):
        raise CanaryError(
            f"invalid system name {name!r}: use lower-case letters, digits, '.', '_' or '-' (max 63)"
        )
    if kind not in SYSTEM_KINDS:
        raise CanaryError(f"unknown system kind {kind!r}; expected one of {', '.join(SYSTEM_KINDS)}")
    finess = _checked_finess(finess)
    _check_patients(patients)
    row = {"name": name, "kind": kind, "establishment": establishment, "finess": finess,
           "notes": notes, "created_at": now_iso(), "site_commune": site_commune, "patients": patients}
    with write_transaction(db):
        if db.execute("SELECT 1 FROM systems WHERE name = ?", [name]).fetchone():
            raise CanaryError(f"system {name!r} already exists")
        db.table("systems").insert(row)
    return row


def _checked_finess(finess: str | None) -> str | None:
    if finess is None:
        return None
    finess = finess.strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{7}", finess):
        raise CanaryError(f"invalid FINESS {finess!r}: 9 characters starting with the department")
    return finess


def _check_patients(patients: int | None) -> None:
    if patients is not None and patients < 1:
        raise CanaryError(f"--patients {patients}: the system's patient count must be at least 1")


_EDITABLE = ("kind", "establishment", "finess", "notes", "site_commune", "patients")


def edit_system(db: sqlite_utils.Database, name: str, **changes: Any) -> dict[str, Any]:
    """Change some of a system's fields (None: keep; "" clears a text field). Returns the new row."""
    unknown = set(changes) - set(_EDITABLE)
    if unknown:
        raise CanaryError(f"cannot edit {', '.join(sorted(unknown))} of a system")
    updates = {k: v for k, v in changes.items() if v is not None}
    if "kind" in updates and updates["kind"] not in SYSTEM_KINDS:
        raise CanaryError(f"unknown system kind {updates['kind']!r}; expected one of {', '.join(SYSTEM_KINDS)}")
    if updates.get("finess"):
        updates["finess"] = _checked_finess(updates["finess"])
    _check_patients(updates.get("patients"))
    updates = {k: (None if v == "" else v) for k, v in updates.items()}
    with write_transaction(db):
        get_system(db, name)
        if updates:
            db.table("systems").update(name, updates)
    return get_system(db, name)


def get_system(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM systems WHERE name = ?", [name]))
    if not rows:
        raise NotFound(f"unknown system {name!r}; see 'canary system list'")
    return rows[0]


def list_systems(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            """SELECT s.*,
                      (SELECT COUNT(*) FROM canaries c WHERE c.system = s.name AND c.status = 'active')
                          AS canaries
               FROM systems s ORDER BY s.name"""
        )
    )


def save_host_profile(db: sqlite_utils.Database, system: str, profile: dict[str, Any]) -> None:
    """Store (or replace) a system's host profile: aggregates only, built by canary.generate.profile."""
    with write_transaction(db):
        get_system(db, system)
        db.execute("INSERT INTO host_profiles (system, built_at, profile) VALUES (?, ?, ?) "
                   "ON CONFLICT(system) DO UPDATE SET built_at = excluded.built_at, profile = excluded.profile",
                   [system, now_iso(), json.dumps(profile, ensure_ascii=False, sort_keys=True)])


def get_host_profile(db: sqlite_utils.Database, system: str) -> dict[str, Any] | None:
    row = db.execute("SELECT built_at, profile FROM host_profiles WHERE system = ?", [system]).fetchone()
    if row is None:
        return None
    return {"built_at": row[0], **json.loads(row[1])}


# --- canaries ------------------------------------------------------------------------------------

def marker_taken(db: sqlite_utils.Database, kind: str, value: str) -> bool:
    return db.execute("SELECT 1 FROM markers WHERE kind = ? AND value = ?", [kind, value]).fetchone() is not None


def add_canaries(db: sqlite_utils.Database, canaries: list[CanaryRecord],
                 markers: list[list[Marker]] | None = None) -> None:
    """Insert canaries (full export-shaped dicts plus ``token``) and their markers, all or nothing.

    ``markers``: each canary's markers when the caller already has them (a seed), else computed here.
    A marker already in the registry aborts the whole batch: a value that maps to two canaries
    would make a sighting ambiguous about which system leaked.
    """
    rows, marker_rows = [], []
    for index, canary in enumerate(canaries):
        record = {k: v for k, v in canary.items() if k not in ("token", "status")}
        rows.append([canary["id"], canary["system"], canary["generation"], canary["created_at"],
                     canary.get("status", "active"), canary["token"],
                     json.dumps(record, ensure_ascii=False, sort_keys=True)])
        own = markers[index] if markers is not None else markers_for(record, canary["token"])
        marker_rows += [[kind, value, canary["id"]] for kind, value in own]
    with write_transaction(db):
        db.conn.executemany("INSERT INTO canaries (id, system, generation, created_at, status, token, record) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        inserted = db.conn.executemany("INSERT INTO markers (kind, value, canary_id) VALUES (?, ?, ?) "
                                       "ON CONFLICT DO NOTHING", marker_rows).rowcount
        if inserted != len(marker_rows):
            for kind, value, canary_id in marker_rows:
                owner = db.execute("SELECT canary_id FROM markers WHERE kind = ? AND value = ?",
                                   [kind, value]).fetchone()
                if owner is None or owner[0] != canary_id:
                    raise CanaryError(f"canary {canary_id}: {kind} value already belongs to another canary")
            raise CanaryError("a canary's markers are not unique")


def remove_canaries(db: sqlite_utils.Database, canary_ids: list[str]) -> None:
    """Take back canaries that were never handed out (a seed that failed part-way), markers first."""
    with write_transaction(db):
        for start in range(0, len(canary_ids), 500):
            chunk = canary_ids[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            db.execute(f"DELETE FROM markers WHERE canary_id IN ({marks})", chunk)
            db.execute(f"DELETE FROM canaries WHERE id IN ({marks})", chunk)


def _row_to_canary(row: dict[str, Any]) -> CanaryRecord:
    record: CanaryRecord = json.loads(row["record"])
    record |= {"id": row["id"], "system": row["system"], "generation": row["generation"],
               "created_at": row["created_at"], "status": row["status"]}
    return record


def get_canary(db: sqlite_utils.Database, canary_id: str) -> CanaryRecord:
    rows = list(db.query("SELECT * FROM canaries WHERE id = ?", [canary_id]))
    if not rows:
        raise NotFound(f"unknown canary {canary_id!r}")
    return _row_to_canary(rows[0])


def list_canaries(
    db: sqlite_utils.Database, *, system: str | None = None, include_retired: bool = True
) -> list[CanaryRecord]:
    where, params = [], []
    if system is not None:
        get_system(db, system)
        where.append("system = ?")
        params.append(system)
    if not include_retired:
        where.append("status = 'active'")
    sql = "SELECT * FROM canaries" + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY system, generation, created_at, rowid"
    return [_row_to_canary(row) for row in db.query(sql, params)]


def canary_token(db: sqlite_utils.Database, canary_id: str) -> str:
    row = db.execute("SELECT token FROM canaries WHERE id = ?", [canary_id]).fetchone()
    if row is None:
        raise NotFound(f"unknown canary {canary_id!r}")
    return str(row[0])


def current_generation(db: sqlite_utils.Database, system: str) -> int:
    row = db.execute("SELECT MAX(generation) FROM canaries WHERE system = ?", [system]).fetchone()
    return int(row[0] or 0)


def find_by_marker(db: sqlite_utils.Database, kind: str, value: str) -> str | None:
    row = db.execute("SELECT canary_id FROM markers WHERE kind = ? AND value = ?", [kind, value]).fetchone()
    return row[0] if row else None
