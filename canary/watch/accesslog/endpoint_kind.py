"""What every kind of access-log endpoint provides: where a ``--from`` URL is read, and the service that reads it.

A source's ``--from`` URL chooses its kind (a syslog receiver, a file tailer, a FHIR AuditEvent poller, an
audit-table poller). ``canary.watch.accesslog.sources`` (``logs add``) and the supervisor of ``canary serve``
never ask which kind they hold: they call the kind's functions below. Each kind's record sits at the end of
its service's module, with the parsing of its URL, which the service reads too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from canary.errors import CanaryError
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.sqltable import SQL_FORMATS


class Service(Protocol):
    """A ``canary serve`` service: started and stopped by the access-log supervisor."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SourceRequest:
    """What ``canary logs add`` (or the console) asked for besides ``--from``."""

    fmt: str | None = None
    pattern: str | None = None
    fields: dict[str, list[str]] | None = None
    every: str | None = None
    ipp_query: str | None = None


@dataclass(frozen=True)
class SourceSettings:
    """What is stored with the source once the kind accepted the request."""

    fmt: str
    # Seconds between two polls; None for a live source (a file followed, a syslog receiver).
    every: int | None
    # Options of this kind kept in accesslog_sources.options (JSON).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointKind:
    """One kind of endpoint: the ``--from`` URLs it reads and the service that reads them."""

    # Stored in accesslog_sources.kind and shown by 'canary logs list'.
    name: str
    # How a --from value of this kind is written, for the docs and the error naming every kind.
    usage: str
    # Whether a --from value (stripped) is this kind's; the kinds' claims never overlap.
    claims: Callable[[str], bool]
    # Refuse a malformed --from value of this kind: one CanaryError line quoting it.
    check_url: Callable[[str], None]
    # Check --format, --pattern, --field, --every, --ipp-query for this kind; what is stored.
    check_request: Callable[[SourceRequest], SourceSettings]
    # (url, other sources of this kind): refuse a clash with one of them (a syslog port taken).
    check_conflict: Callable[[str, list[dict[str, Any]]], None]
    # (registry path, source row, shared scheduler, poll interval) -> the service 'canary serve' runs.
    service: Callable[[Path, dict[str, Any], Any, float], Service]


def no_conflict(_url: str, _others: list[dict[str, Any]]) -> None:
    """For a kind whose sources may share their endpoint (two tailers of one file, two pollers of one server)."""


def refuse_database_options(request: SourceRequest) -> None:
    """--ipp-query and the database formats belong to database sources only."""
    if request.ipp_query is not None:
        raise CanaryError("--ipp-query applies to database (sql+...) sources only")
    if request.fmt in SQL_FORMATS:
        raise CanaryError(f"--format {request.fmt} reads a database table: --from sql+mysql://user@host/db?table=user_log")


def check_live_request(request: SourceRequest) -> SourceSettings:
    """A live source (a file followed, a syslog receiver): read as it comes, with a line format."""
    refuse_database_options(request)
    if request.every:
        raise CanaryError("--every applies to fhir-auditevent: and sql+ sources only (files and syslog are live)")
    if not request.fmt:
        raise CanaryError("--format is required: mediboard, regex, jsonl, csv or fhir-auditevent")
    build_parser(request.fmt, request.pattern, request.fields)  # reject a bad pattern or field now, not in the service
    return SourceSettings(request.fmt, None)
