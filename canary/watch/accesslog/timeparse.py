"""Log timestamps in their many spellings, to one sortable UTC form (the events table's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from canary.errors import CanaryError

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?(?:Z|[+-]\d{2}:?\d{2}))?")
_FR_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})[ T](\d{2}):(\d{2}):(\d{2})")
_CLF = re.compile(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}")
_BSD = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})")
_EPOCH = re.compile(r"\d{10}(?:\.\d+)?|\d{13}")
_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CanaryError(f"unknown time zone {name!r} (setting accesslog.timezone)") from exc


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_log_time(raw: str | None, local: tzinfo, now: datetime | None = None) -> str | None:
    """The first timestamp found in ``raw`` as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, else None.

    Naive times are read in ``local`` (hospital logs are usually in French local time). BSD syslog
    times carry no year: the year that puts them closest to ``now`` is chosen.
    """
    if not raw:
        return None
    text = raw.strip()
    moment = None
    if match := _ISO.search(text):
        stamp = match.group(0).replace(",", ".").replace(" Z", "Z")
        stamp = re.sub(r"\s([+-]\d{2})", r"\1", stamp)
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            moment = None
    elif match := _CLF.search(text):
        moment = datetime.strptime(match.group(0), "%d/%b/%Y:%H:%M:%S %z")
    elif match := _FR_DATE.search(text):
        d, m, y, hh, mm, ss = (int(g) for g in match.groups())
        moment = _safe(y, m, d, hh, mm, ss)
    elif match := _BSD.search(text):
        month = _MONTHS.get(match.group(1))
        if month:
            now = now or datetime.now(local)
            day, hh, mm, ss = (int(g) for g in match.groups()[1:])
            candidates = [c for c in (_safe(now.year + dy, month, day, hh, mm, ss, local) for dy in (-1, 0, 1)) if c]
            if candidates:
                moment = min(candidates, key=lambda c: abs((c - now).total_seconds()))
    elif match := _EPOCH.fullmatch(text):
        value = float(match.group(0))
        moment = datetime.fromtimestamp(value / 1000 if len(match.group(0)) == 13 else value, UTC)
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    return iso_utc(moment)


def _safe(y: int, m: int, d: int, hh: int, mm: int, ss: int, tz: tzinfo | None = None) -> datetime | None:
    try:
        return datetime(y, m, d, hh, mm, ss, tzinfo=tz)
    except ValueError:
        return None


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """``30s``, ``10m``, ``1h``, ``2d`` or plain seconds."""
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) <= 0:
        raise CanaryError(f"invalid {what} {text!r}: use e.g. 30s, 10m, 1h, 1d or a number of seconds")
    factor = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=int(match.group(1)) * factor)


def parse_expiry(text: str, now: datetime | None = None) -> str:
    """An allow-rule expiry: a date (valid through that whole day, UTC) or an ISO date-time."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC) + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError as exc:
        raise CanaryError(f"invalid --expires {text!r}: use YYYY-MM-DD or an ISO date-time") from exc
    if moment <= (now or datetime.now(UTC)):
        raise CanaryError(f"--expires {text} is already past: an allow-rule must end in the future")
    return iso_utc(moment)
