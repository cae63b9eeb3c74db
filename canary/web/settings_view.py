"""Every setting with its value and where the value comes from, as the console and the API show them,
and what the console's settings form needs to edit one."""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from canary.settings import all_settings, setting_rows

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


def form_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """``settings_rows`` plus, for the console's form: the value as the text ``canary config set`` takes
    (``text``), the input to draw (``input``: text, lines, bool or choice, with ``choices``), and
    ``locked``: why the value cannot change here (``env``: the environment wins over the registry;
    ``secret``: generated secrets change from the CLI only; ``host``: it can write files, reach other hosts
    or widen trust, so it changes from the CLI only), else None."""
    declared = all_settings()
    rows = []
    for row in settings_rows(db):
        setting = declared[row["name"]]
        locked = ("secret" if setting.secret else "host" if setting.host_only else
                  "env" if row["source"] == "env" else None)
        value = row["value"]
        if setting.type is list:
            kind, text = "lines", "\n".join(str(v) for v in value or [])
        elif setting.type is bool:
            kind, text = "bool", "true" if value else "false"
        elif setting.choices:
            kind, text = "choice", "" if value is None else str(value)
        else:
            kind, text = "text", "" if value is None else str(value)
        rows.append({**row, "text": "" if setting.secret else text, "input": kind, "choices": setting.choices,
                     "locked": locked})
    return rows
