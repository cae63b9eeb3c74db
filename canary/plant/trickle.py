"""Trickle planting: a generation arrives at a target over days, like the host's new patients, never as a block.

``canary plant SYSTEM --to URL --over 30d`` (and ``canary rotate ... --over``) gives each canary not yet
there an arrival time, in ascending IPP order (IPPs are handed out in time order, so the earliest arrival
gets the lowest number), at working-hours-weighted times (``canary.plant.timing``); ``canary serve`` plants
each one when it is due (``canary.plant.services``). The schedule lives in the registry: what fell due while
``serve`` was down is planted when it starts again, and each arrival is claimed in a transaction, so it is
planted once.
"""

from __future__ import annotations

import logging
import random
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.plant import schedule
from canary.plant.channels import CHANNELS
from canary.plant.channels.base import Target
from canary.plant.planter import plant_target, resolve_options, retire, select_for_retire
from canary.plant.targets import parse_target
from canary.plant.timing import arrival_times
from canary.settings import get_float
from canary.store.registry import get_host_profile, get_system, list_canaries

log = logging.getLogger("canary.plant.trickle")


@dataclass
class TrickleReport:
    system: str
    channel: str
    target: str
    trickle: int
    over_seconds: int
    scheduled: list[str] = field(default_factory=list)  # canary ids, in arrival order
    first_at: str | None = None
    last_at: str | None = None
    rate_per_day: float | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"system": self.system, "channel": self.channel, "target": self.target, "trickle": self.trickle,
                "over_seconds": self.over_seconds, "scheduled": self.scheduled, "first_at": self.first_at,
                "last_at": self.last_at, "rate_per_day": self.rate_per_day, "warnings": self.warnings}


def new_patients_per_day(db: sqlite_utils.Database, system: str) -> float | None:
    """New patients the host takes in per day, when its profile learnt it (``canary profile build``: key
    ``ipp_time.new_patients_per_day``; not the IPP numbers a day, which differ in a sparse range)."""
    data = get_host_profile(db, system) or {}
    rate = (data.get("ipp_time") or {}).get("new_patients_per_day")
    return float(rate) if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0 else None


def ipp_order(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """Natural order of IPPs: the numbers in them compared as numbers (``A99`` before ``A100``)."""
    parts = re.split(r"(\d+)", str(record.get("ipp") or ""))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)


def plan_arrivals(db: sqlite_utils.Database, system: str, count: int, over: timedelta, *, start: datetime,
                  rng: random.Random) -> tuple[list[datetime], float | None]:
    """Arrival times for ``count`` canaries; refused when the host could not have admitted that many."""
    rate = new_patients_per_day(db, system)
    days = over.total_seconds() / 86400
    if rate is not None and count > rate * days:
        raise CanaryError(f"--over {over.total_seconds() / 86400:g} days is too short for {count} canaries: the host "
                          f"admits about {rate:g} new patients a day ({rate * days:.0f} in that time); give a longer "
                          f"--over / durée trop courte pour le rythme de l'établissement")
    times = arrival_times(start, over, count, rng, min_spacing=get_float(db, "plant.trickle.min_spacing"))
    return times, rate


def schedule_plant(db: sqlite_utils.Database, system: str, url: str, over: timedelta, *,
                   start: datetime | None = None, rng: random.Random | None = None, **given: Any) -> TrickleReport:
    """Give every active canary of ``system`` not yet at the target an arrival time over ``over``."""
    get_system(db, system)
    target = parse_target(url)
    options = resolve_options(db, system, target, given)
    channel = CHANNELS[target.channel]
    channel.check_target(target, options)
    planted = {row[0] for row in db.execute("SELECT canary_id FROM plantings WHERE system = ? AND target = ? AND "
                                            "state = 'planted'", [system, target.address]).fetchall()}
    waiting = schedule.pending_canaries(db, system, target.address)
    canaries = [c for c in list_canaries(db, system=system, include_retired=False)
                if c["id"] not in planted and c["id"] not in waiting]
    if not canaries:
        if waiting:
            raise CanaryError(f"every canary of {system!r} not at {target.address} is already scheduled there; see "
                              "'canary plants --schedule' / déjà programmés")
        raise CanaryError(f"system {system!r} has no active canary left to plant at {target.address}")
    channel.check_environment(options)
    return schedule_target(db, system, target, options, [c["id"] for c in canaries], over, start=start, rng=rng)


