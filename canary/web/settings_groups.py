"""The settings page by domain (the part of the name before the first dot), searched without a script."""

from __future__ import annotations

from typing import Any


def matches(row: dict[str, Any], query: str) -> bool:
    """Every word of ``query`` is in the setting's name, help text or environment variable (any case)."""
    haystack = " ".join(str(row.get(key) or "") for key in ("name", "help", "env")).lower()
    return all(word in haystack for word in query.lower().split())


def grouped(rows: list[dict[str, Any]], query: str = "") -> list[dict[str, Any]]:
    """``[{"domain", "rows"}]`` in name order, only the rows matching ``query`` (all when blank)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["name"]):
        if not query.strip() or matches(row, query):
            groups.setdefault(row["name"].split(".", 1)[0], []).append(row)
    return [{"domain": domain, "rows": members} for domain, members in sorted(groups.items())]
