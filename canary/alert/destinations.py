"""Notification destinations: one URL each, with routing by minimum severity and by system.

The URL's scheme chooses the destination's kind (canary.alert.kinds: webhooks, syslog, a local file,
apprise services); this module stores, lists and routes destinations without asking which kind each is.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from canary.alert import severity
from canary.alert.kinds import kind_for_scheme, stored_kind, webhook
from canary.alert.kinds.base import DestinationKind, NetworkTarget
from canary.alert.ssrf import Resolver, TargetPolicy, check_target, system_resolver
from canary.errors import CanaryError, NotFound
from canary.store.events import utcnow
from canary.store.registry import get_system
from canary.store.tx import write_transaction


@dataclass
class Destination:
    id: int
    url: str
    kind: str
    min_severity: str
    systems: list[str] = field(default_factory=list)
    secret: str | None = None

    def accepts(self, alert_severity: str, alert_systems: list[str]) -> bool:
        """Routing: severity at least the minimum, and (when systems are named) one of them involved."""
        if severity.rank(alert_severity) < severity.rank(self.min_severity):
            return False
        return not self.systems or bool(set(self.systems) & set(alert_systems))

    @property
    def handler(self) -> DestinationKind:
        return stored_kind(self.kind, self.url)

    @property
    def takes_notices(self) -> bool:
        """Whether acknowledge/resolve notices are sent here (not to incident services)."""
        return self.handler.takes_notices(self.url)

    @property
    def shown_url(self) -> str:
        return self.handler.redact(self.url)


def _row_to_destination(row: dict[str, Any]) -> Destination:
    return Destination(id=row["id"], url=row["url"], kind=row["kind"], min_severity=row["min_severity"],
                       systems=json.loads(row["systems"] or "[]"), secret=row["secret"])


def kind_for_url(url: str) -> DestinationKind:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        raise CanaryError(f"not a notification URL: {url!r} (expected scheme://...)")
    if scheme in ("http", "https"):
        raise CanaryError(webhook.plain_http_hint(url))
    return kind_for_scheme(scheme)


def kind_of(url: str) -> str:
    return kind_for_url(url).name


def network_targets(url: str, kind: str) -> list[NetworkTarget]:
    """Every host (and port) this destination makes us connect to, when the URL chooses it; none for a
    fixed vendor endpoint (Slack, PagerDuty...) or a local file."""
    return stored_kind(kind, url).network_targets(url)


def check_destination_url(db: sqlite_utils.Database, url: str, kind: str,
                          resolver: Resolver = system_resolver) -> None:
    """Refuse malformed URLs and SSRF targets (see canary.alert.ssrf)."""
    handler = stored_kind(kind, url)
    handler.check_url(url)
    targets = handler.network_targets(url)
    if not targets:
        return
    policy = TargetPolicy.from_settings(db)
    for target in targets:
        check_target(policy, *target, resolver=resolver)


def check_jsonl_folder(db: sqlite_utils.Database, url: str) -> None:
    """What the console and the API add is checked further than the host's CLI (for a jsonl:// file:
    under ``alert.jsonl_folder``, the folder the host chose)."""
    kind_for_url(url.strip()).check_remote_add(db, url.strip())


def add_destination(db: sqlite_utils.Database, url: str, *, min_severity: str = "low",
                    systems: list[str] | None = None, resolver: Resolver = system_resolver) -> Destination:
    url = url.strip()
    kind = kind_of(url)
    severity.check(min_severity)
    systems = sorted(set(systems or []))
    for name in systems:
        get_system(db, name)
    check_destination_url(db, url, kind, resolver)
    secret = secrets.token_urlsafe(32) if stored_kind(kind, url).signed else None
    with write_transaction(db):
        cursor = db.execute(
            "INSERT INTO alert_destinations (url, kind, min_severity, systems, secret, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [url, kind, min_severity, json.dumps(systems), secret, utcnow()],
        )
    return get_destination(db, int(cursor.lastrowid or 0))


def get_destination(db: sqlite_utils.Database, destination_id: int) -> Destination:
    rows = list(db.query("SELECT * FROM alert_destinations WHERE id = ?", [destination_id]))
    if not rows:
        raise NotFound(f"unknown destination {destination_id}; see 'canary notify list'")
    return _row_to_destination(rows[0])


def list_destinations(db: sqlite_utils.Database) -> list[Destination]:
    return [_row_to_destination(row) for row in db.query("SELECT * FROM alert_destinations ORDER BY id")]


def destination_status(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """What ``notify list`` shows: masked URL, routing and delivery health."""
    rows = []
    for row in db.query(
        """SELECT d.*, (SELECT COUNT(*) FROM alert_outbox o WHERE o.destination_id = d.id
                        AND o.state = 'pending') AS pending
           FROM alert_destinations d ORDER BY d.id"""
    ):
        destination = _row_to_destination(row)
        rows.append({"id": destination.id, "url": destination.shown_url, "kind": destination.kind,
                     "min_severity": destination.min_severity, "systems": destination.systems,
                     "pending": row["pending"], "failures": row["failures"], "last_error": row["last_error"],
                     "last_success_at": row["last_success_at"]})
    return rows


def remove_destination(db: sqlite_utils.Database, destination_id: int) -> None:
    with write_transaction(db):
        get_destination(db, destination_id)
        db.execute("DELETE FROM alert_outbox WHERE destination_id = ?", [destination_id])
        db.execute("DELETE FROM alert_destinations WHERE id = ?", [destination_id])


def mask_url(url: str, kind: str) -> str:
    """The URL without credentials or tokens, for listings and logs."""
    return stored_kind(kind, url).redact(url)
