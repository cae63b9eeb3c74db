"""Configured feeds (any source kind: a folder, a file glob, a URL, a JSON list of URLs, a folder of
Telegram exports...) and running them as sweeps, each with the state its kind keeps between runs."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.settings import get_float, get_str
from canary.store.events import utcnow
from canary.store.tx import write_transaction
from canary.watch.sweep.findings import finish_sweep, new_events, start_sweep, store_findings
from canary.watch.sweep.index import build_index
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.scanner import ScanReport, scan
from canary.watch.sweep.source_kinds import kind_of_input
from canary.watch.sweep.sources import Unreachable

log = logging.getLogger("canary.sweep")
_FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def add_feed(db: sqlite_utils.Database, name: str, source: str, schedule: str = "weekly") -> dict[str, Any]:
    if not _FEED_NAME.match(name):
        raise CanaryError(f"invalid feed name {name!r}: use lower-case letters, digits, '.', '_' or '-' (max 63)")
    if not source.strip():
        raise CanaryError("a feed needs a source: a folder, a file glob, a URL or a JSON list of URLs")
    from canary.watch.sweep.schedule import parse_schedule  # here: APScheduler costs every `canary scan` 20 ms

    parsed = parse_schedule(schedule)
    source = kind_of_input(source).feed_source(source)
    row = {"name": name, "source": source, "schedule": parsed.text, "created_at": utcnow()}
    with write_transaction(db):
        if db.execute("SELECT 1 FROM sweep_feeds WHERE name = ?", [name]).fetchone():
            raise CanaryError(f"feed {name!r} already exists")
        db.table("sweep_feeds").insert(row)
    return row


def remove_feed(db: sqlite_utils.Database, name: str) -> None:
    with write_transaction(db):
        if db.execute("DELETE FROM sweep_feeds WHERE name = ?", [name]).rowcount == 0:
            raise NotFound(f"unknown feed {name!r}; see 'canary feed list'")


def list_feeds(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("SELECT * FROM sweep_feeds ORDER BY name"))


def get_feed(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    rows = list(db.query("SELECT * FROM sweep_feeds WHERE name = ?", [name]))
    if not rows:
        raise NotFound(f"unknown feed {name!r}; see 'canary feed list'")
    return rows[0]


def run_sweep(
    db: sqlite_utils.Database, inputs: list[str], *, feed: str | None = None, jobs: int = 1,
    limits: Limits | None = None, progress: Callable[[int, int], None] | None = None, dask: str | None = None,
    sweep_id: int | None = None, shown_as: tuple[str, str] | None = None,
) -> tuple[int, ScanReport]:
    """Scan ``inputs``, store the sweep, its findings and their events; return (sweep id, report).

    ``dask``: the address of a Dask scheduler whose workers scan the units (else this machine does).
    ``sweep_id``: a sweep row the caller already started (a claim on a bounded number of scans).
    ``shown_as``: (folder, label): files under ``folder`` are stored and reported as ``label/...``.
    """
    limits = limits or Limits.from_settings(db)
    if sweep_id is None:
        sweep_id = start_sweep(db, inputs, feed)
    try:
        if dask:
            from canary.watch.sweep.cluster import scan_on_dask  # imports distributed: only when asked

            report = scan_on_dask(build_index(db), inputs, limits, dask, get_float(db, "sweep.dask_timeout"),
                                  progress=progress)
        else:
            report = scan(build_index(db), inputs, limits, jobs=jobs, progress=progress)
        if shown_as:
            report.relabel(*shown_as)
        store_findings(db, sweep_id, report.findings)
    except BaseException as exc:
        finish_sweep(db, sweep_id, None, "failed", f"{exc.__class__.__name__}: {exc}"[:500])
        raise
    finish_sweep(db, sweep_id, report, "ok")
    canaries = len({finding.canary_id for finding in report.findings})
    log.info("sweep #%s (%s) done: %d finding(s) of %d canar%s in %d file(s), %d skipped", sweep_id,
             f"feed {feed}" if feed else "inputs", len(report.findings), canaries, "y" if canaries == 1 else "ies",
             report.files, len(report.skipped))
    return sweep_id, report


def run_feed(db: sqlite_utils.Database, name: str, *, jobs: int = 1, limits: Limits | None = None) -> dict[str, Any]:
    """Run one feed now. An unreachable source is recorded (and retried at the next run), never raised."""
    feed = get_feed(db, name)
    limits = limits or Limits.from_settings(db)
    started = utcnow()
    outcome: dict[str, Any] = {"feed": name, "sweep_id": None, "status": "failed", "findings": 0, "error": None}
    state = None
    try:
        resolved = kind_of_input(feed["source"]).resolve(feed["source"], limits,
                                                         json.loads(feed.get("source_state") or "{}"))
        inputs = resolved.inputs
        sweep_id, report = run_sweep(db, inputs, feed=name, jobs=jobs, limits=limits,
                                     dask=get_str(db, "sweep.dask_scheduler") or None)
        outcome.update(sweep_id=sweep_id, findings=len(report.findings), new_events=new_events(db, sweep_id),
                       files=report.files, skipped=len(report.skipped))
        if inputs and len(report.unreachable) == len(inputs):
            outcome["error"] = "; ".join(s["reason"] for s in report.skipped if s["file"] in report.unreachable)
        elif report.files == 0 and report.skipped and all(
                s["file"] == feed["source"] for s in report.skipped):
            outcome["error"] = report.skipped[0]["reason"]
        else:
            outcome["status"] = "ok"
            state = resolved.state  # kept only once the run succeeded: a failed one is read again next time
    except (Unreachable, CanaryError) as exc:  # a reason the operator can act on: one line, no traceback
        outcome["error"] = str(exc)
    except Exception as exc:  # a feed must never take the scheduler down
        log.exception("feed %s failed", name)
        outcome["error"] = f"{exc.__class__.__name__}: {exc}"[:500]
    with write_transaction(db):
        db.execute(
            "UPDATE sweep_feeds SET last_run_at = ?, last_status = ?, last_error = ?,"
            " last_success_at = CASE WHEN ? = 'ok' THEN ? ELSE last_success_at END,"
            " source_state = COALESCE(?, source_state) WHERE name = ?",
            [started, outcome["status"], outcome["error"], outcome["status"], started,
             json.dumps(state, sort_keys=True) if state is not None else None, name])
    if outcome["status"] != "ok":
        log.warning("feed %s: %s (retried at its next run)", name, outcome["error"])
    return outcome


def due_feeds(db: sqlite_utils.Database) -> list[str]:
    """Feeds whose last success is older than their period: the runs missed while nothing was running."""
    from canary.watch.sweep.schedule import is_due, parse_schedule

    return [f["name"] for f in list_feeds(db) if is_due(f["last_success_at"], parse_schedule(f["schedule"]))]


def feed_json(feed: dict[str, Any]) -> dict[str, Any]:
    return {k: feed[k] for k in ("name", "source", "schedule", "last_run_at", "last_success_at", "last_status",
                                 "last_error")}


