"""Printing rows for people (aligned columns) and for scripts (JSON)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False))


def echo_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], empty: str = "(none)") -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def echo_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool,
              empty: str = "(none)") -> None:
    """The rows as JSON for scripts, or as an aligned table for people."""
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, columns, empty=empty)
