"""The sweep index's shapes: one canary's values as a sweep reads them, and the index of them all.

Built by :mod:`canary.watch.sweep.index`, kept and read back by :mod:`canary.watch.sweep.index_cache`,
read by the matcher and the verifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)  # slots: the cached index of 10,000 canaries unpickles twice as fast
class CanaryInfo:
    id: str
    system: str
    names: list[str] = field(default_factory=list)  # folded birth and used names
    first_names: list[str] = field(default_factory=list)
    # Match weights (bits) of agreeing on each name / first name, from their frequencies (linkage.py).
    name_bits: list[float] = field(default_factory=list)
    first_bits: list[float] = field(default_factory=list)
    city: str | None = None  # folded
    birth_date: str | None = None  # ISO
    postcode: str | None = None
    address: str | None = None  # folded line
    ipp: str | None = None
    amc_member: str | None = None
    nir: str | None = None
    nir13: str | None = None
    phones: set[str] = field(default_factory=set)  # 9 national digits
    email: str | None = None
    token: str | None = None
    hostname: str | None = None
    # Squeezed forms of the pair fields, for the cheap "is the other half nearby" test.
    squeezed: dict[str, list[bytes]] = field(default_factory=dict)
    # For an anchor of one pair field: the squeezed values of the other pair fields.
    pair_patterns: dict[str, tuple[bytes, ...]] = field(default_factory=dict)


# Per pattern: (canary id, is it a strong marker, the other pair fields to look for near the anchor).
Plan = tuple[tuple[str, bool, tuple[bytes, ...]], ...]


@dataclass
class SweepIndex:
    canaries: Mapping[str, CanaryInfo]  # a dict, or read lazily from the cache (index_cache.LazyCanaries)
    patterns: list[bytes]  # squeezed literals, one per distinct value
    entries: list[list[tuple[str, str]]]  # per pattern: (field, canary id)
    cache: Path | None = None  # where the compiled search may be kept (beside the registry)
    registry: Path | None = None
    plans: list[Plan] = field(default_factory=list)  # per pattern
    # Per pattern made only of weak anchors: the union of the other halves of every canary sharing it,
    # for the pre-check that drops most anchors before any per-canary work; None for strong markers.
    weak_others: list[tuple[bytes, ...] | None] = field(default_factory=list)
    # Per score bucket, the chance matches one unrelated record makes with these canaries (linkage.py).
    coincidence: list[float] = field(default_factory=list)

    def private_files(self) -> set[Path]:
        """The registry and its side files: full of markers, never scanned as a leak."""
        if self.registry is None:
            return set()
        folder = self.registry.resolve().parent
        return {Path(f"{self.registry}{suffix}").resolve() for suffix in ("", "-wal", "-shm", "-journal",
                                                                          "-sweep.hsdb", "-sweep.index")} | \
            set(folder.glob(f".{self.registry.name}-sweep.hsdb.*")) | \
            set(folder.glob(f".{self.registry.name}-sweep.index.*"))

    @property
    def empty(self) -> bool:
        return not self.patterns
