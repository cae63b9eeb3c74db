"""Every setting with its value and where the value comes from, as the console and the API show them."""

from __future__ import annotations

import os
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import all_settings, get_setting

# `canary config list --json` keys, plus where the value comes from.
SETTING_KEYS = ("name", "value", "env", "help", "source")


def settings_rows(db: sqlite_utils.Database, prefix: str | None = None) -> list[dict[str, Any]]:
    stored = {row[0] for row in db.execute("SELECT key FROM settings").fetchall()}
    rows = []
    for setting in all_settings().values():
        if prefix and not setting.name.startswith(prefix):
            continue
        try:
            value = get_setting(db, setting.name)
        except CanaryError as exc:  # an unreadable environment value: show why instead of failing the page
            value = f"(invalid: {exc})"
        shown = ("(set)" if value else "(unset)") if setting.secret else value
        source = "env" if os.environ.get(setting.env_var) is not None else (
            "registry" if setting.name in stored else "default")
        rows.append({"name": setting.name, "value": shown, "env": setting.env_var, "help": setting.help,
                     "source": source})
    return rows
