"""Durations as people type them (``30d``, ``12h``, ``1d12h``): the ``--over`` of seed, plant and rotate."""

from __future__ import annotations

import re
from datetime import timedelta

from canary.errors import CanaryError

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` (or several, ``1d12h``) to a duration; one clear error otherwise."""
    pos, seconds = 0, 0.0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if not match or match.end() == pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2).lower()]
        pos = match.end()
    if pos != len(text) or not text.strip() or seconds <= 0:
        raise CanaryError(f"invalid duration {text!r}: expected e.g. 30d, 12h, 90m or 2w / durée invalide")
    return timedelta(seconds=seconds)
