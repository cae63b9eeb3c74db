"""What canary.ops adds to ``canary serve`` (see canary.serve).

- a scheduler heartbeat (``/readyz`` fails when the shared scheduler stops running jobs);
- the daily retention job (canary.ops.retention) at ``retention.hour`` UTC;
- the listener error counter served on ``/metrics``;
- the readiness checks: registry writable, each started listener bound, scheduler alive, outbox not stuck.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from canary.ops.health import registry_writable
from canary.ops.metrics import ErrorCounter, ListenerCollector
from canary.ops.retention import prune
from canary.serve import ReadinessCheck, ServeContext, Service
from canary.settings import get_bool, get_int
from canary.store import open_db

log = logging.getLogger("canary.ops")

HEARTBEAT_SECONDS = 10.0
HEARTBEAT_STALE = 60.0
# A message due for this long and not taken by any worker: delivery is stuck (a failing destination
# pushes its messages' due time forward, so it does not count).
OUTBOX_STUCK_SECONDS = 600.0


class OpsService:
    name = "operations (heartbeat, retention, error counter)"

    def __init__(self, ctx: ServeContext) -> None:
        self.ctx = ctx
        # Counting from now, before the other domains build their services: a listener that cannot
        # even be built (an unreadable key, say) logs its error then and must be counted.
        self.errors = ErrorCounter()
        self.errors.attach()
        self.last_beat = time.monotonic()
        self._jobs: list[Any] = []

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def prune_once(self) -> None:
        db = open_db(self.ctx.db_path, migrate_schema=False)
        try:
            log.info("retention: %s", prune(db).line())
        except Exception:  # tomorrow's run tries again; serve goes on
            log.exception("retention job failed")
        finally:
            db.close()

    def start(self) -> None:
        db = open_db(self.ctx.db_path, migrate_schema=False)
        try:
            hour = min(23, max(0, get_int(db, "retention.hour")))
        finally:
            db.close()
        scheduler = self.ctx.scheduler
        self.last_beat = time.monotonic()
        self._jobs = [
            scheduler.add_job(self.beat, "interval", seconds=HEARTBEAT_SECONDS, id="ops-heartbeat",
                              replace_existing=True, max_instances=1),
            scheduler.add_job(self.prune_once, "cron", hour=hour, minute=17, id="ops-retention",
                              replace_existing=True, max_instances=1),
        ]

    def stop(self) -> None:
        for job in self._jobs:
            with contextlib.suppress(Exception):  # the scheduler may already be shut down
                job.remove()
        self._jobs = []
        self.errors.detach()

    def scheduler_alive(self) -> str | None:
        if not self.ctx.scheduler.running:
            return "the scheduler is not running"
        silent = time.monotonic() - self.last_beat
        if silent > HEARTBEAT_STALE:
            return f"the scheduler ran no job for {silent:.0f} s"
        return None


def outbox_not_stuck(db_path: str) -> str | None:
    db = open_db(db_path, migrate_schema=False)
    try:
        now = time.time()
        stuck = db.execute(
            "SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending' AND next_attempt_at < ? "
            "AND (lease_until IS NULL OR lease_until < ?)", [now - OUTBOX_STUCK_SECONDS, now]).fetchone()[0]
    finally:
        db.close()
    return f"{stuck} alert messages due for over {OUTBOX_STUCK_SECONDS:.0f} s and not taken" if stuck else None


class NotStarted:
    """A listener that is enabled but could not start (serve logged why and runs the others)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def ready(self) -> str | None:
        return "enabled but could not start (see the log)"


def listeners(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[Any]:
    """Every listener of this serve: those started (they have ``ready()``), and an enabled SMTP receiver
    that is missing from them."""
    from canary.watch.tripwire.services import SmtpService

    out: list[Any] = [s for s in started if callable(getattr(s, "ready", None))]
    if not any(isinstance(s, SmtpService) for s in started):
        db = open_db(ctx.db_path, migrate_schema=False)
        try:
            if options.get("smtp") or get_bool(db, "tripwire.smtp_enabled"):
                out.append(NotStarted(SmtpService.name))
        finally:
            db.close()
    return out


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    return [OpsService(ctx)]


def readiness(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[ReadinessCheck]:
    db_path = str(ctx.db_path)
    checks = [ReadinessCheck("registry writable", lambda: registry_writable(db_path))]
    checks.extend(ReadinessCheck(f"listener {s.name}", s.ready) for s in listeners(ctx, options, started))
    checks.extend(ReadinessCheck("scheduler alive", s.scheduler_alive) for s in started if isinstance(s, OpsService))
    if options.get("alerts", True):  # only where this process delivers alerts
        checks.append(ReadinessCheck("outbox not stuck", lambda: outbox_not_stuck(db_path)))
    return checks


def metrics(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[Any]:
    collectors: list[Any] = [s.errors for s in started if isinstance(s, OpsService)]
    collectors.append(ListenerCollector(listeners(ctx, options, started)))
    return collectors

