"""Allow-rules: known jobs (backup, ETL) whose canary reads are recorded at severity info, not paged.

A rule names a system, an account, an owner, a reason and an expiry. It applies to accesses made
before its expiry, while it has not expired; nothing is ever dropped.
"""

from __future__ import annotations

from typing import Any, cast

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.events import utcnow
from canary.store.registry import get_system, now_iso
from canary.watch.accesslog.timeparse import parse_expiry

RULE_KEYS = ("id", "system", "account", "owner", "reason", "expires_at", "created_at", "active")


def add_rule(db: sqlite_utils.Database, system: str, account: str, owner: str, expires: str,
             reason: str) -> dict[str, Any]:
    get_system(db, system)
    for label, value in (("--account", account), ("--owner", owner), ("--reason", reason)):
        if not value or not value.strip():
            raise CanaryError(f"{label} must not be empty")
    expires_at = parse_expiry(expires)
    # insert() sets last_pk to the new row's integer id (rowid primary key).
    rule_id = cast(int, db.table("accesslog_allow_rules").insert(
        {"system": system, "account": account.strip(), "owner": owner.strip(), "reason": reason.strip(),
         "expires_at": expires_at, "created_at": now_iso()}
    ).last_pk)
    return get_rule(db, rule_id)


def get_rule(db: sqlite_utils.Database, rule_id: int) -> dict[str, Any]:
    rows = [r for r in list_rules(db, include_expired=True) if r["id"] == rule_id]
    if not rows:
        raise NotFound(f"unknown allow-rule {rule_id}; see 'canary logs allow list'")
    return rows[0]


def list_rules(db: sqlite_utils.Database, *, system: str | None = None,
               include_expired: bool = False) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for row in db.query("SELECT * FROM accesslog_allow_rules ORDER BY id"):
        row["active"] = row["expires_at"] > now
        if (system is None or row["system"] == system) and (include_expired or row["active"]):
            rows.append({k: row[k] for k in RULE_KEYS})
    return rows


def remove_rule(db: sqlite_utils.Database, rule_id: int) -> None:
    get_rule(db, rule_id)
    db.execute("DELETE FROM accesslog_allow_rules WHERE id = ?", [rule_id])


def matching_rule(db: sqlite_utils.Database, system: str, account: str | None, when: str) -> dict[str, Any] | None:
    """The rule covering ``account`` on ``system`` for an access at ``when`` (ISO UTC), if any."""
    if not account:
        return None
    rows = list(db.query(
        """SELECT id, owner, reason, expires_at FROM accesslog_allow_rules
           WHERE system = ? AND lower(account) = lower(?) AND expires_at > ? AND expires_at > ?
           ORDER BY expires_at DESC LIMIT 1""",
        [system, account.strip(), utcnow(), when],
    ))
    return rows[0] if rows else None


class RuleCache:
    """``matching_rule`` for every hit of one stored batch, with one query per account instead of one per
    hit (a bulk export is thousands of hits by one account). Built inside the batch's transaction."""

    def __init__(self, db: sqlite_utils.Database, system: str) -> None:
        self.db = db
        self.system = system
        self.now = utcnow()
        self._by_account: dict[str, list[dict[str, Any]]] = {}

    def matching(self, account: str | None, when: str) -> dict[str, Any] | None:
        if not account:
            return None
        key = account.strip().lower()
        rules = self._by_account.get(key)
        if rules is None:
            rules = list(self.db.query(
                """SELECT id, owner, reason, expires_at FROM accesslog_allow_rules
                   WHERE system = ? AND lower(account) = lower(?) AND expires_at > ?
                   ORDER BY expires_at DESC""",
                [self.system, account.strip(), self.now],
            ))
            self._by_account[key] = rules
        return next((rule for rule in rules if rule["expires_at"] > when), None)
