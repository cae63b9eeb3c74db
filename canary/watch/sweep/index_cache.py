"""The sweep index, kept beside the registry so a scan starts in a fraction of a second.

``<registry>-sweep.index`` holds the built :class:`SweepIndex` (every canary's values, hence the
canary→system map: owner-only, like the registry, and never scanned as a leak). It is reused while
the registry's ``sweep_index_state`` (epoch, version) is unchanged: triggers bump the version on
any change to canaries or markers. The file is signed with a key derived from ``registry.secret``,
so a file that was not written by this registry is never unpickled; a bad or stale file is rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import pickle
from collections.abc import Iterator, Mapping
from pathlib import Path

import sqlite_utils

from canary.files import write_atomic_bytes
from canary.settings import ensure_secret
from canary.watch.sweep.index_shapes import CanaryInfo, SweepIndex

FORMAT = b"canary-sweep-index-4"  # 2: match weights per name (record linkage); 3: canaries read lazily;
# 4: the classes pickled moved to index_shapes


class LazyCanaries(Mapping[str, CanaryInfo]):
    """The canaries of a cached index, each unpickled when first read.

    A scan verifies a few hundred of the registry's canaries; unpickling all 10,000 up front was a
    third of a scan's start-up. The pickles come from the signed file, like the rest of the index.
    """

    def __init__(self, packed: dict[str, bytes]) -> None:
        self._packed = packed
        self._loaded: dict[str, CanaryInfo] = {}

    def __getitem__(self, canary_id: str) -> CanaryInfo:
        info = self._loaded.get(canary_id)
        if info is None:
            info = self._loaded[canary_id] = pickle.loads(self._packed[canary_id])
        return info

    def __contains__(self, canary_id: object) -> bool:
        return canary_id in self._packed

    def __iter__(self) -> Iterator[str]:
        return iter(self._packed)

    def __len__(self) -> int:
        return len(self._packed)

    def __getstate__(self) -> dict[str, bytes]:
        return self._packed  # shipped to Dask workers without what this process has unpickled

    def __setstate__(self, packed: dict[str, bytes]) -> None:
        self.__init__(packed)  # type: ignore[misc]


def _cache_path(registry: Path) -> Path:
    return Path(f"{registry}-sweep.index")


def _state(db: sqlite_utils.Database) -> bytes:
    row = db.execute("SELECT epoch, version FROM sweep_index_state WHERE id = 1").fetchone()
    return f"{row[0]}:{row[1]}".encode() if row else b""


def _key(db: sqlite_utils.Database) -> bytes:
    return hmac.new(ensure_secret(db, "registry.secret").encode(), b"sweep-index-cache", hashlib.sha256).digest()


def load_cached(db: sqlite_utils.Database, registry: Path) -> SweepIndex | None:
    """The cached index if it was written by this registry in its current state, else None."""
    try:
        blob = _cache_path(registry).read_bytes()
    except OSError:
        return None
    mac, body = blob[:32], blob[32:]
    header = FORMAT + b"\n" + _state(db) + b"\n"
    if not body.startswith(header) or not hmac.compare_digest(mac, hmac.new(_key(db), body, "sha256").digest()):
        return None
    try:
        index, packed = pickle.loads(body[len(header):])
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # written by another version of canary: rebuilt
    if not isinstance(index, SweepIndex) or not isinstance(packed, dict):
        return None
    index.canaries = LazyCanaries(packed)
    return index


def store_cached(db: sqlite_utils.Database, registry: Path, index: SweepIndex) -> None:
    """Write the index atomically, owner-only; best effort (a sweep never fails for its cache)."""
    state = _state(db)
    if not state:
        return
    # The canaries apart, one pickle each, for LazyCanaries.
    packed = {cid: pickle.dumps(info, protocol=pickle.HIGHEST_PROTOCOL) for cid, info in index.canaries.items()}
    body = FORMAT + b"\n" + state + b"\n" + pickle.dumps((dataclasses.replace(index, canaries={}), packed),
                                                           protocol=pickle.HIGHEST_PROTOCOL)
    blob = hmac.new(_key(db), body, "sha256").digest() + body
    with contextlib.suppress(OSError):
        write_atomic_bytes(_cache_path(registry), blob)  # a mkstemp file: owner-only
