"""What leads a system's page: its unresolved alerts and the watch sources that feed it."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from canary.alert.model import alert_view
from canary.web import cuts
from canary.web.watch_view import access_sources

OPEN_SHOWN = 20  # the newest unresolved alerts; the alerts page lists the rest


def open_alerts(db: sqlite_utils.Database, system: str, role: str) -> list[dict[str, Any]]:
    """Unresolved alerts naming ``system``, newest first."""
    rows = db.query("SELECT * FROM alerts WHERE state != 'resolved' AND EXISTS "
                    "(SELECT 1 FROM json_each(alerts.systems) WHERE value = ?) ORDER BY id DESC LIMIT ?",
                    [system, OPEN_SHOWN])
    return [cuts.alert(alert_view(row), role) for row in rows]


def watch_sources(db: sqlite_utils.Database, system: str, role: str) -> list[dict[str, Any]]:
    """The access-log sources reading this system's trail (``canary logs list`` rows, cut to the role)."""
    return [source for source in access_sources(db, role) if source["system"] == system]
