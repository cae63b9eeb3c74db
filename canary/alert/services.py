"""Background services of canary.alert for ``canary serve`` (see canary.serve)."""

from __future__ import annotations

from typing import Any

import click

from canary.alert.worker import alert_services
from canary.serve import ServeContext, Service

# Correlation and delivery act in one process at a time (canary.serve wraps them in the lease).
LEASED_ROLE = "delivery"

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--alerts/--no-alerts", "alerts"], default=True, show_default=True,
                 help="Run the alert correlation and delivery workers."),
]


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    if not options.get("alerts", True):
        return []
    return list(alert_services(ctx.db_path))
