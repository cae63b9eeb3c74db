"""The file channel: an export file (CSV or JSON) rewritten whole, atomically, with the planted canaries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote

import sqlite_utils

from canary.errors import CanaryError
from canary.plant import lifecycle
from canary.plant.channels.base import Channel, Row, Target, no_check, no_receiver, no_warnings
from canary.plant.channels.file import export as fileexport
from canary.plant.reports import PlantReport, RetireReport
from canary.settings import get_str
from canary.store.registry import get_canary
from canary.store.shapes import CanaryRecord

NAME = "file"
OPTIONS: dict[str, Any] = {"format": None, "mapping": "default", "delimiter": ";", "encoding": "utf-8",
                           # format mediboard: the site's IPP tag in id_sante400, the database the dump names
                           "ipp_tag": "IPP", "database": "mediboard"}
SUFFIX_FORMATS = {".json": "json", ".sql": "mediboard"}


def parse_target(url: str, parts: SplitResult, port: int | None, query: dict[str, str]) -> Target:
    if parts.netloc not in ("", "localhost"):
        raise CanaryError(f"invalid file target {url!r}: expected file:///absolute/path")
    path = Path(unquote(parts.path))
    if not path.is_absolute() or not path.name:
        raise CanaryError(f"invalid file target {url!r}: expected file:///absolute/path/to/file")
    path = path.parent.resolve() / path.name
    return Target(NAME, path.as_uri(), path=path, options=query)


def check_options(db: sqlite_utils.Database, target: Target, options: dict[str, Any]) -> None:
    if options["format"] is None:
        suffix = target.path.suffix.lower() if target.path else ""
        options["format"] = SUFFIX_FORMATS.get(suffix, "csv")
    fileexport.check_options(options["format"], options["mapping"], options["delimiter"], options["encoding"])


def _write(db: sqlite_utils.Database, target: Target, options: dict[str, Any],
           records: Sequence[CanaryRecord]) -> None:
    assert target.path is not None  # parse_target always sets it for file targets
    fileexport.write_export(target.path, records, fmt=options["format"], mapping=options["mapping"],
                            delimiter=options["delimiter"], encoding=options["encoding"],
                            new_mode=int(get_str(db, "plant.file_mode"), 8), ipp_tag=options["ipp_tag"],
                            database=options["database"])


def plant(db: sqlite_utils.Database, system_row: Row, target: Target, options: dict[str, Any], todo: list[Row],
          report: PlantReport) -> None:
    planted = lifecycle.list_plantings(db, target=target.address, states=("planted",))
    records = [get_canary(db, row["canary_id"]) for row in planted + todo]
    try:
        _write(db, target, options, records)
    except (CanaryError, OSError) as exc:
        for row in todo:
            lifecycle.mark_failed(db, row["id"], str(exc), delivered_maybe=False, state="planned")
        report.stopped = str(exc)
        return
    for row, record in zip(todo, records[len(planted):], strict=True):
        lifecycle.mark_planted(db, row["id"], fileexport.row_key(record, options["mapping"], options["format"]))
        report.planted.append(row["canary_id"])


def retire(db: sqlite_utils.Database, target: Target, options: dict[str, Any], live: list[Row],
           report: RetireReport) -> None:
    """Rewrite the file without the leaving canaries."""
    leaving = {r["id"] for r in live}
    keep = [r for r in lifecycle.list_plantings(db, target=target.address, states=("planted",))
            if r["id"] not in leaving]
    _write(db, target, options, [get_canary(db, r["canary_id"]) for r in keep])
    lifecycle.mark_retired(db, list(leaving))
    report.retired.extend(leaving)


CHANNEL = Channel(name=NAME, schemes=("file",), options=OPTIONS, retire_strategies=(), authority_options=(),
                  parse_target=parse_target, check_options=check_options, check_target=no_check,
                  check_environment=no_check, warnings=no_warnings, plant=plant, retire=retire,
                  receiver=no_receiver)
