"""Leases in the registry: only one ``canary serve`` acts as scheduler, one as delivery worker.

A lease is a row (role name, holder, host, pid, expiry). Its holder renews it well before it
expires; another process takes it over when it has expired, or at once when the holder ran on the
same host and its process is gone. Hosts sharing a registry must keep their clocks in sync (NTP):
expiries are wall-clock times.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from canary.store.registry import now_iso
from canary.store.tx import write_transaction


@dataclass(frozen=True)
class Holder:
    """This process, as written in a lease row."""

    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def id(self) -> str:
        return f"{self.host}:{self.pid}:{self.nonce}"


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie, killed but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def acquire(db: sqlite_utils.Database, name: str, holder: Holder, ttl: float) -> bool:
    """Take or renew lease ``name`` for ``ttl`` seconds; False while another live holder has it."""
    now = time.time()
    with write_transaction(db):
        row = db.execute("SELECT holder, host, pid, expires_at FROM leases WHERE name = ?", [name]).fetchone()
        if row is not None and row[0] != holder.id:
            other_host, other_pid, expires_at = row[1], int(row[2]), float(row[3])
            # Same host: a gone pid is a dead holder; so is our own pid under another nonce (a container
            # restarted as pid 1 keeps its host name and pid).
            holder_dead = other_host == holder.host and (other_pid == holder.pid or not process_alive(other_pid))
            if expires_at > now and not holder_dead:
                return False
        if row is not None and row[0] == holder.id:
            db.execute("UPDATE leases SET expires_at = ? WHERE name = ?", [now + ttl, name])
        else:
            db.execute(
                """INSERT INTO leases (name, holder, host, pid, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(name) DO UPDATE SET holder = excluded.holder, host = excluded.host,
                       pid = excluded.pid, acquired_at = excluded.acquired_at, expires_at = excluded.expires_at""",
                [name, holder.id, holder.host, holder.pid, now_iso(), now + ttl],
            )
    return True


def release(db: sqlite_utils.Database, name: str, holder: Holder) -> None:
    with write_transaction(db):
        db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", [name, holder.id])


def current(db: sqlite_utils.Database, name: str) -> dict[str, object] | None:
    rows = list(db.query("SELECT * FROM leases WHERE name = ?", [name]))
    return rows[0] if rows else None
