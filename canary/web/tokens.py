"""API tokens for SOAR/SIEM integrations: scoped to a role, shown once, hashed at rest, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.registry import now_iso
from canary.store.tx import write_transaction
from canary.web.roles import allows, check_role, lower
from canary.web.users import Account

# A recognisable prefix lets secret scanners (and people) tell a leaked canary API token at a glance.
PREFIX = "cnry_"
TOKEN_KEYS = ("id", "name", "role", "owner", "created_by", "created_at", "expires_at", "revoked_at", "last_used_at")
MAX_DAYS = 366


def _digest(secret: str) -> str:
    # The secret is 256 random bits: a plain SHA-256 is enough, and lookups stay one index probe.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(db: sqlite_utils.Database, name: str, role: str, created_by: str,
                 days: int = 90, owner: str | None = None) -> tuple[dict[str, Any], str]:
    """Store a new token of account ``owner``; return its row and the secret, never stored nor shown again.

    The token can never hold more than its owner's role; it is revoked when the owner is disabled or
    removed. ``owner`` None makes a token of the host (tests and tokens made before owners existed)."""
    check_role(role)
    if owner is not None:
        held = db.execute("SELECT role, disabled_at FROM users WHERE name = ?", [owner]).fetchone()
        if held is None or held[1] is not None:
            raise CanaryError(f"a token belongs to an active account: {owner!r} is "
                              f"{'unknown' if held is None else 'disabled'}; see 'canary user list'")
        if not allows(held[0], role):
            raise CanaryError(f"a {role} token is above the role of its owner {owner!r} ({held[0]})")
    if not name or len(name) > 64 or not name.isprintable():
        raise CanaryError("a token needs a printable name (max 64 characters), e.g. 'soar-prod'")
    if not 1 <= days <= MAX_DAYS:
        raise CanaryError(f"token lifetime must be 1 to {MAX_DAYS} days")
    secret = PREFIX + secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds").replace("+00:00", "Z")
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO api_tokens (name, digest, role, owner, created_by, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [name, _digest(secret), role, owner, created_by, now_iso(), expires])
        token_id = int(cursor.lastrowid or 0)
    return get_token(db, token_id), secret


def get_token(db: sqlite_utils.Database, token_id: int) -> dict[str, Any]:
    row = db.execute(f"SELECT {', '.join(TOKEN_KEYS)} FROM api_tokens WHERE id = ?", [token_id]).fetchone()
    if row is None:
        raise NotFound(f"unknown API token {token_id}; see 'canary token list'")
    return dict(zip(TOKEN_KEYS, row, strict=True))


def list_tokens(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = db.execute(f"SELECT {', '.join(TOKEN_KEYS)} FROM api_tokens ORDER BY id").fetchall()
    return [dict(zip(TOKEN_KEYS, row, strict=True)) for row in rows]


def revoke_token(db: sqlite_utils.Database, token_id: int) -> dict[str, Any]:
    with write_transaction(db):
        get_token(db, token_id)
        db.execute("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", [now_iso(), token_id])
    return get_token(db, token_id)


def bearer_account(db: sqlite_utils.Database, authorization: str) -> Account | None:
    """The account of an ``Authorization: Bearer cnry_...`` header, or None."""
    scheme, _, secret = authorization.partition(" ")
    return token_account(db, secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None


def token_account(db: sqlite_utils.Database, secret: str) -> Account | None:
    """The account a bearer token stands for (``token:NAME``), or None if unknown, expired, revoked, or its
    owner is gone or disabled; its role is the lower of its own and its owner's (a demoted owner's token
    is demoted with them)."""
    if not secret.startswith(PREFIX):
        return None
    row = db.execute("SELECT t.id, t.name, t.role, t.expires_at, t.last_used_at, t.owner, u.role, u.disabled_at "
                     "FROM api_tokens t LEFT JOIN users u ON u.name = t.owner "
                     "WHERE t.digest = ? AND t.revoked_at IS NULL", [_digest(secret)]).fetchone()
    if row is None:
        return None
    owner = row[5]
    if owner is not None and (row[6] is None or row[7] is not None):
        return None
    now = now_iso()
    if row[3] is not None and row[3] <= now:
        return None
    if row[4] is None or row[4][:16] != now[:16]:
        # Written at most once a minute: integrations poll, and every write takes the registry lock.
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [now, row[0]])
    role = str(row[2]) if owner is None else lower(str(row[2]), str(row[6]))
    return Account(f"token:{row[1]}", role, owner=owner)
