"""Background services of canary.watch.accesslog for ``canary serve`` (see canary.serve).

One service per configured source: a syslog receiver, a file tailer or a FHIR AuditEvent poller
(a job on the shared scheduler). Sources added while ``serve`` runs start at its next start.
"""

from __future__ import annotations

from typing import Any

import click

from canary.serve import ServeContext, Service
from canary.settings import get_setting
from canary.store import open_db
from canary.watch.accesslog.fhir_poller import FhirPollService
from canary.watch.accesslog.sources import list_sources
from canary.watch.accesslog.syslog import SyslogService
from canary.watch.accesslog.tailer import FileTailService

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--no-access-logs"], is_flag=True, default=False,
                 help="Do not start the access-log receivers, tailers and pollers."),
]


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    if options.get("no_access_logs"):
        return []
    db = open_db(ctx.db_path)
    try:
        sources = list_sources(db)
        poll_interval = float(get_setting(db, "accesslog.poll_interval"))
    finally:
        db.close()
    out: list[Service] = []
    for source in sources:
        if source["kind"] == "syslog":
            out.append(SyslogService(ctx.db_path, source))
        elif source["kind"] == "file":
            out.append(FileTailService(ctx.db_path, source, poll_interval=poll_interval))
        elif source["kind"] == "fhir":
            out.append(FhirPollService(ctx.db_path, source, ctx.scheduler))
    return out
