"""One system's page: its description, its targets, its plantings a page at a time, and (analysts) the
planner's stealth and coverage figures (``canary plan SYSTEM``).

The figures need the generator's reference tables and the communes' geography (~0.8 s to read); they
are read once per console process, on the first page that needs them, and kept on the Flask app.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlite_utils

from canary.errors import CanaryError
from canary.plant.views import planting_view
from canary.store.registry import get_system
from canary.web import cuts
from canary.web.queries import PAGE, Page, paged_rows

if TYPE_CHECKING:
    from flask import Flask

    from canary.generate.catchment import Geography
    from canary.generate.reference import Reference

# A published sample of this many records: the chance it holds a canary (`canary plan --sample`).
SAMPLE = 1000


def target_summary(db: sqlite_utils.Database, system: str, role: str) -> list[dict[str, Any]]:
    """Each target of the system with its plantings counted by state (one aggregate query)."""
    targets: dict[str, dict[str, Any]] = {}
    for target, channel, state, count in db.execute(
            "SELECT target, channel, state, COUNT(*) FROM plantings WHERE system = ? GROUP BY target, channel, state "
            "ORDER BY target", [system]).fetchall():
        row = targets.setdefault(target, {"target": target, "channel": channel, "states": {}})
        row["states"][state] = int(count)
    return [cuts.target(row, role) for row in targets.values()]


def plantings_page(db: sqlite_utils.Database, system: str, role: str, *, limit: int = PAGE,
                   before: int | None = None) -> Page:
    """The system's plantings newest first, ``limit`` at a time (the `canary plants --json` keys)."""
    sql = ("SELECT p.*, c.generation FROM plantings p JOIN canaries c ON c.id = p.canary_id WHERE p.system = ?"
           + (" AND p.id < ?" if before is not None else "") + " ORDER BY p.id DESC LIMIT ?")
    params: list[Any] = [system, *([before] if before is not None else []), limit + 1]
    rows = []
    for row in db.query(sql, params):
        row["options"] = json.loads(row["options"])
        row["resources"] = json.loads(row["resources"])
        rows.append(cuts.planting(planting_view(row), role))
    return paged_rows(rows, limit)


def generations(db: sqlite_utils.Database, system: str) -> list[dict[str, Any]]:
    return [{"generation": g, "active": int(a), "retired": int(r)} for g, a, r in db.execute(
        "SELECT generation, SUM(status = 'active'), SUM(status = 'retired') FROM canaries WHERE system = ? "
        "GROUP BY generation ORDER BY generation", [system]).fetchall()]


@dataclass(frozen=True)
class Places:
    """What the figures of every system share: the generator's reference tables (names, communes...) and
    the communes' geography, read once per console process."""

    reference: Reference
    geography: Geography


def shared_places(app: Flask) -> Places:
    """The tables, read on first use, or waited for if :func:`preload_places` is reading them."""
    places = app.extensions.get("canary.places")
    if isinstance(places, PlacesLoading):
        return places.result()
    if places is None:
        places = _load_places()
        app.extensions["canary.places"] = places
    return places


class PlacesLoading:
    """The tables being read in a background thread (started by ``serve``): reading them takes over a
    second, which the first system page an admin opened used to wait for."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._places: Places | None = None
        self._error: BaseException | None = None
        threading.Thread(target=self._read, name="planner-tables", daemon=True).start()

    def _read(self) -> None:
        try:
            self._places = _load_places()
        except BaseException as exc:  # handed to the page that needs the tables, as if it had read them
            self._error = exc
        finally:
            self._done.set()

    def result(self) -> Places:
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._places is not None
        return self._places


def preload_places(app: Flask) -> None:
    """Start reading the planner's tables now, in the background, so that no console page waits."""
    if "canary.places" not in app.extensions:
        app.extensions["canary.places"] = PlacesLoading()


def _load_places() -> Places:
    from canary.generate.catchment import Geography
    from canary.generate.reference import Reference

    reference = Reference.load()
    return Places(reference, Geography.load(reference.communes, reference.seeds_dir))


def plan_figures(db: sqlite_utils.Database, app: Flask, system: str) -> dict[str, Any]:
    """``canary plan SYSTEM --json`` (sample of 1,000), or ``{"unavailable": reason}`` when the generator
    cannot say: the system's size is unknown, or its place cannot be read."""
    from canary.generate.host import Host
    from canary.generate.pools import pools_from_settings

    places = shared_places(app)
    try:
        host = Host.load(db, system, places.reference.communes, places.reference.seeds_dir, places.geography)
    except CanaryError as exc:
        return {"unavailable": str(exc)}
    patients = host.patients()
    if not patients:
        return {"unavailable": f"patient count unknown: 'canary system edit {system} --patients N' or "
                               "'canary profile build'"}
    return host.plan(db, patients=patients, sample=SAMPLE, pools=pools_from_settings(db), today=date.today())


def system_page(db: sqlite_utils.Database, system: str, role: str, *, limit: int = PAGE,
                before: int | None = None) -> dict[str, Any]:
    row = get_system(db, system)
    active = db.execute("SELECT COUNT(*) FROM canaries WHERE system = ? AND status = 'active'", [system]).fetchone()[0]
    return {"system": row, "active": int(active), "targets": target_summary(db, system, role),
            "generations": generations(db, system), "plantings": plantings_page(db, system, role, limit=limit,
                                                                                  before=before)}
