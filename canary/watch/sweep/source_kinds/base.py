"""What every sweep source kind provides: how an input of that kind is recognised, turned into units of
work, read, and followed from one run of a feed to the next (its own state).

A source kind is one place leaked data comes from: local files, a URL, an object store, a folder of
Telegram exports... ``canary scan`` and the feeds never ask which kind they hold: they call the kind's
functions below, through the registry (``canary.watch.sweep.source_kinds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from canary.watch.sweep.limits import Limits
from canary.watch.sweep.sources import SPLIT_MIN, Unit

# What a feed of a kind remembers between its runs (JSON, in sweep_feeds.source_state): e.g. the exports
# already scanned. Empty for a kind that reads its whole source at every run.
State = dict[str, Any]


@dataclass
class Expansion:
    """How inputs become units in this scan, and where what cannot be read is reported."""

    jobs: int = 1
    exclude: set[Path] = field(default_factory=set)  # resolved paths never read (the registry, its side files)
    split_min: int = SPLIT_MIN  # a plain file larger than this is cut into byte ranges (jobs > 1)
    max_expanded: int = Limits.max_expanded_bytes
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"} of inputs not read

    def skip(self, name: str, reason: str) -> None:
        self.skipped.append({"file": name, "reason": reason})


@dataclass(frozen=True)
class Resolved:
    """A feed's inputs for one run, and the state to keep once that run succeeded."""

    inputs: list[str]
    state: State


@dataclass(frozen=True)
class SourceKind:
    """One kind of sweep source: its inputs, its units, how a unit is read, and a feed's state."""

    name: str
    # Kinds are asked in this order which one an input is; the first that claims it takes it.
    order: int
    # What an input of this kind looks like, for the operator (docs, errors).
    summary: str
    # Whether an input (a command-line argument, a feed's source) is of this kind.
    claims: Callable[[str], bool]
    # The units of work of one input (empty if nothing to read; what cannot be read goes to expansion.skip).
    units: Callable[[str, Expansion], list[Unit]]
    # A readable stream of one whole unit of this kind (byte ranges and archive members are read by the
    # scanner from their path). Raises sources.Unreachable (a skip reason) or OSError.
    open: Callable[[Unit, Limits], BinaryIO]
    # The source as a feed stores it (checked, made absolute); CanaryError with what is wrong.
    feed_source: Callable[[str], str]
    # A feed's inputs this run, from its source and the state its last successful run kept.
    resolve: Callable[[str, Limits, State], Resolved]


def whole_source(source: str, _limits: Limits, _state: State) -> Resolved:
    """For a kind without state: every run reads the whole source."""
    return Resolved([source], {})


def as_given(source: str) -> str:
    """For a kind whose source needs no check when a feed is added."""
    return source
