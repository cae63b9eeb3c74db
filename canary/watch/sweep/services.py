"""Scheduled feeds for ``canary serve`` and for the scheduler-only ``canary sweep --daemon``."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from apscheduler.schedulers.base import BaseScheduler

from canary.errors import CanaryError
from canary.serve import ServeContext, Service, run_until
from canary.store import open_db
from canary.watch.sweep.feeds import list_feeds, run_feed
from canary.watch.sweep.schedule import is_due, parse_schedule

log = logging.getLogger("canary.sweep")
SYNC_SECONDS = 60

# One process at a time runs the feeds on their schedule (canary.serve wraps them in the lease).
LEASED_ROLE = "scheduler"

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--no-sweeps"], is_flag=True, default=False,
                 help="Do not run the leak-sweep feeds on their schedule (see 'canary sweep --daemon')."),
]


class FeedScheduler:
    """Keeps one APScheduler job per feed, and runs at once the feeds whose run was missed.

    Feeds are re-read every minute so ``canary feed add`` takes effect without a restart. A feed is
    caught up when the service first sees it: never run, or last success older than its period.
    """

    name = "sweep-feeds"

    def __init__(self, db_path: Path, scheduler: BaseScheduler) -> None:
        self.db_path = db_path
        self.scheduler = scheduler
        self.known: dict[str, str] = {}  # feed -> schedule text
        self.running: set[str] = set()
        self.lock = threading.Lock()

    def start(self) -> None:
        self.sync()
        self.scheduler.add_job(self.sync, "interval", seconds=SYNC_SECONDS, id="sweep:sync", replace_existing=True,
                               max_instances=1)

    def stop(self) -> None:
        for job in self.scheduler.get_jobs():
            if job.id.startswith("sweep:"):
                job.remove()
        self.known.clear()

    def sync(self) -> list[str]:
        """Add, reschedule or drop feed jobs; return the feeds caught up now."""
        db = open_db(self.db_path)
        try:
            feeds = list_feeds(db)
        finally:
            db.close()
        caught_up = []
        names = {f["name"] for f in feeds}
        for gone in set(self.known) - names:
            self._remove(f"sweep:feed:{gone}")
            del self.known[gone]
        for feed in feeds:
            name, text = feed["name"], feed["schedule"]
            try:
                schedule = parse_schedule(text)
            except CanaryError as exc:  # only 'feed add' writes schedules, but a bad row must not stop the rest
                log.error("feed %s: %s", name, exc)
                continue
            first_seen = name not in self.known
            if self.known.get(name) != text:
                self.scheduler.add_job(self.run, schedule.trigger(), args=[name], id=f"sweep:feed:{name}",
                                       replace_existing=True, max_instances=1, coalesce=True)
                self.known[name] = text
            if first_seen and is_due(feed["last_success_at"], schedule):
                caught_up.append(name)
                self.scheduler.add_job(self.run, "date", run_date=datetime.now(UTC), args=[name],
                                       id=f"sweep:catchup:{name}", replace_existing=True)
        return caught_up

    def run(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            if name in self.running:
                return None  # the catch-up and the schedule met: one run is enough
            self.running.add(name)
        try:
            db = open_db(self.db_path)
            try:
                outcome = run_feed(db, name)
            finally:
                db.close()
            log.info("feed %s: %s, %s finding(s)", name, outcome["status"], outcome["findings"])
            return outcome
        except Exception:  # never let one feed stop the scheduler
            log.exception("feed %s crashed", name)
            return None
        finally:
            with self.lock:
                self.running.discard(name)

    def _remove(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    if options.get("no_sweeps"):
        return []
    return [FeedScheduler(ctx.db_path, ctx.scheduler)]


def run_in_foreground(db_path: Path, stopping: threading.Event, started: Callable[[], None]) -> None:
    """`canary sweep --daemon`: the feeds on their schedules in this process (no lease), until ``stopping``."""
    serve_ctx = ServeContext(db_path=db_path)
    run_until(serve_ctx, [FeedScheduler(db_path, serve_ctx.scheduler)], stopping, started)
