"""Background services of canary.plant for ``canary serve`` (see canary.serve): trickle planting.

The trickle runner plants each scheduled arrival when it is due (``canary plant --over``, ``canary rotate
--over``). It belongs to the leased ``scheduler`` role, so one process at a time runs it; at start it puts
back what a dead runner had claimed and plants at once whatever fell due while no runner was up.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from apscheduler.schedulers.base import BaseScheduler

from canary.serve import ServeContext, Service
from canary.settings import get_int
from canary.store import open_db
from canary.timezones import parse_iso

log = logging.getLogger("canary.plant.trickle")

LEASED_ROLE = "scheduler"
SERVE_OPTIONS: list[click.Option] = []
_CHECK_JOB, _WAKE_JOB = "plant:trickle", "plant:trickle:next"


class TrickleRunner:
    name = "plant-trickle"

    def __init__(self, db_path: Path, scheduler: BaseScheduler) -> None:
        self.db_path, self.scheduler = db_path, scheduler
        self._busy = threading.Lock()
        self._stopping = threading.Event()
        self.interval = 60

    def start(self) -> None:
        from canary.plant.schedule import release_claims

        self._stopping.clear()
        db = open_db(self.db_path)
        try:
            self.interval = get_int(db, "plant.trickle.check_seconds")
            released = release_claims(db)
        finally:
            db.close()
        if released:
            log.warning("trickle: %s arrival(s) claimed by a runner that stopped are due again", released)
        # First check at once: the arrivals missed while serve was down are planted now.
        self.scheduler.add_job(self.check, "interval", seconds=self.interval, id=_CHECK_JOB, replace_existing=True,
                               max_instances=1, next_run_time=datetime.now(UTC))

    def stop(self) -> None:
        self._stopping.set()
        for job_id in (_CHECK_JOB, _WAKE_JOB):
            if self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)
        # Let an arrival being planted finish and be recorded.
        if self._busy.acquire(timeout=120):
            self._busy.release()

    def check(self) -> int:
        """Plant what is due, then wake again at the next arrival; how many arrivals were handled."""
        from canary.plant.schedule import next_due
        from canary.plant.trickle import run_due

        if self._stopping.is_set() or not self._busy.acquire(blocking=False):
            return 0
        try:
            db = open_db(self.db_path)
            try:
                done = run_due(db, stopping=self._stopping.is_set, pause=self._stopping.wait)
                upcoming = parse_iso(next_due(db))
            finally:
                db.close()
        except Exception:  # never let a bad arrival stop the scheduler; the next check tries again
            log.exception("trickle check failed")
            return 0
        finally:
            self._busy.release()
        if upcoming is not None and not self._stopping.is_set():
            wake = max(upcoming, datetime.now(UTC))
            if wake < datetime.now(UTC) + timedelta(seconds=self.interval):
                self.scheduler.add_job(self.check, "date", run_date=wake, id=_WAKE_JOB, replace_existing=True)
        return len(done)


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    return [TrickleRunner(ctx.db_path, ctx.scheduler)]
