"""Spreadsheet rows as text lines: one line per row, cells joined by ';'.

openpyxl reads in streaming (read-only) mode. Dates come out as ISO dates; an integer that could be
an Excel date serial (a birth date typed in a cell without a date format) is followed by that date.

A workbook is untrusted XML. Open Packaging Conventions forbid DTDs in a package, so every XML part is
checked first with defusedxml (stopping at its root element): a DTD in a worksheet skips that sheet, a
DTD anywhere else skips the workbook. openpyxl itself parses with defusedxml (or lxml without entity
resolution) when defusedxml is installed; that is checked too rather than assumed.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import IO, Any

_EXCEL_EPOCH = date(1899, 12, 30)
_SERIALS = range(1, 73051)  # 1900-01-01 .. 2099-12-31
_EMPTY_SHEET = (b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>')


class HostileSpreadsheet(ValueError):
    """A workbook (or one of its sheets) that is not read; the message is the skip reason."""


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _SERIALS:
        return f"{value} {(_EXCEL_EPOCH + timedelta(days=value)).isoformat()}"
    return str(value)


def xml_part_problem(stream: IO[bytes]) -> str | None:
    """Why an XML part must not be parsed (a DTD, or not XML at all), else None. Reads up to its root element."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    head = stream.read(4096)
    # A bare <!DOCTYPE worksheet> (no identifier, no declarations) names nothing to load or expand, and
    # openpyxl reads such a sheet anyway: refusing it would let a thief hide a sheet behind one line.
    bare = _BARE_DOCTYPE.search(head) is not None and b"<!ENTITY" not in head.upper()
    try:
        for _ in iterparse(_Chained(head, stream), events=("start",), forbid_dtd=not bare, forbid_entities=True,
                           forbid_external=True):
            return None
    except DefusedXmlException as exc:
        return f"XML with a DTD or entities ({exc.__class__.__name__}; possible entity attack)"
    except ParseError as exc:
        return f"malformed XML: {exc}"
    return "empty XML part"


_BARE_DOCTYPE = re.compile(rb"<!DOCTYPE\s+[\w:.\-]+\s*>")


class _Chained(io.RawIOBase):
    """The bytes already read, then the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.head[:len(buffer)] if self.head else self.rest.read(len(buffer))
        self.head = self.head[len(data):] if self.head else b""
        buffer[:len(data)] = data
        return len(data)


def _openpyxl_parses_safely() -> bool:
    """openpyxl picks its parsers at import time (defusedxml if installed, unless OPENPYXL_DEFUSEDXML=False)."""
    from openpyxl.xml import functions

    return functions.iterparse.__module__.startswith("defusedxml")


def _xml_problems(archive: zipfile.ZipFile) -> dict[str, str]:
    problems = {}
    for info in archive.infolist():
        if info.is_dir() or not info.filename.lower().endswith((".xml", ".rels")):
            continue
        with archive.open(info) as part:
            problem = xml_part_problem(part)
        if problem:
            problems[info.filename] = problem
    return problems


def _without(handle: IO[bytes], archive: zipfile.ZipFile, sheets: set[str]) -> IO[bytes]:
    """A copy of the package with ``sheets`` emptied, so that openpyxl never parses them."""
    copy = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the caller
    with zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as target:
        for info in archive.infolist():
            if info.filename in sheets:
                target.writestr(info.filename, _EMPTY_SHEET)
            else:
                with archive.open(info) as source, target.open(info.filename, "w") as sink:
                    while block := source.read(1024 * 1024):
                        sink.write(block)
    copy.seek(0)
    return copy


def _refused(reason: str) -> Iterator[str]:
    raise HostileSpreadsheet(reason)
    yield ""  # pragma: no cover - makes this a generator: the reason is raised when the sheet is read


def xlsx_rows(handle: IO[bytes]) -> Iterator[tuple[str, Iterator[str]]]:
    """(sheet title, its rows as text lines) for every worksheet; a refused sheet's rows raise its reason."""
    from openpyxl import load_workbook

    if not _openpyxl_parses_safely():
        raise HostileSpreadsheet("spreadsheet not read: openpyxl is not using defusedxml (OPENPYXL_DEFUSEDXML)")
    with zipfile.ZipFile(handle) as archive:
        problems = _xml_problems(archive)
        sheets = {name for name in problems if name.lower().startswith("xl/worksheets/")}
        others = sorted(set(problems) - sheets)
        if others:
            raise HostileSpreadsheet(f"{others[0]}: {problems[others[0]]}")
        source: IO[bytes] = _without(handle, archive, sheets) if sheets else handle
    if not sheets:
        handle.seek(0)
    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                path = str(getattr(sheet, "_worksheet_path", "")).lstrip("/")
                if path in sheets:
                    yield sheet.title, _refused(f"{path}: {problems[path]}")
                    continue
                yield sheet.title, (";".join(_cell_text(v) for v in row)
                                    for row in sheet.iter_rows(values_only=True))
        finally:
            workbook.close()
    finally:
        if source is not handle:
            source.close()


