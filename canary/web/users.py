"""Console accounts: salted password hashes in the registry, login throttling, server-side sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from canary.errors import CanaryError
from canary.store.registry import now_iso
from canary.store.tx import write_transaction

MIN_PASSWORD = 12
# Failures from one address against one name before the first delay, and the largest delay.
FREE_FAILURES = 3
MAX_DELAY = timedelta(minutes=5)
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=12)


def add_user(db: sqlite_utils.Database, name: str, password: str) -> None:
    """Create ``name`` or set its password; a new password ends every session of that name."""
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CanaryError(f"invalid user name {name!r}")
    if len(password) < MIN_PASSWORD:
        raise CanaryError(f"password too short: at least {MIN_PASSWORD} characters")
    with write_transaction(db):
        db.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash",
            [name, generate_password_hash(password), now_iso()],
        )
        db.execute("DELETE FROM web_sessions WHERE user = ?", [name])


# --- throttling ------------------------------------------------------------------------------------


def throttle_delay(failures: int) -> int:
    """Seconds to wait after ``failures`` recent failures from one address for one name (1, 2, 4... 300)."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** min(failures - FREE_FAILURES, 16), MAX_DELAY.total_seconds()))


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    retry_after: int = 0  # > 0: not checked, this (name, address) must wait that many seconds


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _wait_left(db: sqlite_utils.Database, name: str, source: str, now: datetime) -> int:
    since = _iso(now - FAILURE_WINDOW)
    count, last = db.execute("SELECT COUNT(*), MAX(at) FROM login_failures WHERE name = ? AND source = ? AND at >= ?",
                             [name, source, since]).fetchone()
    delay = throttle_delay(int(count))
    if not delay or last is None:
        return 0
    ready = datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(seconds=delay)
    return max(0, int((ready - now).total_seconds() + 0.999))


def check_user(db: sqlite_utils.Database, name: str, password: str, source: str | None = None) -> LoginResult:
    """The right password, unless this address failed for this name so often lately that it must wait.

    Delays grow per (name, source address) instead of locking the name: a guesser elsewhere cannot lock
    the owner out, and one address gets a handful of guesses per quarter of an hour.
    """
    source = source or "unknown"
    now = datetime.now(UTC)
    wait = _wait_left(db, name, source, now)
    if wait:
        return LoginResult(False, wait)
    row = db.execute("SELECT password_hash FROM users WHERE name = ?", [name]).fetchone()
    # Hash even for an unknown user so timing does not tell which names exist.
    stored = row[0] if row else generate_password_hash("unknown-user-placeholder")
    ok = check_password_hash(stored, password) and row is not None
    with write_transaction(db):
        if ok:
            db.execute("DELETE FROM login_failures WHERE name = ? AND source = ?", [name, source])
        else:
            db.execute("INSERT INTO login_failures (name, source, at) VALUES (?, ?, ?)", [name, source, _iso(now)])
            db.execute("DELETE FROM login_failures WHERE at < ?", [_iso(now - FAILURE_WINDOW)])
    return LoginResult(ok)


# --- sessions --------------------------------------------------------------------------------------
# The signed cookie carries a random session id; the registry keeps only its hash, so a copy of the
# registry holds no live session, and deleting the row ends every copy of the cookie.


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(db: sqlite_utils.Database, name: str) -> str:
    session_id = secrets.token_urlsafe(32)
    stamp = now_iso()
    # Sessions left to expire (no logout) are cleared here, so the table stays as small as the live ones.
    db.execute("DELETE FROM web_sessions WHERE seen_at < ?", [_iso(datetime.now(UTC) - SESSION_IDLE)])
    db.execute("INSERT INTO web_sessions (id, user, created_at, seen_at) VALUES (?, ?, ?, ?)",
               [_digest(session_id), name, stamp, stamp])
    return session_id


def session_user(db: sqlite_utils.Database, session_id: str | None) -> str | None:
    """The user of a live session, else None (unknown, ended, or idle longer than SESSION_IDLE)."""
    if not session_id:
        return None
    row = db.execute("SELECT user, seen_at FROM web_sessions WHERE id = ?", [_digest(session_id)]).fetchone()
    if row is None:
        return None
    now = datetime.now(UTC)
    if datetime.fromisoformat(row[1].replace("Z", "+00:00")) < now - SESSION_IDLE:
        end_session(db, session_id)
        return None
    if datetime.fromisoformat(row[1].replace("Z", "+00:00")) < now - timedelta(minutes=1):
        # Refreshed at most once a minute: most requests only read.
        db.execute("UPDATE web_sessions SET seen_at = ? WHERE id = ?", [_iso(now), _digest(session_id)])
    return str(row[0])


def end_session(db: sqlite_utils.Database, session_id: str | None) -> None:
    if session_id:
        db.execute("DELETE FROM web_sessions WHERE id = ?", [_digest(session_id)])


# --- accounts --------------------------------------------------------------------------------------


def list_users(db: sqlite_utils.Database) -> list[dict[str, object]]:
    """Accounts with their recent failed sign-ins and whether some address must wait (never the hash)."""
    now = datetime.now(UTC)
    since = _iso(now - FAILURE_WINDOW)
    rows = []
    for name, created_at in db.execute("SELECT name, created_at FROM users ORDER BY name").fetchall():
        sources = db.execute("SELECT DISTINCT source FROM login_failures WHERE name = ? AND at >= ?",
                             [name, since]).fetchall()
        failures = db.execute("SELECT COUNT(*) FROM login_failures WHERE name = ? AND at >= ?",
                              [name, since]).fetchone()[0]
        throttled = any(_wait_left(db, name, source or "unknown", now) for (source,) in sources)
        rows.append({"name": name, "created_at": created_at, "recent_failures": int(failures),
                     "throttled": throttled})
    return rows


def _require_user(db: sqlite_utils.Database, name: str) -> None:
    if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone() is None:
        raise CanaryError(f"unknown user {name!r}; see 'canary user list'")


def remove_user(db: sqlite_utils.Database, name: str) -> None:
    """Delete ``name``, its sessions and its failure history."""
    _require_user(db, name)
    with write_transaction(db):
        db.execute("DELETE FROM web_sessions WHERE user = ?", [name])
        db.execute("DELETE FROM login_failures WHERE name = ?", [name])
        db.execute("DELETE FROM users WHERE name = ?", [name])


def unlock_user(db: sqlite_utils.Database, name: str) -> None:
    """Forget the recent failures of ``name``: no address has to wait any more."""
    _require_user(db, name)
    db.execute("DELETE FROM login_failures WHERE name = ?", [name])
