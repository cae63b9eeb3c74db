"""How the host's IPPs relate to time: learnt by ``profile build``, used to give canaries IPPs the host
could have handed out after they were born.

A hospital hands IPPs out in time order, at a patient's first visit, so nobody is born after the
allocation of their own number, and the newborns of the maternity mark the time along the range.
From the export the profile keeps, per slice of the live IPP range, how many patients it holds and
a lower bound of when its numbers were handed out (the birth month of its MIN_COUNT-th youngest
patient, rounded down: never one patient's date), the current head of the range (rounded up past
the last number in use) and the allocation rate (IPPs per day, fitted on the newest slices), and
the age mix of the newest patients at arrival. ``IppTimeline`` reads it back:
``ipp_for(at, born)`` is an IPP the host could allocate at ``at`` to someone born ``born``.
"""

from __future__ import annotations

import math
import random
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from canary.weighted import WeightedTable

MIN_COUNT = 10  # as profile.MIN_COUNT (not imported: profile.py imports this module)
PATIENTS_PER_SLICE = 300  # enough newborns per slice for its MIN_COUNT-th youngest to be one
MAX_SLICES = 200
RATE_SLICES = 10  # newest slices the allocation rate is fitted on
MIN_TREND = 0.8  # correlation of slice order and slice dates below which IPPs do not follow time
NEWEST_SHARE = 0.1  # the newest tenth of the range gives the age mix of new patients
# Numbers nobody in the export holds, kept per slice (a merged or deleted patient's number): a canary
# given a number of an old slice takes one of these. Any other number of a dense range is some real
# patient's: the dump would show it twice, and planting it could overwrite that patient's record.
FREE_PER_SLICE = 64
ARRIVAL_BANDS = ((0, 0), (1, 4), *((low, low + 4) for low in range(5, 100, 5)), (100, 200))
# Patients numbered at their birth (a maternity's newborns, children first seen as babies): a row born
# no more than AT_BIRTH_DAYS before the newest birth among the next IPP_WINDOW numbers (the thief's test).
IPP_WINDOW = 20
AT_BIRTH_DAYS = 7
# Current age bands of the share numbered at birth.
LATER_THAN_BIRTH_DAYS = 60  # a patient not numbered at birth: numbered at least this long after it
AT_BIRTH_BANDS = ((0, 0), (1, 4), (5, 9), (10, 14), (15, 19), (20, 29), (30, 200))


