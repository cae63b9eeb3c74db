"""Surname and first-name frequencies by department, from counts of real residents.

The seed tables count the surnames of about half a million real residents (municipal councillors)
nationally and per department, beside INSEE's register statistics for the rarer names no
councillor carries (see seeds/README.md). A person of department D gets:

- with the share ``local`` of D: a surname D's councillors carry, by its count there (Good-Turing
  adjusted, so that a name seen once weighs what a name seen once really recurs);
- with the share ``elsewhere``: a surname councillors carry only outside D, by its national count;
- with the share ``unseen``: a surname no councillor carries, from INSEE's tail, by its births.

Those three shares were measured per department by leaving each commune out in turn (the builder):
that is how a resident whose family sits on no council compares with the tables, so a batch shows
the same share of names a thief finds among the department's real residents, and the same
rarity profile, as the department's own people.

First names keep the national tables by sex and birth decade, each weight multiplied by the
name's lift in the department (its count there against what the national share predicts), shrunk
towards 1 for small counts: the regional flavour, more weakly than for surnames.

Everything is read once per seeds folder (``load_name_tables``) and the per-department tables are
built on first use and kept: a generator pays for the departments it draws from, once per process.
"""

from __future__ import annotations

import csv
import functools
import gzip
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from canary.generate.text import MARKER_WORDS, has_marker_word, is_ins_name
from canary.weighted import WeightedTable

# Good-Turing adjusts counts below this; larger counts are reliable as they are.
_GOOD_TURING_BELOW = 5
# First names: prior count pulling a department's lift towards 1 (a name seen 3 times where 1 was
# expected is not yet a regional name).
_FIRST_NAME_PRIOR = 5.0
# A first name is at most this many times as frequent in a department as nationally.
_FIRST_NAME_LIFT_CAP = 4.0
# Draws of a name outside a set stop trying after this many picks (the set never covers more than
# a few tenths of the weight, so this is never reached in practice).
_TRIES = 40


@dataclass(frozen=True, slots=True)
class Shares:
    """How a department's residents' surnames compare with the councillors' tables."""

    local: float
    elsewhere: float
    unseen: float


@dataclass(frozen=True, slots=True)
class LocalSurnames:
    table: WeightedTable[str]
    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class FirstNameLift:
    """How much more (or less) often a department's councillors carry each first name than the
    national counts predict, shrunk towards 1 by a prior count, capped."""

    here: dict[str, int]
    everywhere: dict[str, int]
    scale: float  # the department's councillors of that sex / all of them
    top: float  # the largest lift (the rejection bound)

    @classmethod
    def of_counts(cls, here: dict[str, int], everywhere: dict[str, int]) -> FirstNameLift:
        scale = sum(here.values()) / sum(everywhere.values())
        lift = cls(here, everywhere, scale, _FIRST_NAME_LIFT_CAP)
        return cls(here, everywhere, scale, max(1.0, *(lift.of(name) for name in here)))

    def of(self, name: str) -> float:
        expected = self.scale * self.everywhere.get(name, 0)
        return min(_FIRST_NAME_LIFT_CAP, (self.here.get(name, 0) + _FIRST_NAME_PRIOR) / (expected + _FIRST_NAME_PRIOR))


def usable(name: str) -> bool:
    """An INS name with no word a thief would grep for (TEST, DEMO, FAKE, CANAR...)."""
    return is_ins_name(name) and not has_marker_word(name)


def good_turing(counts: dict[str, int]) -> dict[str, float]:
    """Expected recurrence of each name (r* = (r+1) N(r+1) / N(r) for small counts r)."""
    of_count = Counter(counts.values())
    adjusted = {}
    for r in range(1, _GOOD_TURING_BELOW):
        if of_count[r] and of_count[r + 1]:
            # Never above the raw count nor below a tenth of it: small departments have noisy N(r).
            adjusted[r] = min(float(r), max(r / 10, (r + 1) * of_count[r + 1] / of_count[r]))
    return {name: adjusted.get(count, float(count)) for name, count in counts.items()}


