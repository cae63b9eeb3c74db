"""Local files, folders (recursively) and globs; a plain file larger than 64 MiB is cut into byte
ranges and a zip or plain tar archive into units of its members when several processes scan. The
kind every input no other kind claims belongs to (asked last)."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import BinaryIO

from canary.errors import CanaryError
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.source_kinds.base import Expansion, Resolved, SourceKind, State
from canary.watch.sweep.sources import REGISTRY_NOT_SCANNED, Unit, file_units, url_list

MAX_URL_LIST = 10 * 1024 * 1024  # a local .json feed index larger than this is a file to scan, not a list


def _claims(_text: str) -> bool:
    return True


def _units(item: str, expansion: Expansion) -> list[Unit]:
    path = Path(item)
    if path.is_dir():
        files: list[Path] = []
        for root, dirs, names in os.walk(path):
            dirs.sort()
            files.extend(Path(root) / n for n in sorted(names))
    elif path.is_file():
        files = [path]
    elif any(ch in item for ch in "*?["):
        files = [Path(p) for p in sorted(glob.glob(item, recursive=True)) if Path(p).is_file()]
        if not files:
            expansion.skip(item, "no file matches this pattern")
    else:
        expansion.skip(item, "no such file or folder")
        return []
    units: list[Unit] = []
    for file in files:
        if file.is_symlink() and not file.resolve().is_file():
            continue
        if file.resolve() in expansion.exclude:
            expansion.skip(str(file), REGISTRY_NOT_SCANNED)
            continue
        units.extend(file_units(file, expansion.jobs, expansion.skipped, expansion.split_min, expansion.max_expanded))
    return units


def _open(unit: Unit, _limits: Limits) -> BinaryIO:
    assert unit.path is not None
    return open(unit.path, "rb")


def _feed_source(source: str) -> str:
    if any(ch in source for ch in "*?["):
        return source
    if not Path(source).exists():
        raise CanaryError(f"feed source {source!r} does not exist (a folder, a file glob or an http(s) URL)")
    return str(Path(source).resolve())


def _resolve(source: str, _limits: Limits, _state: State) -> Resolved:
    """A local ``.json`` file holding a list of URLs (a feed index) is read as those URLs."""
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".json" and path.stat().st_size <= MAX_URL_LIST:
        urls = url_list(path.read_bytes())
        if urls is not None:
            return Resolved(urls, {})
    return Resolved([source], {})


SOURCE = SourceKind(
    name="path", order=100, summary="a file, a folder (recursively) or a glob ('drops/**/*.sql.gz'); for a feed, "
    "also a local .json file listing URLs", claims=_claims, units=_units, open=_open, feed_source=_feed_source,
    resolve=_resolve)
