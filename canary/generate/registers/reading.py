"""Opening a published register file as text: plain, gzip (BAN) or zip (the RPPS extract), with the
byte position of the file on disk for a progress bar."""

from __future__ import annotations

import contextlib
import gzip
import io
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from canary.errors import CanaryError

Progress = Callable[[int], None]  # bytes of the file on disk read so far


@contextlib.contextmanager
def open_text(path: Path, *, member_hint: str = "") -> Iterator[tuple[io.TextIOWrapper, Callable[[], int]]]:
    """The file's text (UTF-8, a BOM tolerated) and a function giving how far into the file we are."""
    try:
        raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed below, after the wrappers
    except OSError as exc:
        raise CanaryError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    with raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic[:2] == b"\x1f\x8b":
            stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        elif magic == b"PK\x03\x04":
            stream = _zip_member(path, raw, member_hint)
        else:
            stream = raw
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        try:
            yield text, raw.tell
        except UnicodeDecodeError as exc:
            raise CanaryError(f"{path}: not UTF-8 text as published ({exc.reason} at byte {exc.start})") from exc
        except (EOFError, gzip.BadGzipFile, zipfile.BadZipFile, OSError) as exc:
            raise CanaryError(f"{path}: damaged or truncated file ({exc})") from exc


def _zip_member(path: Path, raw: BinaryIO, hint: str) -> BinaryIO:
    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile as exc:
        raise CanaryError(f"{path}: damaged zip file ({exc})") from exc
    names = [n for n in archive.namelist() if not n.endswith("/")]
    chosen = [n for n in names if hint and hint.lower() in n.lower()] or names
    if len(chosen) != 1:
        raise CanaryError(f"{path}: zip holds {len(names)} files; unzip it and give the {hint or 'data'} file")
    return archive.open(chosen[0])  # type: ignore[return-value]


def header_columns(path: Path, line: str, separator: str, required: tuple[str, ...], what: str) -> dict[str, int]:
    """Column positions by name; a file without the published columns is refused in one line."""
    names = [name.strip().strip('"') for name in line.rstrip("\r\n").split(separator)]
    index = {name: position for position, name in reversed(list(enumerate(names)))}
    missing = [name for name in required if name not in index]
    if missing:
        raise CanaryError(f"{path}: not {what} (missing column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(repr(m) for m in missing)})")
    return index