class IppTimeLearner:
    """Keeps (IPP, birth day) pairs while rows stream by; ``result`` turns them into aggregates."""

    def __init__(self, has_column: bool) -> None:
        self.has_column = has_column
        self._ipps: list[str] = []
        self._born = array("l")

    def add(self, ipp: str | None, born: date | None) -> None:
        if ipp and born:
            self._ipps.append(ipp)
            self._born.append(born.toordinal())

    def result(self, ipp: dict[str, Any] | None, today: date) -> tuple[dict[str, Any] | None, str | None]:
        """(profile section, None) or (None, why the IPP/time relation could not be learnt)."""
        if not self.has_column:
            return None, "no IPP column (ipp, or --mapping COLUMN=ipp)"
        if ipp is None:
            return None, "IPPs unusable (fewer than 10 in one format)"
        prefix, length, low, high = ipp["prefix"], ipp["length"], ipp["low"], ipp["high"]
        pairs = sorted((int(v[len(prefix):]), b) for v, b in zip(self._ipps, self._born, strict=True)
                       if len(v) == length and v.startswith(prefix) and v[len(prefix):].isdigit())
        numbers = [n for n, _ in pairs]
        inside = [(n, b) for n, b in pairs if low <= n < high]
        if len(inside) < 10 * MIN_COUNT:
            return None, f"only {len(inside)} patients with both an IPP in the live range and a birth date"
        count = min(MAX_SLICES, max(10, len(inside) // PATIENTS_PER_SLICE))
        width = max(1, -(-(high - low) // count))
        births: list[list[int]] = [[] for _ in range(count)]
        for n, b in inside:
            births[min((n - low) // width, count - 1)].append(b)
        youngest: list[str | None] = []
        for born in births:
            if len(born) < MIN_COUNT:
                youngest.append(None)
                continue
            day = date.fromordinal(sorted(born)[-MIN_COUNT])
            youngest.append(f"{day.year:04d}-{day.month:02d}")
        points = [(i, _month_start(m).toordinal()) for i, m in enumerate(youngest) if m]
        if len(points) < 5 or _correlation(points) < MIN_TREND:
            return None, ("IPPs do not follow time (the youngest patients' birth dates do not rise along the "
                          "IPP range): allocation order unknown")
        newest = points[-RATE_SLICES:]
        slope = _slope([(day, low + (i + 1) * width) for i, day in newest])
        if not slope or slope <= 0 or not math.isfinite(slope):
            return None, "no allocation rate: the newest slices of the IPP range carry no rising dates"
        head = _head(numbers, slope)
        # New patients a day: numbers a day times the share of numbers in use in the newest slices.
        in_use = sum(len(births[i]) for i, _ in newest) / (len(newest) * width)
        arrivals: Counter[str] = Counter()
        first_newest = int(count * (1 - NEWEST_SHARE))
        for i in range(first_newest, count):
            if youngest[i] is None:
                continue
            when = _month_start(youngest[i] or "")
            for b in births[i]:
                age = max(0, _years(date.fromordinal(b), when))
                low_age, high_age = next(band for band in ARRIVAL_BANDS if band[0] <= age <= band[1])
                arrivals[f"{low_age}-{high_age}"] += 1
        kept = {k: v for k, v in arrivals.items() if v >= MIN_COUNT}
        at_birth, born_at = _at_birth(inside, low, width, count, today)
        return {
            "free": _free_numbers(numbers, low, width, count),
            "low": low,
            "slice": width,
            "counts": [len(b) if len(b) >= MIN_COUNT else 0 for b in births],
            "youngest": youngest,
            "rate_per_day": float(f"{slope:.3g}"),
            "new_patients_per_day": float(f"{slope * in_use:.3g}"),
            "head": head,
            "head_on": today.isoformat(),
            "arrivals": {"counts": kept, "other": sum(arrivals.values()) - sum(kept.values())},
            "at_birth": at_birth,
            "born_at": born_at,
        }, None


def _at_birth(inside: list[tuple[int, int]], low: int, width: int, count: int,
              today: date) -> tuple[dict[str, list[int]], list[str | None]]:
    """Who was numbered at birth: per current age band, [numbered at birth, rows] (each count under
    MIN_COUNT written 0, the band left out under MIN_COUNT rows); per slice, when its numbers were
    handed out: the mean birth day of the middle half of its rows numbered at birth (MIN_COUNT or more),
    in days before ``today`` (a mean of many, not a date of anyone), written in letters."""
    births = [b for _, b in inside]  # in IPP order
    newest = [-1] * len(births)
    for i in range(len(births) - 2, -1, -1):
        # Newest birth among the next IPP_WINDOW rows (a short scan: the window is small).
        newest[i] = max(births[i + 1:i + 1 + IPP_WINDOW])
    bands: dict[str, list[int]] = {}
    sums: list[list[int]] = [[] for _ in range(count)]
    end = today.toordinal()
    for (number, born), later in zip(inside, newest, strict=True):
        at = later >= 0 and born >= later - AT_BIRTH_DAYS
        age = (end - born) // 365
        low_age, high_age = next(band for band in AT_BIRTH_BANDS if band[0] <= age <= band[1])
        cell = bands.setdefault(f"{low_age}-{high_age}", [0, 0])
        cell[0] += at
        cell[1] += 1
        if at:
            sums[min((number - low) // width, count - 1)].append(born)
    shares = {k: [v[0] if v[0] >= MIN_COUNT else 0, v[1]] for k, v in bands.items() if v[1] >= MIN_COUNT}
    # Days in lower-case base 26, as the free numbers: no run of digits that could read as a code.
    times = [_letters(round(end - _middle_mean(b))) if len(b) >= MIN_COUNT else None for b in sums]
    return shares, times


def _middle_mean(days: list[int]) -> float:
    """The mean of the middle half: a few patients born long before their slice (who pass the test
    only because the next ones happen to be older still) do not drag the slice's time back."""
    ordered = sorted(days)
    quarter = len(ordered) // 4
    middle = ordered[quarter:len(ordered) - quarter]
    return sum(middle) / len(middle)


def _free_numbers(numbers: list[int], low: int, width: int, count: int) -> list[str]:
    """Per slice, up to FREE_PER_SLICE numbers that no row of the export holds, drawn with a fixed seed
    (the same export gives the same profile). Written as offsets in the slice in lower-case base 26:
    no run of digits, so no stored byte can read as a patient's date, code or number."""
    held = set(numbers)
    rng = random.Random(len(numbers))
    out: list[str] = []
    for index in range(count):
        start = low + index * width
        free = [n - start for n in range(start, start + width) if n not in held] if width <= 200_000 else []
        out.append(",".join(_letters(offset) for offset in sorted(rng.sample(free, min(FREE_PER_SLICE, len(free))))))
    return out


def _letters(number: int) -> str:
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = chr(ord("a") + digit) + text
        if not number:
            return text


def _offsets(packed: str) -> tuple[int, ...]:
    out = []
    for word in packed.split(",") if packed else ():
        value = 0
        for char in word:
            value = value * 26 + ord(char) - ord("a")
        out.append(value)
    return tuple(out)


def new_patients_per_day(profile_data: Mapping[str, Any]) -> float | None:
    """How many new patients (new IPPs in use) the host registers a day, if the profile learnt it."""
    part = profile_data.get("ipp_time")
    return float(part["new_patients_per_day"]) if part and part.get("new_patients_per_day") else None


def arrival_ages(profile_data: Mapping[str, Any]) -> WeightedTable[tuple[int, int]] | None:
    """Age bands (youngest, oldest) of the host's new patients at arrival, weighted (None: not learnt)."""
    part = profile_data.get("ipp_time")
    counts = ((part or {}).get("arrivals") or {}).get("counts") or {}
    if not counts:
        return None
    bands = sorted((tuple(int(x) for x in key.split("-")), n) for key, n in counts.items())
    return WeightedTable([(low, high) for (low, high), _ in bands], [n for _, n in bands])


def _month_start(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _correlation(points: list[tuple[int, int]]) -> float:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxy = sum((x - mx) * (y - my) for x, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    syy = sum((y - my) ** 2 for _, y in points)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def _slope(points: list[tuple[int, int]]) -> float | None:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def _head(numbers: list[int], rate: float) -> int:
    """Just past the last number of the dense run at the top (a stray test number far beyond is not
    the head), rounded up so that it is nobody's number."""
    start = len(numbers) - 1 - len(numbers) // 200
    gap = max(10, int(30 * rate))  # a month without any new patient: past the head
    last = numbers[start]
    for n in numbers[start + 1:]:
        if n - last > gap:
            break
        last = n
    unit = 10 ** max(1, len(str(last)) - 6)
    head = (last // unit + 1) * unit
    taken = set(numbers[start:])
    while head in taken:
        head += unit
    return int(head)


@dataclass(frozen=True, eq=False)
class IppTimeline:
    """The learnt IPP/time relation; every IPP it gives is in the host's format."""

    prefix: str
    digits: int
    low: int
    width: int
    counts: tuple[int, ...]
    after: tuple[int, ...]  # per slice: every number in it was handed out on or after this day (ordinal)
    rate: float  # IPPs per day
    head: int
    head_on: date
    free: tuple[tuple[int, ...], ...] = ()  # per slice: numbers nobody held at the build
    cumulative: tuple[int, ...] = ()  # running sums of counts, over the slices that have free numbers
    # Per slice: when its numbers were handed out (mean birth day of those numbered at birth; None: too
    # few), and per current age band the share of the host's patients numbered at birth.
    born_at: tuple[int | None, ...] = ()
    at_birth: tuple[tuple[int, int, float], ...] = ()
    # Running maximum of born_at over the slices (``after`` where unknown): slices from an index on are later.
    _latest: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        running, sums = 0, []
        for index, n in enumerate(self.counts):
            running += n if index < len(self.free) and self.free[index] else 0
            sums.append(running)
        object.__setattr__(self, "cumulative", tuple(sums))
        latest, top = [], 0
        for index, day in enumerate(self.born_at):  # a slice of unknown time: its lower bound
            top = max(top, day if day is not None else self.after[index] if index < len(self.after) else 0)
            latest.append(top)
        object.__setattr__(self, "_latest", tuple(latest))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> IppTimeline | None:
        part, ipp = data.get("ipp_time"), data.get("ipp")
        if not part or not ipp:
            return None
        after, latest = [], 0
        for month in part["youngest"]:
            after.append(latest)  # the slices before this one were handed out after their youngest's month
            if month:
                latest = max(latest, _month_start(month).toordinal())
        # The first slices have no slice before them: their start is one slice's time before the first
        # bound known (the time between the first two bounds), so the oldest numbers stay in reach.
        known = sorted({day for day in after if day})
        if len(known) >= 2:
            start = known[0] - (known[1] - known[0])
            after = [day or start for day in after]
        built = date.fromisoformat(part["head_on"]).toordinal()
        bands = tuple((int(k.split("-")[0]), int(k.split("-")[1]), v[0] / v[1])
                      for k, v in sorted((part.get("at_birth") or {}).items()) if v[1])
        return cls(ipp["prefix"], ipp["length"] - len(ipp["prefix"]), part["low"], part["slice"],
                   tuple(part["counts"]), tuple(after), float(part["rate_per_day"]), int(part["head"]),
                   date.fromisoformat(part["head_on"]),
                   tuple(tuple(part["low"] + i * part["slice"] + o for o in _offsets(packed))
                         for i, packed in enumerate(part.get("free") or ())),
                   born_at=tuple(None if d is None else built - _offsets(d)[0] for d in part.get("born_at") or ()),
                   at_birth=bands)

    def at_birth_share(self, age: int) -> float:
        """Share of the host's patients of this age (today) who were numbered at birth (0: not learnt)."""
        return next((share for low, high, share in self.at_birth if low <= age <= high), 0.0)

    def numbered_at_birth(self, born: date, rng: random.Random, attempt: int = 0) -> str | None:
        """A free number the host handed out about the day of ``born`` (None: that day is outside the
        slices whose time is known, or no free number near it): the position is interpolated between
        the slices' times, then one of the free numbers nearest it (further ones at later attempts)."""
        points = [(self.low + (i + 0.5) * self.width, day) for i, day in enumerate(self.born_at) if day is not None]
        day = born.toordinal()
        if len(points) < 2 or not points[0][1] <= day <= points[-1][1]:
            return None
        index = next(i for i in range(1, len(points)) if points[i][1] >= day)
        (left, since), (right, until) = points[index - 1], points[index]
        position = left + (right - left) * ((day - since) / (until - since) if until > since else 0.5)
        start = max(0, int((position - self.low) // self.width) - 1)
        near = sorted((abs(n - position), n) for slice_free in self.free[start:start + 3] for n in slice_free
                      if n >= position - self.width / 50)  # not numbered well before the birth
        if not near:
            return None
        pick = near[min(len(near) - 1, attempt + int(rng.random() * 3))][1]
        return self._format(pick)

    def _format(self, number: int) -> str:
        return self.prefix + str(number).zfill(self.digits)

    def historical(self, born: date, rng: random.Random) -> str | None:
        """A free IPP of the live range handed out after ``born`` (one nobody held at the build), slices
        weighted by the host's counts; None when no slice is surely younger than the birth or none has
        a free number (then the canary is a new patient: see ``ipp_for``)."""
        first = bisect_right(self.after, born.toordinal() - 1)  # first slice with after >= born
        if self._latest:  # and, where the slices' times are known, handed out well after the birth
            first = max(first, bisect_right(self._latest, born.toordinal() + LATER_THAN_BIRTH_DAYS - 1))
        before = self.cumulative[first - 1] if first else 0
        total = self.cumulative[-1] - before if self.cumulative else 0
        if total <= 0:
            return None
        index = min(bisect_right(self.cumulative, before + rng.random() * total), len(self.counts) - 1)
        return self._free_in(index, rng)

    def _free_in(self, index: int, rng: random.Random) -> str | None:
        """A number nobody held at the build, in slice ``index`` or the next slice that has one."""
        for later in range(index, min(len(self.free), len(self.counts))):
            if self.free[later]:
                return self._format(rng.choice(self.free[later]))
        return None

    def ipp_for(self, at: date | datetime, born: date, rng: random.Random, *, spread_days: float = 1 / 24) -> str:
        """An IPP the host could allocate at ``at`` to a new patient born ``born``: the head of the
        range projected by the allocation rate, plus up to ``spread_days`` of allocations (at least
        one number); for a time before the profile was built, in the slice handed out then (and
        after the birth). ValueError if ``born`` is after ``at``."""
        day = at.date() if isinstance(at, datetime) else at
        if born > day:
            raise ValueError(f"born {born.isoformat()} after {day.isoformat()}: no IPP can be allocated yet")
        if day >= self.head_on:
            return self._format(int(self.arrival(at) + rng.random() * max(1.0, self.rate * spread_days)))
        index = max(bisect_right(self.after, day.toordinal()) - 1, 0)
        index = max(index, bisect_right(self.after, born.toordinal() - 1))
        free = self._free_in(index, rng) if index < len(self.counts) else None
        if free is None:  # born after every slice's numbers, or none free: a number at the head
            return self._format(self.head + int(rng.random() * max(1.0, self.rate * spread_days)))
        return free

    def arrival(self, at: date | datetime) -> float:
        """Where the head stands at ``at`` (an IPP number, fractional; a date means its noon, an
        aware datetime is read in UTC): the number the host hands out then."""
        moment = at if isinstance(at, datetime) else datetime.combine(at, time(12))
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return self.head + self.rate * (moment - datetime.combine(self.head_on, time(0))).total_seconds() / 86_400


def describe_ipp_time(data: Mapping[str, Any]) -> str | None:
    """One line for ``profile show``."""
    part = data.get("ipp_time")
    if not part:
        return None
    months = [m for m in part["youngest"] if m]
    return (f"ipp/time: {len(part['youngest'])} slices handed out from {months[0]} to {months[-1]} or later; head "
            f"{part['head']} on {part['head_on']}, {part['rate_per_day']} numbers a day, "
            f"{part['new_patients_per_day']} new patients a day")
