"""Spreadsheet rows as text lines: one line per row, cells joined by ';'.

openpyxl reads in streaming (read-only) mode. Dates come out as ISO dates; an integer that could be
an Excel date serial (a birth date typed in a cell without a date format) is followed by that date.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import IO, Any

_EXCEL_EPOCH = date(1899, 12, 30)
_SERIALS = range(1, 73051)  # 1900-01-01 .. 2099-12-31


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


def xlsx_rows(handle: IO[bytes]) -> Iterator[tuple[str, Iterator[str]]]:
    """(sheet title, its rows as text lines) for every worksheet."""
    from openpyxl import load_workbook

    workbook = load_workbook(handle, read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            yield sheet.title, (";".join(_cell_text(v) for v in row) for row in sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
