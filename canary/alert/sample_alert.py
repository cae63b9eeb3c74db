"""``canary notify test``: one synthetic alert sent now to every destination, outcome per destination."""

from __future__ import annotations

import uuid
from typing import Any

import sqlite_utils

from canary.alert.delivery import DeliveryConfig
from canary.alert.destinations import list_destinations
from canary.alert.pinned import PinnedHTTP
from canary.alert.readable import readable_error
from canary.alert.senders import DeliveryError, send
from canary.alert.shapes import Alert
from canary.alert.ssrf import Resolver, TargetPolicy, system_resolver
from canary.store.events import utcnow


def sample_alert() -> Alert:
    """An alert-shaped object that says plainly it is a test, naming no real canary or system."""
    now = utcnow()
    return {
        "id": 0, "key": "test", "state": "open", "severity": "info", "channel": "test", "channels": ["test"],
        "systems": [],
        "canaries": [], "count": 0, "first_seen": now, "last_seen": now, "window": None, "by_system": [],
        "establishments": [], "accounts": [], "account_systems": [], "sources": [], "exfiltration": False,
        "seen_again": 0, "version": 0, "created_at": now, "updated_at": now, "acked_by": None, "acked_at": None,
        "resolved_by": None, "resolved_at": None, "note": None, "test": True,
        # the texts rendered for a real alert would name no system ("documents of ?"): say what it is instead
        "title": "[TEST] Canary : alerte de test, rien à faire / test alert, nothing to do",
        "text": {"fr": "Ceci est un test de la chaîne d'alerte canary. Aucune action requise.",
                 "en": "This is a test of the canary alerting chain. No action needed."},
        "confidence": "test",
        "first_action": {"fr": "Rien à faire : c'est un test", "en": "Nothing to do: this is a test"},
    }


def send_test(db: sqlite_utils.Database, *, resolver: Resolver = system_resolver) -> list[dict[str, Any]]:
    config = DeliveryConfig.load(db)
    policy = TargetPolicy.from_settings(db)
    report = []
    http = PinnedHTTP()
    for destination in list_destinations(db):
        payload = {**sample_alert(), "idempotency_key": f"canary-test-{uuid.uuid4().hex}"}
        try:
            send(destination, payload, policy=policy, timeout=config.timeout, http=http, resolver=resolver)
            error = None
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # report a broken destination, keep testing the others
            error = f"{type(exc).__name__}: {exc}"
        report.append({"id": destination.id, "url": destination.shown_url, "ok": error is None,
                       "error": readable_error(error)})
    http.close()
    return report
