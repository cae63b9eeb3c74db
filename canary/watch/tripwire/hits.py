"""From a sighting on any tripwire channel to a stored event: lookup, noise, ignore rules, severity."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from canary.store.events import record_event, utcnow
from canary.store.registry import find_by_marker
from canary.watch.tripwire.ignore import matching_rule
from canary.watch.tripwire.noise import NoisePolicy, explain, noise_reason

# Tokens are the first 20 characters of a lower-case base32 HMAC (canary.generate.seeding.derive_token).
_TOKEN = re.compile(r"(?<![a-z0-9])[a-z2-7]{20}(?![a-z0-9])")
_MAX_CANDIDATES = 8


@dataclass
class Hit:
    """What a listener saw, before we know whether it names a canary."""

    channel: str
    source: str | None
    source_ip: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=utcnow)
    dedup_key: str | None = None
    noise_hint: str | None = None
    path_kind: str | None = None  # HTTP: pages.path_kind of the request path
    client_hints: str | None = None  # HTTP: the Sec-CH-UA header (a headless Chrome names itself there)


def token_candidates(*texts: str | None) -> list[str]:
    """Substrings shaped like a token, in order of appearance, without repeats."""
    found: list[str] = []
    for text in texts:
        if not text:
            continue
        for match in _TOKEN.findall(text.lower()):
            if match not in found:
                found.append(match)
            if len(found) >= _MAX_CANDIDATES:
                return found
    return found


def canary_for_tokens(db: sqlite_utils.Database, candidates: list[str]) -> str | None:
    for candidate in candidates:
        canary_id = find_by_marker(db, "token", candidate)
        if canary_id:
            return canary_id
    return None


def group_key(hit: Hit, canary_id: str) -> str:
    """One client (address and user agent) is one incident: a thief browsing a dump opens many links.

    Hits with the same key within the alert window fold into one alert naming every canary and system
    touched; without a known source each canary stays its own incident.
    """
    if not hit.source:
        return f"tripwire:{hit.channel}:{canary_id}"
    key = f"tripwire:{hit.channel}:from:{hit.source}"
    if hit.user_agent:
        key += ":ua:" + hashlib.sha256(hit.user_agent.encode("utf-8", "replace")).hexdigest()[:12]
    return key


def record_hit(db: sqlite_utils.Database, hit: Hit, canary_id: str, policy: NoisePolicy) -> int | None:
    """Store ``hit`` as an event on ``canary_id``; severity high unless it looks automated or is ignored."""
    system_row = db.execute("SELECT system FROM canaries WHERE id = ?", [canary_id]).fetchone()
    system = system_row[0] if system_row else None
    details = dict(hit.details)
    details["group"] = group_key(hit, canary_id)
    severity = "high"
    noise = noise_reason(db, policy, channel=hit.channel, canary_id=canary_id, source_ip=hit.source_ip,
                         user_agent=hit.user_agent, hint=hit.noise_hint, time=hit.time,
                         path_kind=hit.path_kind, client_hints=hit.client_hints)
    if noise:
        details["noise"] = noise
        details["noise_explained"] = explain(noise)
        severity = "low"
    rule = matching_rule(db, system=system, source_ip=hit.source_ip, user_agent=hit.user_agent)
    if rule:
        details["ignored_by"] = {k: rule[k] for k in ("id", "kind", "value", "system")}
        severity = "info"
    return record_event(db, channel=hit.channel, canary_id=canary_id, system=system, source=hit.source,
                        severity=severity, details=details, time=hit.time, dedup_key=hit.dedup_key)
