"""What every planting channel provides, and the target it works on.

A channel is one way into a hospital system (MLLP, FHIR, a file drop). The lifecycle in
``canary.plant.planter`` never asks which one it holds: it calls the channel's functions below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

import sqlite_utils

from canary.errors import CanaryError
from canary.plant.reports import PlantReport, RetireReport
from canary.settings import get_setting

Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    channel: str
    # Canonical address, never with credentials: it is stored, printed and keyed on.
    address: str
    host: str | None = None
    port: int | None = None
    path: Path | None = None
    # Non-secret settings of the target (query parameters of the URL and CLI options).
    options: dict[str, Any] = field(default_factory=dict)
    # MLLP inside TLS (mllps://): same channel and messages, another address.
    tls: bool = False


@dataclass(frozen=True)
class Channel:
    """One channel: its URL schemes, its options and what it does at each step of the lifecycle."""

    name: str
    # URL schemes read into this channel's targets.
    schemes: tuple[str, ...]
    # Options the channel accepts, with their defaults (None: no default).
    options: dict[str, Any]
    # How a planting is removed (the first is the default of the plant.<name>.retire setting); () if fixed.
    retire_strategies: tuple[str, ...]
    # (url, split url, port, query) -> the target, canonical address; CanaryError if malformed.
    parse_target: Callable[[str, SplitResult, int | None, dict[str, str]], Target]
    # Check the merged options before anything is planned, completing them in place (defaults that depend
    # on the target, absolute paths).
    check_options: Callable[[sqlite_utils.Database, Target, dict[str, Any]], None]
    # Checked before the target's lock is taken (options remembered from older plantings included).
    check_target: Callable[[Target, dict[str, Any]], None]
    # Checked once the system has canaries to plant, before any row is planned (environment, secrets).
    check_environment: Callable[[dict[str, Any]], None]
    # Options naming the establishment's IPP assigning authority (either will do); () where the channel has none.
    # Without one, canaries carry another authority than the real patients there (a filter for a thief).
    authority_options: tuple[str, ...]
    # Warnings printed with the outcome: what makes canaries stand out from real patients there.
    warnings: Callable[[dict[str, Any]], list[str]]
    # (db, system row, target, options, rows to plant, report): deliver and mark each row.
    plant: Callable[[sqlite_utils.Database, Row, Target, dict[str, Any], list[Row], PlantReport], None]
    # (db, target, options, planted rows, report): remove them; only what the target confirmed is retired.
    retire: Callable[[sqlite_utils.Database, Target, dict[str, Any], list[Row], RetireReport], None]
    # What the plantings table shows as the receiver of a planting, or None.
    receiver: Callable[[dict[str, Any]], str | None]


def url_host(hostname: str) -> str:
    """A host as written in a canonical address: IPv6 in brackets, names in lower case."""
    return f"[{hostname}]" if ":" in hostname else hostname.lower()


def no_check(*_: Any) -> None:
    """For a channel with nothing to check at that step."""


def no_warnings(_: dict[str, Any]) -> list[str]:
    return []


def no_receiver(_: dict[str, Any]) -> str | None:
    return None


def lacks_authority(channel: Channel, options: dict[str, Any]) -> bool:
    """The channel has an IPP assigning authority to configure and none of its options is set."""
    return bool(channel.authority_options) and not any(options.get(name) for name in channel.authority_options)


def check_retire_option(channel: Channel, options: dict[str, Any]) -> None:
    """The target's retire option, when given, is one of the channel's strategies."""
    strategy = options.get("retire")
    if strategy is not None and strategy not in channel.retire_strategies:
        raise CanaryError(f"invalid retire {strategy!r} for {channel.name} targets; expected one of "
                          f"{', '.join(channel.retire_strategies)}")


def retire_strategy(db: sqlite_utils.Database, channel: Channel, options: dict[str, Any]) -> str:
    """The target's retire option, else the channel's setting."""
    strategy = options.get("retire") or get_setting(db, f"plant.{channel.name}.retire")
    if strategy not in channel.retire_strategies:
        raise CanaryError(f"invalid retire {strategy!r} for {channel.name} targets; expected one of "
                          f"{', '.join(channel.retire_strategies)}")
    return str(strategy)
