"""Rotation: plant a new generation where the system's canaries are, then retire the previous one.

Dates stay: the old plantings keep ``planted_at`` and get ``retired_at``, and each canary keeps its
``generation``, so a later sighting of a canary bounds when the data was taken.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.seeding import Generator, seed_system
from canary.plant.channels.base import Target
from canary.plant.planter import plant_target, resolve_options, retire, select_for_retire
from canary.plant.reports import PlantReport, RetireReport
from canary.plant.schedule import running_trickles
from canary.plant.targets import parse_target
from canary.plant.trickle import TrickleReport, plan_arrivals, schedule_target
from canary.store.registry import current_generation, get_system


@dataclass
class RotateReport:
    system: str
    generation: int
    canaries: list[str]
    plants: list[PlantReport] = field(default_factory=list)
    retired: RetireReport = field(default_factory=RetireReport)
    kept: list[str] = field(default_factory=list)  # targets where the previous generation stays (planting failed)
    resumed: bool = False  # an earlier rotation had stopped half-way: it was completed, nothing generated
    trickles: list[TrickleReport] = field(default_factory=list)  # --over: the arrivals scheduled per target

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.plants) and not self.retired.failed

    def as_dict(self, warnings: list[str]) -> dict[str, Any]:
        """``canary rotate --json`` and the API's rotate answer (``warnings``: the generator's, as text)."""
        return {"system": self.system, "generation": self.generation, "canaries": self.canaries,
                "resumed": self.resumed, "plants": [p.as_dict() for p in self.plants], "kept": self.kept,
                "retired": self.retired.as_dict(), "trickles": [t.as_dict() for t in self.trickles],
                "warnings": warnings, "ok": self.ok}


def planted_targets(db: sqlite_utils.Database, system: str) -> list[str]:
    rows = db.execute("SELECT DISTINCT target FROM plantings WHERE system = ? AND state = 'planted' ORDER BY target",
                      [system]).fetchall()
    return [row[0] for row in rows]


def unfinished_generation(db: sqlite_utils.Database, system: str, targets: list[str], latest: int) -> list[str]:
    """Canaries of the latest generation an earlier rotation created but did not plant everywhere, while an
    older generation is still planted: that rotation stopped half-way and is to be completed, not repeated."""
    if latest < 2:
        return []
    marks = ",".join("?" * len(targets))
    older_live = db.execute(
        f"SELECT 1 FROM plantings p JOIN canaries c ON c.id = p.canary_id WHERE p.system = ? AND p.state = 'planted' "
        f"AND c.generation < ? AND p.target IN ({marks}) LIMIT 1", [system, latest, *targets]).fetchone()
    if not older_live:
        return []
    rows = db.execute(
        f"SELECT c.id FROM canaries c WHERE c.system = ? AND c.generation = ? AND c.status = 'active' AND "
        f"(SELECT COUNT(*) FROM plantings p WHERE p.canary_id = c.id AND p.state = 'planted' "
        f"AND p.target IN ({marks})) < ? ORDER BY c.rowid", [system, latest, *targets, len(targets)]).fetchall()
    return [row[0] for row in rows]


def rotate(db: sqlite_utils.Database, system: str, count: int, generator: Generator, *, seed: int | None = None,
           keep_previous: bool = False, over: timedelta | None = None) -> RotateReport:
    """Plant a new generation wherever the system is planted, then retire the previous one. With ``over``,
    the new generation trickles in (``canary serve`` plants it) and the previous one is retired at each
    target once the new one is all there."""
    get_system(db, system)
    if running_trickles(db, system):
        raise CanaryError(f"a trickle of {system!r} is still under way (see 'canary plants --schedule'); rotate once "
                          "it is complete / arrivée progressive en cours")
    targets = planted_targets(db, system)
    if not targets:
        raise CanaryError(f"nothing of system {system!r} is planted yet; run 'canary plant {system} --to URL' first")
    latest = current_generation(db, system)
    # Options are checked before anything is generated: a bad stored target fails with nothing changed.
    plans = [(target, resolve_options(db, system, target, {})) for target in map(parse_target, targets)]
    unfinished = unfinished_generation(db, system, targets, latest)
    if over is not None:
        if unfinished:
            raise CanaryError(f"generation {latest} of {system!r} is not planted everywhere: complete that rotation "
                              "first ('canary rotate' without --over)")
        # The arrivals must fit before anything is generated: a too short --over changes nothing.
        plan_arrivals(db, system, count, over, start=datetime.now(UTC), rng=random.Random(0))
        return _rotate_over(db, system, count, generator, seed, keep_previous, over, plans, latest)
    if unfinished:
        report = RotateReport(system, latest, unfinished, resumed=True)
    else:
        canaries = seed_system(db, system, count, generator, seed=seed, generation=latest + 1)
        report = RotateReport(system, latest + 1, [c["id"] for c in canaries])
    previous = report.generation - 1
    for target, options in plans:
        planted = plant_target(db, system, target, options)
        report.plants.append(planted)
        if keep_previous:
            continue
        if not planted.ok:
            # Never leave a target without canaries: the old generation stays until the new one is in.
            report.kept.append(target.address)
            continue
        rows = select_for_retire(db, system=system, target=target.address, max_generation=previous)
        outcome = retire(db, rows)
        report.retired.retired.extend(outcome.retired)
        report.retired.failed.extend(outcome.failed)
        report.retired.warnings.extend(outcome.warnings)
    return report


def _rotate_over(db: sqlite_utils.Database, system: str, count: int, generator: Generator, seed: int | None,
                 keep_previous: bool, over: timedelta, plans: list[tuple[Target, dict[str, Any]]],
                 latest: int) -> RotateReport:
    canaries = seed_system(db, system, count, generator, seed=seed, generation=latest + 1)
    report = RotateReport(system, latest + 1, [c["id"] for c in canaries])
    for target, options in plans:
        report.trickles.append(schedule_target(db, system, target, options, report.canaries, over,
                                               retire_before=None if keep_previous else latest))
    return report
