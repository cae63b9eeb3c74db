"""The sweep index, kept beside the registry so a scan starts in a fraction of a second.

``<registry>-sweep.index`` holds the built :class:`SweepIndex` (every canary's values, hence the
canary→system map: owner-only, like the registry, and never scanned as a leak). It is reused while
the registry's ``sweep_index_state`` (epoch, version) is unchanged: triggers bump the version on
any change to canaries or markers. The file is signed with a key derived from ``registry.secret``,
so a file that was not written by this registry is never unpickled; a bad or stale file is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import pickle
from pathlib import Path

import sqlite_utils

from canary.files import write_atomic_bytes
from canary.settings import ensure_secret
from canary.watch.sweep.index import SweepIndex

FORMAT = b"canary-sweep-index-2"  # 2: match weights per name (record linkage)


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
        index = pickle.loads(body[len(header):])
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # written by another version of canary: rebuilt
    return index if isinstance(index, SweepIndex) else None


def store_cached(db: sqlite_utils.Database, registry: Path, index: SweepIndex) -> None:
    """Write the index atomically, owner-only; best effort (a sweep never fails for its cache)."""
    state = _state(db)
    if not state:
        return
    body = FORMAT + b"\n" + state + b"\n" + pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
    blob = hmac.new(_key(db), body, "sha256").digest() + body
    with contextlib.suppress(OSError):
        write_atomic_bytes(_cache_path(registry), blob)  # a mkstemp file: owner-only
