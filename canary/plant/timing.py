"""When canaries arrive, and the times they carry: like a hospital's own new patients, never as one block.

A hospital creates most patient records during the admission office's working hours (Paris time), fewer in
the evening and at weekends (emergencies), almost none at night. Arrival times and document dates follow
that shape, each canary its own second.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from canary.errors import CanaryError

PARIS = ZoneInfo("Europe/Paris")
# Relative rate of new patient records per local hour, Monday to Friday; weekends and public holidays
# are a fraction of it (emergencies and maternity only).
WEEKDAY_HOURS = (0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.08, 0.35, 0.9, 1.0, 1.0, 0.9,
                 0.55, 0.6, 0.95, 1.0, 0.9, 0.7, 0.4, 0.2, 0.15, 0.1, 0.07, 0.05)
WEEKEND_SHARE = 0.25



def hour_weight(moment: datetime) -> float:
    """How many new patient records the hour holding ``moment`` sees, relative to a weekday morning."""
    local = moment.astimezone(PARIS)
    weight = WEEKDAY_HOURS[local.hour]
    return weight * WEEKEND_SHARE if local.weekday() >= 5 else weight


def arrival_times(start: datetime, over: timedelta, count: int, rng: random.Random, *,
                  min_spacing: float) -> list[datetime]:
    """``count`` strictly increasing arrival times in ``[start, start + over]``, whole seconds, at least
    ``min_spacing`` apart, spread by working hours: one in each of ``count`` equal shares of the window's
    weighted time, at a random place in its share (evenly spread, jittered, never a block)."""
    if count <= 0:
        return []
    begin, end = start.timestamp(), (start + over).timestamp()
    if (count - 1) * min_spacing > end - begin:
        raise CanaryError(f"--over {_human(over)} is too short for {count} canaries: at least {min_spacing:g} s "
                          f"between two arrivals (plant.trickle.min_spacing) needs "
                          f"{_human(timedelta(seconds=(count - 1) * min_spacing))} / durée trop courte")
    slots: list[tuple[float, float, float]] = []  # (from, to, weight per second), hour by hour
    moment = begin
    while moment < end:
        boundary = min(end, (math.floor(moment / 3600) + 1) * 3600)
        slots.append((moment, boundary, hour_weight(datetime.fromtimestamp(moment, UTC))))
        moment = boundary
    cumulative = list(accumulate((to - frm) * weight for frm, to, weight in slots))
    total = cumulative[-1]
    times = []
    for index in range(count):
        quantile = (index + rng.uniform(0.1, 0.9)) / count * total
        slot = min(bisect.bisect_left(cumulative, quantile), len(slots) - 1)
        frm, to, weight = slots[slot]
        before = cumulative[slot - 1] if slot else 0.0
        times.append(min(to, frm + (quantile - before) / weight))
    # Keep the spacing: push forward, then back from the end if the last one went past it.
    for index in range(1, count):
        times[index] = max(times[index], times[index - 1] + min_spacing)
    times[-1] = min(times[-1], end)
    for index in range(count - 2, -1, -1):
        times[index] = min(times[index], times[index + 1] - min_spacing)
    seconds = [math.floor(t) for t in times]
    seconds[0] = max(seconds[0], math.ceil(begin))
    return [datetime.fromtimestamp(s, UTC) for s in seconds]


def _human(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.0f}s"


def document_moment(canary_id: str, planted: datetime, *, max_age_days: float) -> datetime:
    """When the canary's consultation letter was written: a working-hours time before ``planted``, its own
    second, the same for every attempt of the same planting (derived from the canary and the planting)."""
    seed = hashlib.sha256(f"{canary_id}|{planted.isoformat()}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    for _ in range(50):
        candidate = planted - timedelta(seconds=rng.uniform(3600, max(3601.0, max_age_days * 86400)))
        if rng.random() < hour_weight(candidate):
            return candidate.replace(microsecond=0)
    return (planted - timedelta(hours=2)).replace(microsecond=0)
