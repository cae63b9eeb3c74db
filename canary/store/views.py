"""How a canary is shown: the shape of `canary list`, `show` and `export` (a contract for scripts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Columns of `canary list` (the table; `--json` gives the export view).
LIST_COLUMNS = ("id", "system", "gen", "status", "name", "sex", "birth_date", "city")


def export_view(canary: Mapping[str, Any]) -> dict[str, Any]:
    """The canary's record with the registry's own fields first (id, system, generation, created_at, status)."""
    head = {k: canary.get(k) for k in ("id", "system", "generation", "created_at", "status")}
    return head | {k: v for k, v in canary.items() if k not in head}


def display_name(canary: Mapping[str, Any]) -> str:
    """Family name (used name if any) and first first name, as a person would say it."""
    names = canary.get("first_names") or [""]
    family = canary.get("used_name") or canary.get("birth_name") or ""
    return f"{family} {names[0]}".strip()


def list_row(canary: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the `canary list` table."""
    return {"id": canary["id"], "system": canary["system"], "gen": canary["generation"], "status": canary["status"],
            "name": display_name(canary), "sex": canary.get("sex"), "birth_date": canary.get("birth_date"),
            "city": (canary.get("address") or {}).get("city")}


def show_lines(view: dict[str, Any]) -> list[str]:
    """`canary show` as text: one line per field, lists of objects one item per line."""
    lines = []
    for key, value in view.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{key}:")
            lines += ["  - " + ", ".join(f"{k}={v}" for k, v in item.items() if v is not None) for item in value]
        elif isinstance(value, dict):
            lines.append(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None))
        else:
            lines.append(f"{key}: {value if value is not None else '-'}")
    return lines
