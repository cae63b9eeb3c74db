"""Every setting with its value and where the value comes from, as the console and the API show them."""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from canary.settings import setting_rows

# `canary config list --json` keys, plus where the value comes from.
SETTING_KEYS = ("name", "value", "type", "env", "help", "problem", "source")


def settings_rows(db: sqlite_utils.Database, prefix: str | None = None) -> list[dict[str, Any]]:
    stored = {row[0] for row in db.execute("SELECT key FROM settings").fetchall()}
    rows = []
    for row in setting_rows(db):
        if prefix and not row["name"].startswith(prefix):
            continue
        source = "env" if os.environ.get(row["env"]) is not None else (
            "registry" if row["name"] in stored else "default")
        rows.append({**row, "source": source})
    return rows
