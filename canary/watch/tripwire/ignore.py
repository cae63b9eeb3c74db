"""Operator ignore rules: hits they match are stored with severity info, never dropped."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.registry import get_system, now_iso
from canary.watch.tripwire.noise import parse_ip

RULE_KINDS = ("cidr", "user_agent")


def add_rule(db: sqlite_utils.Database, kind: str, value: str, *, system: str | None = None,
             note: str | None = None) -> dict[str, Any]:
    value = value.strip()
    if kind not in RULE_KINDS:
        raise CanaryError(f"unknown ignore rule kind {kind!r}; expected one of {', '.join(RULE_KINDS)}")
    if kind == "cidr":
        try:
            value = str(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise CanaryError(f"invalid address or network {value!r} (e.g. 203.0.113.7 or 198.51.100.0/24)") from exc
    elif len(value) < 3:
        raise CanaryError("a user-agent fragment needs at least 3 characters (it would match nearly everything)")
    if system is not None:
        get_system(db, system)
    row = {"kind": kind, "value": value, "system": system, "note": note, "created_at": now_iso()}
    row["id"] = db.table("tripwire_ignore_rules").insert(row).last_pk
    return row


def list_rules(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT id, kind, value, system, note, created_at FROM tripwire_ignore_rules ORDER BY id"))


def remove_rule(db: sqlite_utils.Database, rule_id: int) -> None:
    cursor = db.execute("DELETE FROM tripwire_ignore_rules WHERE id = ?", [rule_id])
    if cursor.rowcount == 0:
        raise NotFound(f"no ignore rule {rule_id}; see 'canary tripwire ignore list'")


def matching_rule(db: sqlite_utils.Database, *, system: str | None, source_ip: str | None,
                  user_agent: str | None) -> dict[str, Any] | None:
    """The first rule (lowest id) that matches this hit, or None."""
    address = parse_ip(source_ip)
    agent = (user_agent or "").lower()
    for rule in list_rules(db):
        if rule["system"] is not None and rule["system"] != system:
            continue
        if rule["kind"] == "cidr" and address is not None:
            network = ipaddress.ip_network(rule["value"], strict=False)
            if address.version == network.version and address in network:
                return rule
        elif rule["kind"] == "user_agent" and agent and rule["value"].lower() in agent:
            return rule
    return None

