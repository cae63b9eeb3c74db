"""`canary export`: canaries as a JSON array or a CSV file (nested fields flattened to dotted columns)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

EXPORT_FORMATS = ("json", "csv")


def export_text(views: list[dict[str, Any]], fmt: str) -> str:
    """The export file's text for ``views`` (see canary.store.views.export_view) in ``fmt`` (json or csv)."""
    if fmt == "json":
        return json.dumps(views, ensure_ascii=False, indent=2) + "\n"
    return to_csv(views)


def to_csv(views: list[dict[str, Any]]) -> str:
    """One row per canary; the columns are every flattened key, in the order first seen."""
    rows = []
    for view in views:
        flat: dict[str, str] = {}
        _flatten(view, "", flat)
        rows.append(flat)
    columns = list(dict.fromkeys(col for row in rows for col in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    # Lists of scalars become one cell (first names space-separated, the rest ';'); lists of objects, JSON.
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            out[prefix] = " ".join(str(v) for v in value) if prefix == "first_names" else ";".join(map(str, value))
        else:
            out[prefix] = json.dumps(value, ensure_ascii=False)
    else:
        out[prefix] = "" if value is None else str(value)
