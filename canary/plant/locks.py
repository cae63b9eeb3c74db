"""One planting run per target at a time, across processes.

Two runs on one target could both send a canary before either records it. A POSIX record lock on a
byte of a lock file beside the registry (one byte per target, by hash) serialises them; the system
releases it when the process ends, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from canary.errors import CanaryError

_SLOTS = 1 << 20


def _registry_file(db: sqlite_utils.Database) -> Path | None:
    for _, name, path in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and path:
            return Path(path)
    return None


@contextlib.contextmanager
def target_lock(db: sqlite_utils.Database, address: str) -> Iterator[None]:
    registry = _registry_file(db)
    if registry is None:  # an in-memory registry has no other process to race with
        yield
        return
    slot = int.from_bytes(hashlib.sha256(address.encode()).digest()[:8], "big") % _SLOTS
    lock_path = registry.with_name(f".{registry.name}.plant-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
        except OSError as exc:
            raise CanaryError(f"another plant, retire or rotate is running on {address}; wait for it to end "
                              "/ une autre opération est en cours sur cette cible") from exc
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
    finally:
        os.close(fd)
