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


@dataclass(frozen=True)
class InboxFilter:
    """The triage inbox's filter (console, ``canary inbox``, ``GET /api/v1/inbox``): every field optional."""

    state: str | None = None  # open (not resolved), acknowledged, resolved; None: all
    system: str | None = None
    channel: str | None = None
    severity: str | None = None  # at least this severe
    since: str | None = None  # UTC ISO: last seen at or after it
    search: str | None = None  # words found in the alert's systems, canaries, accounts, sources or notes

    def as_query(self) -> dict[str, str]:
        """The filter as the query string the console and the API read (empty fields left out)."""
        return {key: value for key, value in (("state", self.state), ("system", self.system),
                                              ("channel", self.channel), ("severity", self.severity),
                                              ("since", self.since), ("q", self.search)) if value}


def inbox_filter(db: sqlite_utils.Database, *, state: str | None = None, system: str | None = None,
                 channel: str | None = None, severity: str | None = None, since: str | None = None,
                 search: str | None = None) -> InboxFilter:
    """The checked filter of the triage inbox: the alerts filter, plus a channel, a least severity and a search."""
    from canary.store.events import SEVERITIES

    alerts = alert_filter(db, state=state, system=system, since=since)
    if channel:
        check_channel(db, channel)
    if severity and severity not in SEVERITIES:
        raise CanaryError(f"unknown severity {severity!r}; severities: {', '.join(SEVERITIES)}")
    words = " ".join((search or "").split())
    if len(words) > 200:
        raise CanaryError("search text too long: at most 200 characters")
    return InboxFilter(alerts.state, alerts.system, channel or None, severity or None, alerts.since, words or None)