def schedule_target(db: sqlite_utils.Database, system: str, target: Target, options: dict[str, Any],
                    canary_ids: list[str], over: timedelta, *, start: datetime | None = None,
                    rng: random.Random | None = None, retire_before: int | None = None) -> TrickleReport:
    """Store the trickle of ``canary_ids`` to ``target``: lowest IPP first; nothing stored on error."""
    records = sorted((c for c in list_canaries(db, system=system, include_retired=False) if c["id"] in canary_ids),
                     key=ipp_order)
    times, rate = plan_arrivals(db, system, len(records), over, start=start or datetime.now(UTC),
                                rng=rng or random.Random(secrets.randbits(64)))
    arrivals = [(record["id"], due) for record, due in zip(records, times, strict=True)]
    trickle_id = schedule.create(db, system, target.channel, target.address, options, int(over.total_seconds()),
                                 arrivals, retire_before=retire_before)
    return TrickleReport(system, target.channel, target.address, trickle_id, int(over.total_seconds()),
                         [cid for cid, _ in arrivals], schedule.iso(times[0]), schedule.iso(times[-1]), rate,
                         CHANNELS[target.channel].warnings(options))


# --- running what is due (canary serve) --------------------------------------------------------------

@dataclass
class Arrival:
    item: int
    canary_id: str
    target: str
    state: str  # planted, failed, skipped, or scheduled (tried again at the next check)
    error: str | None = None


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def run_due(db: sqlite_utils.Database, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
            stopping: Callable[[], bool] = lambda: False,
            pause: Callable[[float], bool] = _sleep) -> list[Arrival]:
    """Plant every arrival due by now, earliest first, one claimed at a time; a target whose link fails is
    left for the next check (its later arrivals wait, so the order by IPP holds). Arrivals that fell due
    together (missed while no runner was up) are kept ``plant.trickle.min_spacing`` apart or a little more,
    as the schedule had them, never in one block; ``pause(seconds)`` waits and says whether to stop."""
    done: list[Arrival] = []
    blocked: set[str] = set()
    spacing = get_float(db, "plant.trickle.min_spacing")
    rng = random.Random(secrets.randbits(64))
    last: float | None = None
    while not stopping():
        if last is not None:
            upcoming = schedule.next_due(db)
            if upcoming is None or upcoming > schedule.iso(clock()):
                break
            wait = last + spacing * rng.uniform(1.0, 1.5) - time.time()
            if wait > 0 and pause(wait):
                break
        item = schedule.claim_next(db, clock(), skip_targets=blocked)
        if item is None:
            break
        last = time.time()
        arrival = _plant_one(db, item)
        schedule.finish(db, item["id"], arrival.state, arrival.error)
        done.append(arrival)
        if arrival.state == "scheduled":
            blocked.add(item["target"])
            log.warning("trickle %s: %s at %s not planted yet: %s", item["trickle_id"], item["canary_id"],
                        item["target"], arrival.error)
            continue
        log.info("trickle %s: %s %s at %s", item["trickle_id"], item["canary_id"], arrival.state, item["target"])
    if not stopping():
        # Also those whose ending a stopped runner did not finish: marked done only once it is.
        for trickle in schedule.finished_trickles(db):
            try:
                _completed(db, trickle)
            except CanaryError as exc:  # the target busy with a manual run: the next check completes it
                log.warning("trickle %s: cannot complete yet: %s", trickle["id"], exc)
    return done


def _plant_one(db: sqlite_utils.Database, item: dict[str, Any]) -> Arrival:
    canary_id, address = item["canary_id"], item["target"]
    row = db.execute("SELECT status FROM canaries WHERE id = ?", [canary_id]).fetchone()
    if row is None or row[0] != "active":
        return Arrival(item["id"], canary_id, address, "skipped", "the canary was retired before its arrival")
    try:
        report = plant_target(db, item["system"], parse_target(address), item["options"], only=[canary_id])
    except CanaryError as exc:  # the target busy with a manual run, options refused now: try again later
        return Arrival(item["id"], canary_id, address, "scheduled", str(exc))
    if canary_id in report.planted or (report.already and report.ok):
        return Arrival(item["id"], canary_id, address, "planted")
    if report.stopped:
        return Arrival(item["id"], canary_id, address, "scheduled", report.stopped)
    error = "; ".join(e for c, e in report.failed if c == canary_id) or "not planted"
    return Arrival(item["id"], canary_id, address, "failed", error)


def _completed(db: sqlite_utils.Database, trickle: dict[str, Any]) -> None:
    """Every arrival of the trickle is settled: for a rotation, retire the previous generation there (only if
    the whole new one arrived), then mark it done."""
    if trickle.get("retire_before") is None:
        schedule.mark_done(db, trickle["id"], "complete")
        return
    if not schedule.all_planted(db, trickle["id"]):
        schedule.mark_done(db, trickle["id"], "previous generation kept: the new one is not fully planted / "
                                              "génération précédente conservée")
        return
    rows = select_for_retire(db, system=trickle["system"], target=trickle["target"],
                             max_generation=trickle["retire_before"])
    outcome = retire(db, rows)
    text = f"{len(outcome.retired)} previous retired, {len(outcome.failed)} failed"
    schedule.mark_done(db, trickle["id"], text)
    log.info("trickle %s complete: %s", trickle["id"], text)
