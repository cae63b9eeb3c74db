"""The host's own surnames: learnt from the profile export as counts, then blended into the draw.

``SurnameCounter`` sees each patient's surname once while ``profile build`` reads the export and
keeps only the surnames at least ``min_count`` patients bear (the profile's rule for every
aggregate): a rarer surname, which could point at a family, never reaches the registry; its
patients are only summed in ``other``. ``HostSurnames`` then gives the generator the host's
published names at the host's own rate (the share of its patients they cover), and leaves the rest
to the department tables, which then skip the published names (they already have their share).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canary.generate.text import has_marker_word, ins_form, is_ins_name
from canary.weighted import WeightedTable


class SurnameCounter:
    """Counts surnames in INS form while an export is read; ``aggregate`` keeps the frequent ones."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._total = 0

    def add(self, values: list[str]) -> None:
        """One patient's surname columns (the first non-empty one is the name in use)."""
        if not values:
            return
        self._total += 1
        name = " ".join(ins_form(values[0]).split())
        if is_ins_name(name):
            self._counts[name] += 1

    def aggregate(self, min_count: int) -> dict[str, Any] | None:
        if self._total < min_count:
            return None
        kept = {name: n for name, n in sorted(self._counts.items(), key=lambda item: (-item[1], item[0]))
                if n >= min_count}
        return {"counts": kept, "other": self._total - sum(kept.values())}


@dataclass(frozen=True, eq=False)
class HostSurnames:
    """The host's published surnames and the share of its patients they cover."""

    table: WeightedTable[str]
    published: frozenset[str]
    share: float

    @classmethod
    def from_profile(cls, data: Mapping[str, Any] | None) -> HostSurnames | None:
        part = (data or {}).get("surnames") or {}
        counts = {name: int(n) for name, n in (part.get("counts") or {}).items()
                  if is_ins_name(name) and not has_marker_word(name)}
        if not counts:
            return None
        named = sum(int(n) for n in (part.get("counts") or {}).values()) + int(part.get("other") or 0)
        return cls(WeightedTable(list(counts), list(counts.values())), frozenset(counts),
                   sum(counts.values()) / max(1, named))

    def pick(self, rng: random.Random) -> str | None:
        """One of the host's frequent names, with the host's share of them; None: draw elsewhere."""
        return self.table.pick(rng) if rng.random() < self.share else None


def decade_of(year: int) -> int:
    return year // 10 * 10


class FirstNameCounter:
    """Counts usual first names (INS form, first of the column) by sex and birth decade while an export
    is read; ``aggregate`` keeps, per cell, the names at least ``min_count`` patients bear."""

    def __init__(self) -> None:
        self._cells: dict[str, Counter[str]] = {}
        self._totals: Counter[str] = Counter()

    def add(self, values: list[str], sex: str | None, year: int | None) -> None:
        if not values or not sex or year is None:
            return
        cell = f"{sex}:{decade_of(year)}"
        self._totals[cell] += 1
        name = (ins_form(values[0]).split() or [""])[0]  # the usual name: the first of a "Marie Claire"
        if is_ins_name(name):
            self._cells.setdefault(cell, Counter())[name] += 1

    def aggregate(self, min_count: int) -> dict[str, Any] | None:
        out = {}
        for cell, total in sorted(self._totals.items()):
            kept = {name: n for name, n in sorted(self._cells.get(cell, Counter()).items(),
                                                  key=lambda item: (-item[1], item[0])) if n >= min_count}
            if kept:
                out[cell] = {"counts": kept, "other": total - sum(kept.values())}
        return out or None


@dataclass(frozen=True, eq=False)
class HostFirstNames:
    """Per sex and birth decade, the host's published first names and the share of patients they cover."""

    cells: Mapping[str, HostSurnames]

    @classmethod
    def from_profile(cls, data: Mapping[str, Any] | None) -> HostFirstNames | None:
        cells = {}
        for cell, part in ((data or {}).get("first_names") or {}).items():
            host = HostSurnames.from_profile({"surnames": part})
            if host is not None:
                cells[cell] = host
        return cls(cells) if cells else None

    def cell(self, sex: str, year: int) -> HostSurnames | None:
        return self.cells.get(f"{sex}:{decade_of(year)}")
