"""The fast candidate search over squeezed text: one Hyperscan database and the weak-pair pre-check.

Two engines give the same hits:

- ``native`` (``canary/watch/sweep/_native.c``, built at install when the Hyperscan headers are
  present): Hyperscan called from C, the pre-check in the C match callback. Several times faster,
  because a leak-like dump yields a weak anchor (a birth date some canary shares) in about one row
  out of three and ~98 % of them are dropped by the pre-check.
- ``python`` (the ``hyperscan`` package): the same search, the pre-check in a Python callback.

``sweep.engine`` picks one (``auto``: native when built). The compiled database is cached beside the
registry (``<registry>-sweep.hsdb``, mode 0600: it encodes the markers, so it is as sensitive as
the registry) and rebuilt when the patterns or the engine change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import hyperscan

from canary.errors import CanaryError
from canary.files import write_atomic_bytes
from canary.watch.sweep.textnorm import INDENT, RECORD_SEPARATOR

# How far (in squeezed bytes) the other half of a weak pair may sit from its anchor to be worth a look.
PAIR_WINDOW = 400
SHORT_LINE = 48  # squeezed bytes: shorter lines are fields of a multi-line record
ENGINES = ("auto", "native", "python")

Others = Sequence[tuple[bytes, ...] | None]


def native_module() -> ModuleType | None:
    """The compiled core, or None when it was not built (no Hyperscan headers at install time)."""
    try:
        from canary.watch.sweep import _native  # type: ignore[attr-defined]
    except ImportError:
        return None
    return cast(ModuleType, _native)


def slow_engine_note(engine: str) -> str | None:
    """What to tell a person at a terminal when sweeps fall back to the slower engine unasked
    (``engine``: the sweep.engine setting)."""
    if engine == "auto" and native_module() is None:
        return ("note : moteur Python, le cœur natif n'est pas compilé (installer libhyperscan-dev puis réinstaller "
                "canary) / note: Python engine, the native core is not built (install libhyperscan-dev, then "
                "reinstall canary): same findings, slower")
    return None


def resolve_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise CanaryError(f"sweep.engine: unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "auto":
        return "native" if native_module() is not None else "python"
    if engine == "native" and native_module() is None:
        raise CanaryError("sweep.engine is 'native' but the native core was not built: install the Hyperscan "
                          "headers (Debian: libhyperscan-dev) and reinstall canary, or set sweep.engine to auto")
    return engine


def pair_window(squeezed: bytes, start: int, end: int) -> tuple[int, int]:
    """Where the other half of a weak pair found at ``squeezed[start:end]`` may be: its record.

    Newlines survive squeezing and squeezing marks the tuples of SQL extended inserts and the
    objects of JSON arrays (``RECORD_SEPARATOR``), so a CSV row, a JSON line, a log line or a tuple
    bounds the search, within PAIR_WINDOW bytes each side. An indented line shorter than SHORT_LINE
    is a field of a pretty-printed record (squeezing marks indented lines with ``INDENT``): the
    window then spans PAIR_WINDOW bytes each side. A short row, tuple or object that is not
    indented is a whole record and is not widened (verification could not pair beyond it either).
    The native core computes the same window in C (other_half_near).
    """
    wide_lo = start - PAIR_WINDOW if start > PAIR_WINDOW else 0
    newline = squeezed.rfind(b"\n", wide_lo, start)
    separator = squeezed.rfind(RECORD_SEPARATOR, wide_lo, start)
    lo = max(newline, separator) + 1
    hi = squeezed.find(b"\n", end, end + PAIR_WINDOW)
    next_separator = squeezed.find(RECORD_SEPARATOR, end, hi if hi >= 0 else end + PAIR_WINDOW)
    if next_separator >= 0:
        hi = next_separator
    if lo == 0:
        lo = wide_lo
    if hi < 0:
        hi = end + PAIR_WINDOW
    indented = newline < 0 or squeezed[lo:lo + 1] in (INDENT, b"\t")
    if hi - lo < SHORT_LINE and separator <= newline and next_separator < 0 and indented:
        return wide_lo, end + PAIR_WINDOW
    return lo, hi


class Search(Protocol):
    @property
    def compiled(self) -> object:
        """The loaded database, handed to --jobs workers so they do not load it again."""

    def hits(self, squeezed: bytes) -> list[tuple[int, int]]:
        """(pattern id, end offset) of strong markers and of weak anchors whose other half is near."""


class NativeSearch:
    """Digit strings of 8 digits or more (birth dates, NIR, phones, IPP...) found by the core's own digit
    pass, the other patterns by Hyperscan (``compiled`` holds only those)."""

    def __init__(self, compiled: bytes, patterns: list[bytes], others: Others) -> None:
        native = native_module()
        assert native is not None  # resolve_engine() checked it
        self.compiled = compiled
        self._engine = native.Engine(compiled, patterns, list(others), PAIR_WINDOW, SHORT_LINE)

    def hits(self, squeezed: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = self._engine.scan(squeezed)
        return found


class PythonSearch:
    def __init__(self, compiled: hyperscan.Database, lengths: list[int], others: Others) -> None:
        self.compiled = compiled
        self.lengths = lengths
        self.others = others

    def hits(self, squeezed: bytes) -> list[tuple[int, int]]:
        find = squeezed.find
        lengths = self.lengths
        weak_others = self.others
        hits: list[tuple[int, int]] = []
        keep = hits.append

        def on_match(pid: int, _from: int, end: int, _flags: int, _context: object) -> None:
            # Most weak anchors have no other half in their record: drop them here, in the callback.
            others = weak_others[pid]
            if others is not None:
                lo, hi = pair_window(squeezed, end - lengths[pid], end)
                for pattern in others:
                    if find(pattern, lo, hi) >= 0:
                        break
                else:
                    return
            keep((pid, end))

        self.compiled.scan(squeezed, match_event_handler=on_match)
        hits.sort(key=_end_then_id)  # the native engine's order (it merges two passes)
        return hits


def _end_then_id(hit: tuple[int, int]) -> tuple[int, int]:
    return hit[1], hit[0]


def build_search(engine: str, patterns: list[bytes], lengths: list[int], others: Others, cache: Path | None = None,
                 compiled: object = None) -> Search | None:
    """The search for ``patterns`` (None without patterns); ``compiled`` reuses a parent process's database."""
    if not patterns:
        return None
    engine = resolve_engine(engine)
    digest = _digest(engine, patterns)
    if engine == "native":
        native = native_module()
        assert native is not None
        if isinstance(compiled, bytes):
            return NativeSearch(compiled, patterns, others)
        try:
            return NativeSearch(_cached(cache, digest, lambda: compile_apart(engine, patterns)), patterns, others)
        except native.NativeError:  # a damaged cache file: compile again and replace it
            return NativeSearch(_cached(cache, digest, lambda: compile_apart(engine, patterns), reuse=False),
                                patterns, others)
    if isinstance(compiled, hyperscan.Database):
        return PythonSearch(compiled, lengths, others)
    try:
        return PythonSearch(_load_python(cache, digest, patterns), lengths, others)
    except hyperscan.error:
        return PythonSearch(_load_python(cache, digest, patterns, reuse=False), lengths, others)


