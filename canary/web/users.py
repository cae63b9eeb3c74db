"""Console accounts: salted password hashes in the registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from canary.errors import CanaryError
from canary.store.registry import now_iso
from canary.store.tx import write_transaction

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)


def add_user(db: sqlite_utils.Database, name: str, password: str) -> None:
    if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CanaryError(f"invalid user name {name!r}")
    if len(password) < MIN_PASSWORD:
        raise CanaryError(f"password too short: at least {MIN_PASSWORD} characters")
    db.execute(
        "INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET password_hash = excluded.password_hash",
        [name, generate_password_hash(password), now_iso()],
    )


def check_user(db: sqlite_utils.Database, name: str, password: str, source: str | None = None) -> bool:
    """True for the right password, unless the name is locked out by recent failures."""
    row = db.execute("SELECT password_hash FROM users WHERE name = ?", [name]).fetchone()
    # Hash even for an unknown user so timing does not tell which names exist.
    stored = row[0] if row else generate_password_hash("unknown-user-placeholder")
    ok = check_password_hash(stored, password) and row is not None
    if locked_out(db, name):
        return False
    if ok:
        db.execute("DELETE FROM login_failures WHERE name = ?", [name])
    else:
        db.execute("INSERT INTO login_failures (name, source, at) VALUES (?, ?, ?)", [name, source, now_iso()])
    return ok


def locked_out(db: sqlite_utils.Database, name: str) -> bool:
    """Too many failures for this name lately: a password guesser gets nowhere, the owner waits a little."""
    since = (datetime.now(UTC) - LOCKOUT_WINDOW).isoformat(timespec="seconds").replace("+00:00", "Z")
    count = db.execute("SELECT COUNT(*) FROM login_failures WHERE name = ? AND at >= ?", [name, since]).fetchone()[0]
    return int(count) >= MAX_FAILURES


def list_users(db: sqlite_utils.Database) -> list[dict[str, object]]:
    """Accounts with their lockout state (never the hash)."""
    since = (datetime.now(UTC) - LOCKOUT_WINDOW).isoformat(timespec="seconds").replace("+00:00", "Z")
    rows = []
    for name, created_at in db.execute("SELECT name, created_at FROM users ORDER BY name").fetchall():
        failures = db.execute("SELECT COUNT(*) FROM login_failures WHERE name = ? AND at >= ?",
                              [name, since]).fetchone()[0]
        rows.append({"name": name, "created_at": created_at, "recent_failures": int(failures),
                     "locked": int(failures) >= MAX_FAILURES})
    return rows


def _require_user(db: sqlite_utils.Database, name: str) -> None:
    if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone() is None:
        raise CanaryError(f"unknown user {name!r}; see 'canary user list'")


def remove_user(db: sqlite_utils.Database, name: str) -> None:
    _require_user(db, name)
    with write_transaction(db):
        db.execute("DELETE FROM login_failures WHERE name = ?", [name])
        db.execute("DELETE FROM users WHERE name = ?", [name])


def unlock_user(db: sqlite_utils.Database, name: str) -> None:
    """Forget the recent failures of ``name``: the owner may sign in again at once."""
    _require_user(db, name)
    db.execute("DELETE FROM login_failures WHERE name = ?", [name])
