"""Console accounts: roles, salted password hashes (scrypt), login throttling, server-side sessions."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from canary.errors import CanaryError
from canary.store.registry import now_iso
from canary.store.tx import write_transaction
from canary.web.roles import check_role

MIN_PASSWORD = 12
# Failures from one address against one name before the first delay, and the largest delay.
FREE_FAILURES = 3
MAX_DELAY = timedelta(minutes=5)
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_IDLE = timedelta(hours=12)


USER_KEYS = ("name", "role", "created_at", "disabled_at", "last_seen", "recent_failures", "throttled")


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    owner: str | None = None  # the person behind it: the account itself, or a token's owning account


def _check_name(name: str) -> None:
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CanaryError(f"invalid user name {name!r}: letters, digits, '.', '_' or '-' (max 64)")


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise CanaryError(f"password too short: at least {MIN_PASSWORD} characters")
    # scrypt: memory-hard, so a stolen registry does not give the passwords away to a GPU farm.
    return generate_password_hash(password, method="scrypt")


def _require(db: sqlite_utils.Database, name: str) -> None:
    if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone() is None:
        raise CanaryError(f"unknown user {name!r}; see 'canary user list'")


def add_user(db: sqlite_utils.Database, name: str, password: str, role: str = "viewer") -> None:
    """Create account ``name`` with ``role`` (least privilege by default)."""
    _check_name(name)
    check_role(role)
    digest = _hash(password)
    with write_transaction(db):
        if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise CanaryError(f"user {name!r} already exists; use 'canary user password' or 'canary user role'")
        db.execute("INSERT INTO users (name, password_hash, created_at, role) VALUES (?, ?, ?, ?)",
                   [name, digest, now_iso(), role])


def set_password(db: sqlite_utils.Database, name: str, password: str) -> None:
    """A new password ends every session of that account."""
    _require(db, name)
    digest = _hash(password)
    with write_transaction(db):
        _require(db, name)
        db.execute("UPDATE users SET password_hash = ? WHERE name = ?", [digest, name])
        db.execute("DELETE FROM web_sessions WHERE user = ?", [name])


def set_role(db: sqlite_utils.Database, name: str, role: str) -> None:
    """Takes effect on the account's next request (sessions read the role from the registry)."""
    check_role(role)
    with write_transaction(db):
        _require(db, name)
        if role != "admin":
            _keep_one_admin(db, name)
        db.execute("UPDATE users SET role = ? WHERE name = ?", [role, name])


def set_disabled(db: sqlite_utils.Database, name: str, disabled: bool = True) -> None:
    """A disabled account cannot sign in and its sessions end now; enabling it gives them back nothing."""
    with write_transaction(db):
        _require(db, name)
        if disabled:
            _keep_one_admin(db, name)
        db.execute("UPDATE users SET disabled_at = ? WHERE name = ?", [now_iso() if disabled else None, name])
        db.execute("DELETE FROM web_sessions WHERE user = ?", [name])
        if disabled:
            _revoke_tokens_of(db, name)


def _revoke_tokens_of(db: sqlite_utils.Database, name: str) -> None:
    """An account's API tokens end with it; enabling the account again gives them back nothing."""
    db.execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE owner = ?", [now_iso(), name])


def _keep_one_admin(db: sqlite_utils.Database, leaving: str) -> None:
    others = db.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND name != ?",
                        [leaving]).fetchone()[0]
    was_admin = db.execute("SELECT 1 FROM users WHERE name = ? AND role = 'admin' AND disabled_at IS NULL",
                           [leaving]).fetchone()
    if was_admin and not others:
        raise CanaryError(f"{leaving!r} is the last active admin: make another admin first")


def list_users(db: sqlite_utils.Database) -> list[dict[str, object]]:
    """Accounts with their role, last activity, recent failed sign-ins and whether some address must
    wait before trying again (never the hash)."""
    now = datetime.now(UTC)
    since = _iso(now - FAILURE_WINDOW)
    rows = db.execute(
        "SELECT u.name, u.role, u.created_at, u.disabled_at, (SELECT MAX(seen_at) FROM web_sessions s "
        "WHERE s.user = u.name) FROM users u ORDER BY u.name").fetchall()
    out = []
    for row in rows:
        name = row[0]
        sources = db.execute("SELECT DISTINCT source FROM login_failures WHERE name = ? AND at >= ?",
                             [name, since]).fetchall()
        failures = db.execute("SELECT COUNT(*) FROM login_failures WHERE name = ? AND at >= ?",
                              [name, since]).fetchone()[0]
        throttled = any(_wait_left(db, name, source or "unknown", now) for (source,) in sources)
        out.append(dict(zip(USER_KEYS, (*row, int(failures), throttled), strict=True)))
    return out


# --- throttling ------------------------------------------------------------------------------------


def throttle_delay(failures: int) -> int:
    """Seconds to wait after ``failures`` recent failures from one address for one name (1, 2, 4... 300)."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** min(failures - FREE_FAILURES, 16), MAX_DELAY.total_seconds()))


@functools.cache
def _placeholder_hash() -> str:
    return generate_password_hash("unknown-user-placeholder", method="scrypt")


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
    row = db.execute("SELECT password_hash, disabled_at FROM users WHERE name = ?", [name]).fetchone()
    # Hash even for an unknown user so timing does not tell which names exist; a disabled account
    # answers exactly like a wrong password.
    stored = row[0] if row else _placeholder_hash()
    ok = check_password_hash(stored, password) and row is not None and row[1] is None
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


def session_account(db: sqlite_utils.Database, session_id: str | None) -> Account | None:
    """The account of a live session, else None (unknown, ended, idle longer than SESSION_IDLE, disabled)."""
    if not session_id:
        return None
    row = db.execute("SELECT s.user, s.seen_at, u.role FROM web_sessions s JOIN users u ON u.name = s.user "
                     "WHERE s.id = ? AND u.disabled_at IS NULL", [_digest(session_id)]).fetchone()
    if row is None:
        return None
    now = datetime.now(UTC)
    if datetime.fromisoformat(row[1].replace("Z", "+00:00")) < now - SESSION_IDLE:
        end_session(db, session_id)
        return None
    if datetime.fromisoformat(row[1].replace("Z", "+00:00")) < now - timedelta(minutes=1):
        # Refreshed at most once a minute: most requests only read.
        db.execute("UPDATE web_sessions SET seen_at = ? WHERE id = ?", [_iso(now), _digest(session_id)])
    return Account(str(row[0]), str(row[2]), owner=str(row[0]))


def session_user(db: sqlite_utils.Database, session_id: str | None) -> str | None:
    account = session_account(db, session_id)
    return account.name if account else None


def end_session(db: sqlite_utils.Database, session_id: str | None) -> None:
    if session_id:
        db.execute("DELETE FROM web_sessions WHERE id = ?", [_digest(session_id)])


def remove_user(db: sqlite_utils.Database, name: str) -> None:
    """Delete ``name``, its sessions and its failure history."""
    _require(db, name)
    _keep_one_admin(db, name)
    with write_transaction(db):
        db.execute("DELETE FROM web_sessions WHERE user = ?", [name])
        db.execute("DELETE FROM login_failures WHERE name = ?", [name])
        _revoke_tokens_of(db, name)
        db.execute("DELETE FROM users WHERE name = ?", [name])


def unlock_user(db: sqlite_utils.Database, name: str) -> None:
    """Forget the recent failures of ``name``: no address has to wait any more."""
    _require(db, name)
    db.execute("DELETE FROM login_failures WHERE name = ?", [name])
