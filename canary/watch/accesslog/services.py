"""Background services of canary.watch.accesslog for ``canary serve`` (see canary.serve).

One supervisor that runs a service per configured source — a syslog receiver, a file tailer or a
FHIR AuditEvent poller (a job on the shared scheduler) — and follows sources added or removed
while ``serve`` runs.
"""

from __future__ import annotations

from typing import Any

import click

from canary.serve import ServeContext, Service, runs
from canary.settings import get_float
from canary.store import open_db
from canary.watch.accesslog.supervisor import AccessLogSupervisor

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--no-access-logs"], is_flag=True, default=False,
                 help="Do not start the access-log receivers, tailers and pollers."),
]


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    if options.get("no_access_logs") or not runs(options, "logs"):
        return []
    db = open_db(ctx.db_path)
    try:
        poll_interval = get_float(db, "accesslog.poll_interval")
    finally:
        db.close()
    return [AccessLogSupervisor(ctx.db_path, ctx.scheduler, poll_interval=poll_interval)]
