"""What a parser extracts from one audit-trail line."""

from __future__ import annotations

from dataclasses import dataclass, field


class Malformed(Exception):
    """A line that does not fit its source's format. Counted and reported, never fatal."""


@dataclass(slots=True)
class AccessEntry:
    """One access as written in the trail; values stay raw until a canary is involved (speed)."""

    account: str | None
    patients: list[str] = field(default_factory=list)
    action: str | None = None
    time: str | None = None
    ip: str | None = None
