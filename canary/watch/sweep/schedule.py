"""Feed schedules: ``weekly`` (the default), ``daily``, ``hourly``, ``mon 03:00`` or a 5-field cron line.

Each schedule gives an APScheduler trigger and a period. The period is what catch-up compares with:
a feed whose last successful run is older than its period (the process was down when it was due)
runs as soon as the scheduler starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from canary.errors import CanaryError

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_AT = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun|daily)\s+([01]?\d|2[0-3]):([0-5]\d)$")
_NAMED = {
    "hourly": ("0 * * * *", timedelta(hours=1)),
    "daily": ("0 3 * * *", timedelta(days=1)),
    "weekly": ("0 3 * * mon", timedelta(weeks=1)),
}


@dataclass(frozen=True)
class Schedule:
    text: str
    cron: str  # minute hour day month day-of-week
    period: timedelta

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone="UTC")


def parse_schedule(text: str) -> Schedule:
    """Read an operator's schedule; raise CanaryError with the accepted forms otherwise."""
    cleaned = " ".join(text.strip().lower().split())
    if cleaned in _NAMED:
        cron, period = _NAMED[cleaned]
        return Schedule(cleaned, cron, period)
    match = _DAY_AT.match(cleaned)
    if match:
        day, hour, minute = match.groups()
        if day == "daily":
            return Schedule(cleaned, f"{int(minute)} {int(hour)} * * *", timedelta(days=1))
        return Schedule(cleaned, f"{int(minute)} {int(hour)} * * {day}", timedelta(weeks=1))
    if len(cleaned.split()) == 5:
        cleaned = _named_weekdays(cleaned)
        try:
            trigger = CronTrigger.from_crontab(cleaned, timezone="UTC")
        except ValueError as exc:
            raise CanaryError(f"invalid cron schedule {text!r}: {exc}") from exc
        return Schedule(cleaned, cleaned, _cron_period(trigger))
    raise CanaryError(f"invalid schedule {text!r}: use weekly, daily, hourly, 'mon 03:00' (day and UTC time), "
                      "'daily 03:00' or a cron line such as '0 3 * * 1'")


def _named_weekdays(cron: str) -> str:
    """Cron numbers weekdays from Sunday (0 or 7); APScheduler 3 from Monday: names avoid the shift."""
    fields = cron.split()
    if "/" not in fields[4]:
        fields[4] = re.sub(r"\d", lambda m: _DAYS[(int(m.group(0)) - 1) % 7], fields[4])
    return " ".join(fields)


def _cron_period(trigger: CronTrigger) -> timedelta:
    """The longest gap between the next few firings: a feed is late once that much has passed."""
    now = datetime.now(UTC)
    times = []
    previous = None
    for _ in range(8):
        fire = trigger.get_next_fire_time(previous, previous or now)
        if fire is None:
            break
        times.append(fire)
        previous = fire
        now = fire + timedelta(seconds=1)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return max(gaps) if gaps else timedelta(weeks=1)


def is_due(last_success_at: str | None, schedule: Schedule, now: datetime | None = None) -> bool:
    """True when a feed never succeeded or its last success is older than its period (missed runs)."""
    if not last_success_at:
        return True
    last = datetime.fromisoformat(last_success_at.replace("Z", "+00:00"))
    return (now or datetime.now(UTC)) - last >= schedule.period