def portable_search(compiled: object) -> bytes | None:
    """The loaded database of a search as bytes, to ship to the workers of a Dask cluster."""
    if compiled is None or isinstance(compiled, bytes):
        return compiled
    assert isinstance(compiled, hyperscan.Database)
    return hyperscan.dumpb(compiled)


def restored_search(engine: str, blob: bytes) -> object:
    """What :func:`portable_search` gave, as ``build_search(compiled=...)`` takes it on ``engine``."""
    if resolve_engine(engine) == "native":
        return blob
    database = hyperscan.loadb(blob, mode=hyperscan.HS_MODE_BLOCK)
    database.scratch = hyperscan.Scratch(database)
    return database


def _digest(engine: str, patterns: list[bytes]) -> bytes:
    """Ties a cached database to its patterns and to the library that compiled it."""
    native = native_module()
    library = native.version() if engine == "native" and native is not None else getattr(hyperscan, "__version__", "")
    # The native database leaves digit strings and long literals to the core's own passes: which ones is
    # part of what the database is.
    layout = f" {native.OWN_PASSES}" if engine == "native" and native is not None else ""
    return hashlib.sha256(f"{engine} {library}{layout}\n".encode() + b"\n".join(patterns)).hexdigest().encode()


_NOT_ALNUM = re.compile(rb"[^A-Za-z0-9]")


def compile_blob(engine: str, patterns: list[bytes]) -> bytes:
    """The serialized Hyperscan database of ``patterns`` (pattern i has id i) for ``engine``."""
    if engine == "native":
        native = native_module()
        if native is None:
            raise CanaryError("the native sweep core is not built")
        compiled: bytes = native.compile(patterns)
        return compiled
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    expressions = [_NOT_ALNUM.sub(lambda m: b"\\x%02x" % m.group()[0], p) for p in patterns]
    database.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions))
    return hyperscan.dumpb(database)


def compile_apart(engine: str, patterns: list[bytes]) -> bytes:
    """``compile_blob`` in a child interpreter that holds only the patterns.

    Compiling 70,000 literals peaks near 200 MB; beside the index of the sweep (~130 MB) that would
    pass the 300 MB a sweep may use. In a child, the largest process stays under 200 MB. Falls
    back to compiling here if no child can be started.
    """
    payload = engine.encode() + b"\n" + b"".join(len(p).to_bytes(4, "big") + p for p in patterns)
    package_root = str(Path(__file__).resolve().parents[3])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    try:
        done = subprocess.run([sys.executable, "-m", "canary.watch.sweep.compile_worker"], input=payload,
                              capture_output=True, env=env, check=False)
    except OSError:
        return compile_blob(engine, patterns)
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CanaryError(f"compiling the sweep patterns failed: {detail[-1] if detail else done.returncode}")
    return done.stdout


def _load_python(cache: Path | None, digest: bytes, patterns: list[bytes], reuse: bool = True) -> hyperscan.Database:
    blob = _cached(cache, digest, lambda: compile_apart("python", patterns), reuse)
    database = hyperscan.loadb(blob, mode=hyperscan.HS_MODE_BLOCK)
    database.scratch = hyperscan.Scratch(database)  # a loaded database comes without one
    return database


def _cached(cache: Path | None, digest: bytes, compile_blob: Callable[[], bytes], reuse: bool = True) -> bytes:
    """The serialized database from ``cache`` when it matches ``digest``, else compiled and cached.

    Compiling 70,000 patterns takes seconds; the cache makes a scan start at once.
    """
    if cache is not None and reuse:
        with contextlib.suppress(OSError):
            blob = cache.read_bytes()
            if blob[:64] == digest:
                return blob[64:]
    blob = compile_blob()
    if cache is not None:
        _write_cache(cache, digest + blob)
    return blob


def _write_cache(cache: Path, blob: bytes) -> None:
    """Atomic (two sweeps may compile at once) and owner-only; best effort."""
    with contextlib.suppress(OSError):
        write_atomic_bytes(cache, blob)  # a mkstemp file: owner-only
