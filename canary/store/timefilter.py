"""Reading operator time filters (``--since``): ISO dates and times, or a time back from now (``24h``, ``7d``).

Stored times are UTC ISO strings (``2026-11-01T08:00:00.000Z``), so a filter is turned into that form
and compared as text. A date or time without an offset is read as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from canary.errors import CanaryError

_RELATIVE = re.compile(r"^\s*(\d+)\s*(m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, option: str = "--since", now: datetime | None = None) -> str:
    """The UTC ISO time ``text`` means; CanaryError (one line, with the accepted forms) otherwise."""
    match = _RELATIVE.match(text)
    if match:
        moment = (now or datetime.now(UTC)) - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2).lower()])
        return _iso(moment)
    cleaned = text.strip()
    try:
        moment = datetime.fromisoformat(cleaned[:-1] + "+00:00" if cleaned.upper().endswith("Z") else cleaned)
    except ValueError as exc:
        raise CanaryError(f"invalid {option} {text!r}: use an ISO date or time (2026-11-01, 2026-11-01T08:00, "
                          "2026-11-01T08:00+01:00; UTC unless an offset is given) or a time back from now "
                          "(30m, 24h, 7d, 2w)") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _iso(moment)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
