"""The registers side file: a private SQLite file next to the registry, holding only what the generator needs.

Kept apart from the registry on purpose: a department's BAN file is about a million rows, and
importing it in one transaction inside the registry would hold the registry's write lock (and grow its
backups) for public data that can be downloaded again at any time. The side file is replaced
department by department in one transaction each, so a reader never sees half an import.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from canary.errors import CanaryError
from canary.files import create_private

SUFFIX = ".registers"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ban_imports (
    department TEXT PRIMARY KEY, source TEXT NOT NULL, imported_at TEXT NOT NULL,
    points INTEGER NOT NULL, streets INTEGER NOT NULL, communes INTEGER NOT NULL, skipped INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ban_communes (
    code TEXT PRIMARY KEY, department TEXT NOT NULL, name TEXT NOT NULL,
    points INTEGER NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ban_communes_department ON ban_communes (department);
CREATE TABLE IF NOT EXISTS ban_postcodes (
    commune_code TEXT NOT NULL, postcode TEXT NOT NULL, city TEXT NOT NULL,
    PRIMARY KEY (commune_code, postcode)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ban_streets (
    id INTEGER PRIMARY KEY, commune_code TEXT NOT NULL, name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ban_streets_name ON ban_streets (commune_code, name);
-- seq numbers the points of one commune 0..n-1: a random point is one primary-key lookup.
CREATE TABLE IF NOT EXISTS ban_points (
    commune_code TEXT NOT NULL, seq INTEGER NOT NULL, street_id INTEGER NOT NULL,
    number INTEGER NOT NULL, rep TEXT NOT NULL, postcode TEXT NOT NULL,
    PRIMARY KEY (commune_code, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ban_points_street ON ban_points (street_id, number);
CREATE TABLE IF NOT EXISTS rpps_imports (
    id INTEGER PRIMARY KEY CHECK (id = 1), source TEXT NOT NULL, imported_at TEXT NOT NULL,
    rows_read INTEGER NOT NULL, kept INTEGER NOT NULL, departments TEXT NOT NULL
);
-- One row per physician and practice commune; no contact point is kept (nothing can reach them).
CREATE TABLE IF NOT EXISTS rpps_physicians (
    rpps TEXT NOT NULL, commune_code TEXT NOT NULL, department TEXT NOT NULL,
    family_name TEXT NOT NULL, first_name TEXT NOT NULL, specialty TEXT NOT NULL, city TEXT NOT NULL,
    PRIMARY KEY (rpps, commune_code)
) WITHOUT ROWID;
"""


def registers_path(registry_path: str | os.PathLike[str]) -> Path:
    """The side file of a registry: ``canary.db`` -> ``canary.db.registers``."""
    registry = Path(registry_path)
    return registry.with_name(registry.name + SUFFIX)


def open_registers(path: str | os.PathLike[str], *, create: bool = False) -> sqlite3.Connection | None:
    """Open the side file (owner-only, WAL); ``None`` when it does not exist and ``create`` is false."""
    path = Path(path)
    if not path.exists() and not create:
        return None
    if not path.parent.is_dir():
        raise CanaryError(f"cannot open registers {path}: folder {path.parent} does not exist")
    create_private(path)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CanaryError(f"cannot open registers {path}: {exc}") from exc
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            with contextlib.suppress(PermissionError):
                os.chmod(candidate, 0o600)
    return conn


def open_beside(registry_path: Path) -> sqlite3.Connection:
    """The registers of an existing registry, created if missing (CanaryError if the registry is not there)."""
    if not registry_path.exists():
        raise CanaryError(f"registry {registry_path} does not exist; the registers live next to it")
    conn = open_registers(registers_path(registry_path), create=True)
    assert conn is not None
    return conn


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def department_of(commune_code: str) -> str:
    return commune_code[:3] if commune_code.startswith("97") else commune_code[:2]
