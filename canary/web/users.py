"""Console accounts: salted password hashes in the registry."""

from __future__ import annotations

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from canary.errors import CanaryError
from canary.store.registry import now_iso

MIN_PASSWORD = 12


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


def check_user(db: sqlite_utils.Database, name: str, password: str) -> bool:
    row = db.execute("SELECT password_hash FROM users WHERE name = ?", [name]).fetchone()
    # Hash even for an unknown user so timing does not tell which names exist.
    stored = row[0] if row else generate_password_hash("unknown-user-placeholder")
    return check_password_hash(stored, password) and row is not None
