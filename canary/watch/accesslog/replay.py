"""Backfill: run an archived trail (plain, .gz, .bz2 or .xz) through a system's watch.

Each line's dedup key is the system, its line number and the hash of its bytes, so replaying the
same archive twice (or under another name) stores nothing new.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import sqlite_utils

from canary.errors import CanaryError
from canary.watch.accesslog.engine import BatchResult, Processor
from canary.watch.accesslog.parsers import build_parser

CHUNK_SIZE = 4 << 20
_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


def open_archive(path: Path) -> IO[bytes]:
    """Open plain or compressed, recognised by content (not by name)."""
    try:
        with open(path, "rb") as probe:
            head = probe.read(6)
    except FileNotFoundError as exc:
        raise CanaryError(f"no such file: {path}") from exc
    except IsADirectoryError as exc:
        raise CanaryError(f"{path} is a directory") from exc
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            # The Gzip/BZ2/LZMA file objects are not declared IO[bytes] but read and close like one.
            return opener(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def iter_line_chunks(handle: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[list[bytes]]:
    rest = b""
    while True:
        try:
            data = handle.read(chunk_size)
        except (OSError, EOFError, lzma.LZMAError) as exc:
            # A damaged or truncated archive: keep what was read, say where it stopped.
            if rest:
                yield [rest]
            raise CanaryError(f"archive damaged or truncated: {exc}") from exc
        if not data:
            if rest:
                yield [rest]
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        rest = data[cut + 1:]
        yield data[:cut].split(b"\n")


def replay_file(
    db: sqlite_utils.Database,
    system: str,
    path: Path,
    fmt: str,
    *,
    pattern: str | None = None,
    fields: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Run every line of ``path`` through ``system``'s matching; return counts."""
    processor = Processor(db, system, build_parser(fmt, pattern, fields), label=f"replay:{path.name}")
    total = BatchResult()
    line_no = 1
    error = None
    with open_archive(path) as handle:
        try:
            for lines in iter_line_chunks(handle):
                line_no = processor.feed_lines(lines, line_no, f"al:replay:{system}", ref_name="line_no",
                                               extra={"file": path.name})
                total.add(processor.flush())
        except CanaryError as exc:
            total.add(processor.flush())
            error = str(exc)
    result = total.as_dict()
    result["last_malformed"] = total.last_malformed
    if error:
        result["error"] = f"{error} (after line {line_no - 1})"
    return result
