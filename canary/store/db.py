"""Opening the registry: WAL, foreign keys, private file mode, migrations."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path

import sqlite_utils

from canary.errors import CanaryError
from canary.files import create_private
from canary.store.migrations import migrate
from canary.store.tx import write_transaction

__all__ = ["MissingRegistry", "open_db", "write_transaction"]


def open_db(path: str | os.PathLike[str], *, migrate_schema: bool = True, create: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed, unless ``create`` is false) the registry at ``path``; bring its schema up to date.

    The registry holds the canary->system map, the one thing a thief must never see, so the file
    (and its WAL side files) are created readable by the owner only.
    """
    path = Path(path)
    if path.is_dir():
        raise CanaryError(f"registry path {path} is a directory, expected a SQLite file")
    if not path.parent.exists():
        raise CanaryError(f"cannot open registry {path}: folder {path.parent} does not exist")
    if not create and not path.exists():
        raise MissingRegistry(path)
    if not create and path.is_file() and path.stat().st_size == 0:
        # An empty file (a failed copy, `touch`, a full disk) is not a registry: making it one would
        # hide the loss behind a fresh, empty registry that answers "no canary".
        raise CanaryError(f"registry {path} is an empty file (0 bytes), not a registry: restore it from a "
                          "backup ('canary restore'), or remove it and run 'canary init'")
    try:
        create_private(path)
    except OSError as exc:
        raise CanaryError(f"cannot open registry {path}: {exc.strerror or exc}") from exc
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
    try:
        _enable_wal(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CanaryError(f"cannot open registry {path}: {exc}") from exc
    _restrict_mode(path)
    db = sqlite_utils.Database(conn)
    if migrate_schema:
        try:
            migrate(db)
        except sqlite3.DatabaseError as exc:
            raise CanaryError(f"cannot read registry {path}: {exc}") from exc
    return db


class MissingRegistry(CanaryError):
    """Only commands that create things may create a registry; the others say where they looked."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no registry at {path}; create one with 'canary init' (or check --db / CANARY_DB)")
        self.path = path


def _enable_wal(conn: sqlite3.Connection, wait_seconds: float = 30.0) -> None:
    """Switch a new registry to WAL (it stays so). The switch needs the file to itself and SQLite does not
    wait for it as it does for writes: processes creating the registry together (serve roles started at
    once) retry instead of failing on "database is locked"."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _restrict_mode(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.exists():
            with contextlib.suppress(PermissionError):
                os.chmod(candidate, 0o600)
