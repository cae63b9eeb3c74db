"""Filters people type, checked once for every front door (CLI, API, console).

A filter that names no known system, channel or time would match nothing and say nothing; each front
door used to check (or not) on its own, so the API answered an empty list where the CLI refused. Here a
bad value is one CanaryError with the same message everywhere (the API turns it into a 400).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from canary.errors import CanaryError, NotFound
from canary.store.events import check_channel
from canary.store.registry import get_system
from canary.store.timefilter import parse_since


@dataclass(frozen=True)
class EventFilter:
    system: str | None = None
    channel: str | None = None
    canary_id: str | None = None
    since: str | None = None  # UTC ISO, as stored


def event_filter(db: sqlite_utils.Database, *, system: str | None = None, channel: str | None = None,
                 canary_id: str | None = None, since: str | None = None) -> EventFilter:
    """The checked filter of an events query; empty values mean no filter."""
    if system:
        _known_system(db, system)
    if channel:
        check_channel(db, channel)
    return EventFilter(system or None, channel or None, canary_id or None, parse_since(since) if since else None)


ALERT_STATES = ("open", "acknowledged", "resolved")


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None  # open (not resolved), acknowledged, resolved; None: all
    system: str | None = None
    since: str | None = None


def alert_filter(db: sqlite_utils.Database, *, state: str | None = None, system: str | None = None,
                 since: str | None = None) -> AlertFilter:
    """The checked filter of an alerts query; ``state`` ``all`` or empty means every state."""
    if state and state != "all" and state not in ALERT_STATES:
        raise CanaryError(f"unknown state {state!r}; states: {', '.join(ALERT_STATES)}, all")
    if system:
        _known_system(db, system)
    return AlertFilter(None if state in (None, "", "all") else state, system or None,
                       parse_since(since) if since else None)


def _known_system(db: sqlite_utils.Database, system: str) -> None:
    # A filter naming no system is a bad request (400), not a missing resource (404).
    try:
        get_system(db, system)
    except NotFound as exc:
        raise CanaryError(str(exc)) from None
