"""File imports: canaries rendered as CSV or JSON rows under a column mapping, written atomically."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from canary.errors import CanaryError
from canary.files import write_atomic
from canary.plant.channels.file.columns import MAPPINGS, Record

# `mediboard`: Mediboard's own tables (patients, id_sante400, medecin) as a MariaDB dump
# (canary.plant.channels.file.mediboard_dump); the mapping does not apply to it.
FORMATS = ("csv", "json", "mediboard")


def check_options(fmt: str, mapping: str, delimiter: str, encoding: str) -> None:
    if fmt not in FORMATS:
        raise CanaryError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if mapping not in MAPPINGS:
        raise CanaryError(f"unknown mapping {mapping!r}; expected one of {', '.join(MAPPINGS)}")
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise CanaryError(f"invalid delimiter {delimiter!r}: one character, not a quote or a line break")
    try:
        "".encode(encoding)
    except LookupError as exc:
        raise CanaryError(f"unknown encoding {encoding!r}") from exc


def row_key(record: Record, mapping: str, fmt: str = "csv") -> str:
    if fmt == "mediboard":
        return str(record.get("ipp") or "")  # its id400 in id_sante400
    columns, key = MAPPINGS[mapping]
    return columns[key](record)


def render(records: Sequence[Record], *, fmt: str, mapping: str, delimiter: str = ";",
           ipp_tag: str = "IPP", database: str = "mediboard") -> str:
    if fmt == "mediboard":
        from canary.plant.channels.file import mediboard_dump

        return mediboard_dump.render(records, ipp_tag=ipp_tag, database=database)
    columns, _ = MAPPINGS[mapping]
    rows = [{name: column(record) for name, column in columns.items()} for record in records]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_export(path: Path, records: Sequence[Record], *, fmt: str, mapping: str, delimiter: str,
                 encoding: str, new_mode: int = 0o640, ipp_tag: str = "IPP", database: str = "mediboard") -> None:
    """Render and write in one atomic step; a character the encoding lacks is an error, not a '?'.

    An existing target keeps its mode and group (the import job reads it under them); a new one gets
    ``new_mode`` (setting ``plant.file_mode``)."""
    text = render(records, fmt=fmt, mapping=mapping, delimiter=delimiter, ipp_tag=ipp_tag, database=database)
    try:
        text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise CanaryError(f"{path}: a value cannot be written in {encoding} ({exc.object[exc.start:exc.end]!r});"
                          " choose another --encoding") from exc
    if path.is_dir():
        raise CanaryError(f"cannot write {path}: it is a folder; name the file, e.g. {path / 'patients.csv'}")
    if not path.parent.is_dir():
        raise CanaryError(f"cannot write {path}: folder {path.parent} does not exist")
    write_atomic(path, text, encoding=encoding, new_mode=new_mode, keep_attributes=True)
