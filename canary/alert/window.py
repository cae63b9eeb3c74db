"""The time window of a theft, from when the canaries found were planted.

A canary can only leak after it was planted. A dump (a leak finding) that holds canaries of
generation 5 of a system but none of generation 6, planted since and before the dump was found,
was taken between those two plantings. Planting dates come from the planting domain's
``plantings`` table when it exists and knows the system, else from ``canaries.created_at``.
A single hit (tripwire, access log) bounds only the start: other canaries being absent means nothing.
"""

from __future__ import annotations

import bisect
import functools
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.alert.shapes import SystemWindow, TheftWindow

PLANTED_STATES = ("planted", "retired")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return _parse_time(value)


@functools.lru_cache(maxsize=8192)  # canaries planted together share their timestamp
def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def theft_windows(
    db: sqlite_utils.Database, found: dict[str, set[str]], *, dump: bool, detected_at: str,
    cache: dict[Any, Any] | None = None,
) -> dict[str, SystemWindow]:
    """Per system: ``{"from", "to", "basis", "generation_found", "generation_absent"}``.

    ``cache`` (one per correlation batch) keeps each system's planting dates across the alerts of the batch.
    """
    detected = parse_time(detected_at)
    cache = {} if cache is None else cache
    return {system: _system_window(db, system, ids, dump=dump, detected=detected, cache=cache)
            for system, ids in found.items() if ids}


def overall_window(windows: dict[str, SystemWindow]) -> TheftWindow | None:
    """The alert's window: the latest start and the earliest end across systems (one theft, several sources)."""
    if not windows:
        return None
    # Unparseable bounds are skipped: comparing a datetime with None would raise.
    starts = [t for w in windows.values() if (t := parse_time(w.get("from")))]
    ends = [t for w in windows.values() if (t := parse_time(w.get("to")))]
    bases = sorted({w["basis"] for w in windows.values()})
    return {
        "from": iso(max(starts)) if starts else None,
        "to": iso(min(ends)) if ends else None,
        "basis": bases[0] if len(bases) == 1 else "+".join(bases),
        "systems": windows,
    }


def _has_plantings(db: sqlite_utils.Database, system: str) -> bool:
    if not db["plantings"].exists():
        return False
    row = db.execute(
        f"SELECT 1 FROM plantings WHERE system = ? AND planted_at IS NOT NULL "
        f"AND state IN ({', '.join('?' * len(PLANTED_STATES))}) LIMIT 1",
        [system, *PLANTED_STATES],
    ).fetchone()
    return row is not None


def _planting_rows(
    db: sqlite_utils.Database, system: str, canary_ids: set[str] | None, use_plantings: bool
) -> list[tuple[str, int, datetime | None, bool]]:
    """(canary id, generation, planted time, planted per the plantings table) for a system's canaries."""
    params: list[Any] = []
    if use_plantings:
        sql = (f"SELECT c.id, c.generation, c.created_at, MIN(p.planted_at) FROM canaries c "
               f"LEFT JOIN plantings p ON p.canary_id = c.id AND p.system = c.system "
               f"AND p.planted_at IS NOT NULL AND p.state IN ({', '.join('?' * len(PLANTED_STATES))}) "
               f"WHERE c.system = ?")
        params.extend(PLANTED_STATES)
    else:
        sql = "SELECT c.id, c.generation, c.created_at, NULL FROM canaries c WHERE c.system = ?"
    params.append(system)
    rows: list[tuple[str, int, datetime | None, bool]] = []
    if canary_ids is not None:
        ids = sorted(canary_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            chunk_sql = sql + f" AND c.id IN ({', '.join('?' * len(chunk))})"
            if use_plantings:
                chunk_sql += " GROUP BY c.id"
            rows.extend(_convert(db.execute(chunk_sql, [*params, *chunk]).fetchall()))
        return rows
    if use_plantings:
        sql += " GROUP BY c.id"
    return _convert(db.execute(sql, params).fetchall())


def _convert(raw: list[tuple[Any, ...]]) -> list[tuple[str, int, datetime | None, bool]]:
    out = []
    for cid, generation, created_at, planted_at in raw:
        planted = parse_time(planted_at)
        out.append((cid, int(generation), planted or parse_time(created_at), planted is not None))
    return out


@dataclass
class _SystemPlantings:
    """A system's canaries indexed by id, and those that may bound a window sorted by planting time."""

    by_id: dict[str, tuple[str, int, datetime | None, bool]]
    timeline: list[tuple[datetime, int, str]]

    @classmethod
    def load(cls, db: sqlite_utils.Database, system: str, use_plantings: bool) -> _SystemPlantings:
        rows = _planting_rows(db, system, None, use_plantings)
        timeline = sorted((when, generation, cid) for cid, generation, when, planted in rows
                          if when is not None and (planted or not use_plantings))
        return cls({row[0]: row for row in rows}, timeline)

    def first_absent_after(self, start: datetime, found_ids: set[str],
                           detected: datetime | None) -> tuple[datetime, int] | None:
        index = bisect.bisect_right(self.timeline, (start, sys.maxsize, "\uffff"))
        for when, generation, cid in self.timeline[index:]:
            if detected is not None and when > detected:
                return None
            if cid not in found_ids:
                return when, generation
        return None


def _system_window(
    db: sqlite_utils.Database, system: str, found_ids: set[str], *, dump: bool, detected: datetime | None,
    cache: dict[Any, Any],
) -> SystemWindow:
    if ("plantings", system) not in cache:
        cache[("plantings", system)] = _has_plantings(db, system)
    use_plantings = cache[("plantings", system)]
    basis = "plantings" if use_plantings else "canaries.created_at"
    index: _SystemPlantings | None = None
    if dump:  # a dump needs the whole system anyway: load it once per batch, then look up
        if ("rows", system) not in cache:
            cache[("rows", system)] = _SystemPlantings.load(db, system, use_plantings)
        index = cache[("rows", system)]
        found = [index.by_id[cid] for cid in found_ids if cid in index.by_id]
    else:
        found = _planting_rows(db, system, found_ids, use_plantings)
    window: SystemWindow = {"from": None, "to": None, "basis": basis,
                              "generation_found": None, "generation_absent": None}
    dated = [(when, generation) for _, generation, when, _ in found if when is not None]
    if detected is not None and dated:
        planted_before = [(when, generation) for when, generation in dated if when <= detected]
        dated = planted_before or dated
    if detected is not None and dated and all(when > detected for when, _ in dated):
        # Seen before it was ever planted: the value left from the registry side (an export file,
        # a copy of the registry), so the window opens when the canary was created.
        created = db.execute(
            f"SELECT MAX(created_at), MAX(generation) FROM canaries WHERE id IN ({', '.join('?' * len(found_ids))})",
            sorted(found_ids),
        ).fetchone()
        before: SystemWindow = window | {"from": iso(parse_time(created[0])),
                                         "basis": "canaries.created_at (before planting)",
                                         "generation_found": created[1]}
        return before
    if not dated:
        return window
    start, _ = max(dated)
    window["from"] = iso(start)
    window["generation_found"] = max(generation for _, generation in dated)
    if index is None:
        return window
    # The first canary planted after the newest one found, and before the dump was seen, yet absent from it.
    absent = index.first_absent_after(start, found_ids, detected)
    if absent:
        window["to"] = iso(absent[0])
        window["generation_absent"] = absent[1]
    return window