def _name_rows(path: Path, columns: int) -> list[tuple[str, ...]]:
    """Rows (an INS name, then ``columns - 1`` counts) of a name table, read in one pass: lines whose
    name is not an INS name, or holds a word a thief greps for, are dropped (as ``usable`` does)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        text = fh.read()
    line = re.compile(r"^([A-Z]+(?:(?:[-' ]|--)[A-Z]+)*)" + r"\t(\d+)" * (columns - 1) + "$", re.MULTILINE)
    starts = (text.rfind("\n", 0, hit.start()) + 1 for hit in re.finditer("|".join(MARKER_WORDS), text))
    marked = {text[start:text.find("\t", start)] for start in starts}
    return [row for row in line.findall(text) if row[0] not in marked or not has_marker_word(row[0])]


def _read(path: Path) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.reader((line for line in fh if not line.startswith("#")), delimiter="\t"))


class NameTables:
    """Read-only frequencies; the per-department tables are filled in on first use (thread-safe)."""

    def __init__(self, seeds: Path) -> None:
        self.seeds = seeds
        rows = _name_rows(seeds / "names" / "surnames.tsv.gz", 3)
        seen = {name: int(residents) for name, residents, _ in rows if residents != "0"}
        weights = good_turing(seen)
        self.seen = WeightedTable(list(weights), list(weights.values()))
        tail = [(name, int(births)) for name, residents, births in rows if residents == "0"]
        self.unseen = WeightedTable([n for n, _ in tail], [b for _, b in tail])
        self.names = frozenset(seen) | frozenset(n for n, _ in tail)
        self._surname_rows = rows  # for bearers(), indexed on first use
        self._bearers: tuple[dict[str, tuple[str, ...]], int, int] | None = None
        self.shares: dict[str, Shares] = {}
        for row in _read(seeds / "names" / "surname_shares.tsv")[1:]:
            self.shares[row[0]] = Shares(float(row[2]), float(row[3]), float(row[4]))
        self.national = self.shares.get("FR", Shares(1.0, 0.0, 0.0))
        self._lock = threading.Lock()
        self._departments_text: str | None = None
        self._local: dict[str, LocalSurnames | None] = {}
        self._first_name_counts: dict[tuple[str, str], dict[str, int]] | None = None
        self._lifts: dict[tuple[str, str], FirstNameLift | None] = {}

    # -- surnames ----------------------------------------------------------------------------------
    def pick_surname(self, rng: random.Random, department: str | None = None,
                     avoid: Callable[[str], bool] | None = None) -> str:
        """A surname for a resident of ``department`` (None: the national mix); names ``avoid``
        accepts are redrawn (the host's published names, already drawn from its own counts)."""
        for _ in range(_TRIES):
            name = self._pick_once(rng, department)
            if avoid is None or not avoid(name):
                return name
        return name

    def _pick_once(self, rng: random.Random, department: str | None) -> str:
        local = self.local(department) if department else None
        shares = self.shares.get(department or "", self.national) if local else self.national
        u = rng.random()
        if local is not None and u < shares.local:
            return local.table.pick(rng)
        if u < shares.local + shares.elsewhere:
            for _ in range(_TRIES):
                name = self.seen.pick(rng)
                if local is None or name not in local.names:
                    return name
        return self.unseen.pick(rng)

    def local(self, department: str) -> LocalSurnames | None:
        """The department's councillors' surnames, Good-Turing weighted (None: no such department)."""
        if department not in self._local:
            with self._lock:
                if department not in self._local:
                    self._local[department] = self._build_local(department)
        return self._local[department]

    def _build_local(self, department: str) -> LocalSurnames | None:
        if self._departments_text is None:
            with gzip.open(self.seeds / "names" / "surnames_departments.tsv.gz", "rt", encoding="utf-8") as fh:
                self._departments_text = "\n" + fh.read()
        text = self._departments_text
        # The table is sorted by department: its block runs from its first line to the next department's.
        start = text.find(f"\n{department}\t")
        if start < 0:
            return None
        # The table is sorted by department: one regex match (C speed) spans the department's lines.
        block = re.compile(rf"(?:{re.escape(department)}\t([^\t\n]+)\t(\d+)\n?)+").match(text, start + 1)
        rows = re.findall(rf"^{re.escape(department)}\t([^\t\n]+)\t(\d+)$", block.group(0), re.MULTILINE) \
            if block else []
        known = self.names  # filtered once with the national table
        counts = {name: int(residents) for name, residents in rows if name in known}
        if not counts:
            return None
        weights = good_turing(counts)
        return LocalSurnames(WeightedTable(list(weights), list(weights.values())), frozenset(counts))

    def bearers(self, name: str, population: float) -> float | None:
        """Expected bearers of a surname among ``population`` people: the larger of its share among the
        councillors and among the births 1891-1990 (never rarer than either source says); None for a
        name the table lacks."""
        if self._bearers is None:
            with self._lock:
                if self._bearers is None:
                    rows = self._surname_rows
                    self._bearers = ({row[0]: row for row in rows}, sum(int(r[1]) for r in rows) or 1,
                                     sum(int(r[2]) for r in rows) or 1)
        index, residents, births = self._bearers
        row = index.get(name)
        if row is None:
            return None
        return max(int(row[1]) / residents, int(row[2]) / births) * population

    # -- first names -------------------------------------------------------------------------------
    def pick_first_name(self, rng: random.Random, base: WeightedTable[str], sex: str,
                        department: str | None) -> str:
        """A name of ``base`` (the national table of a sex and decade) weighted by its lift in
        ``department``: drawn from ``base`` and kept with probability lift / the largest lift
        (rejection sampling: exact, and no table to build per department and decade)."""
        lift = self.first_name_lift(department, sex) if department else None
        name = base.pick(rng)
        if lift is None:
            return name
        for _ in range(_TRIES):
            if rng.random() * lift.top <= lift.of(name):
                return name
            name = base.pick(rng)
        return name

    def first_name_lift(self, department: str, sex: str) -> FirstNameLift | None:
        key = (department, sex)
        if key not in self._lifts:
            with self._lock:
                if key not in self._lifts:
                    counts = self._first_name_table()
                    here, everywhere = counts.get(key), counts.get(("", sex))
                    self._lifts[key] = FirstNameLift.of_counts(here, everywhere) if here and everywhere else None
        return self._lifts[key]

    def _first_name_table(self) -> dict[tuple[str, str], dict[str, int]]:
        if self._first_name_counts is None:
            counts: dict[tuple[str, str], dict[str, int]] = {}
            for department, sex, name, residents in _read(self.seeds / "names" / "first_names_departments.tsv.gz")[1:]:
                counts.setdefault((department, sex), {})[name] = int(residents)
                national = counts.setdefault(("", sex), {})
                national[name] = national.get(name, 0) + int(residents)
            self._first_name_counts = counts
        return self._first_name_counts


@functools.cache
def load_name_tables(seeds_dir: Path) -> NameTables:
    """The tables of one seeds folder, read once per process (read-only afterwards)."""
    return NameTables(seeds_dir)
