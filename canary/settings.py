"""One declarative table of settings.

Each entry names its type, default and meaning. A value comes from the environment
(``CANARY_`` + the name upper-cased with dots as underscores), else the registry's ``settings``
table (``canary config set``), else the default. Domains declare theirs in their own
``settings.py`` (listed in ``SETTING_MODULES``) so the table stays one list for the operator.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.errors import CanaryError


@dataclass(frozen=True)
class Setting:
    name: str
    type: type  # str, int, float, bool or list (list of strings)
    default: Any
    help: str
    secret: bool = False
    # Refuses a value before it is stored (raises CanaryError), e.g. a password typed into a URL.
    check: Callable[[Any], None] | None = None

    @property
    def env_var(self) -> str:
        return "CANARY_" + self.name.upper().replace(".", "_").replace("-", "_")

    def parse(self, raw: str) -> Any:
        """Turn operator text (CLI or environment) into a typed value."""
        try:
            if self.type is bool:
                lowered = raw.strip().lower()
                if lowered in ("1", "true", "yes", "on", "oui"):
                    return True
                if lowered in ("0", "false", "no", "off", "non", ""):
                    return False
                raise ValueError(raw)
            if self.type is list:
                if raw.strip().startswith("["):
                    value = json.loads(raw)
                    if not isinstance(value, list):
                        raise ValueError(raw)
                    return [str(v) for v in value]
                return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]
            return self.type(raw)
        except (ValueError, json.JSONDecodeError) as exc:
            raise CanaryError(f"setting {self.name}: cannot read {raw!r} as {self.type.__name__}") from exc


CORE_SETTINGS = [
    Setting("pool.phones", list, [],
            "Phone numbers the operator owns (E.164, or ranges +33612340000-+33612340999). "
            "Canaries get phones only from this pool."),
    Setting("pool.mail_domains", list, [],
            "Mail domains the operator owns, whose MX points at the canary mail receiver. "
            "Canaries get e-mail addresses only on these domains."),
    Setting("tripwire.base_url", str, "",
            "Public base URL of the callback listener, e.g. https://portail-patient.example.fr"),
    Setting("tripwire.dns_zone", str, "",
            "DNS zone delegated to the canary DNS listener, e.g. docs.example.fr"),
    Setting("registry.secret", str, "",
            "Key that derives callback tokens; generated on first use.", secret=True),
    Setting("web.secret_key", str, "",
            "Key signing console sessions; generated on first use.", secret=True),
    Setting("serve.lease_seconds", float, 30.0,
            "How long the scheduler and delivery leases of 'canary serve --role' last without renewal: "
            "another host takes a role over this long after its holder died (same host: at once)."),
]

SETTING_MODULES = [
    "canary.generate.settings",
    "canary.plant.settings",
    "canary.watch.sweep.settings",
    "canary.watch.tripwire.settings",
    "canary.watch.accesslog.settings",
    "canary.alert.settings",
]


def all_settings() -> dict[str, Setting]:
    table = {s.name: s for s in CORE_SETTINGS}
    for module_name in SETTING_MODULES:
        for setting in getattr(importlib.import_module(module_name), "SETTINGS", []):
            if setting.name in table:
                raise RuntimeError(f"setting {setting.name} declared twice")
            table[setting.name] = setting
    return table


def _lookup(name: str) -> Setting:
    table = all_settings()
    if name not in table:
        raise CanaryError(f"unknown setting {name!r}; see 'canary config list'")
    return table[name]


def get_setting(db: sqlite_utils.Database, name: str) -> Any:
    setting = _lookup(name)
    env = os.environ.get(setting.env_var)
    if env is not None:
        return setting.parse(env)
    row = db.execute("SELECT value FROM settings WHERE key = ?", [name]).fetchone()
    if row is not None:
        return json.loads(row[0])
    return setting.default


def set_setting(db: sqlite_utils.Database, name: str, value: Any) -> Any:
    """Store a value (operator text is parsed by the setting's type); return the typed value."""
    setting = _lookup(name)
    typed = setting.parse(value) if isinstance(value, str) and setting.type is not str else value
    if setting.check is not None:
        setting.check(typed)
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [name, json.dumps(typed, ensure_ascii=False), datetime.now(UTC).isoformat(timespec="seconds")],
    )
    return typed


def unset_setting(db: sqlite_utils.Database, name: str) -> None:
    _lookup(name)
    db.execute("DELETE FROM settings WHERE key = ?", [name])


def ensure_secret(db: sqlite_utils.Database, name: str) -> str:
    """Return a secret setting, generating and storing it the first time."""
    value = get_setting(db, name)
    if value:
        return str(value)
    db.execute(
        "INSERT OR IGNORE INTO settings (key, value, updated_at) VALUES (?, ?, ?)",
        [name, json.dumps(secrets.token_urlsafe(32)), datetime.now(UTC).isoformat(timespec="seconds")],
    )
    return str(json.loads(db.execute("SELECT value FROM settings WHERE key = ?", [name]).fetchone()[0]))


def settings_markdown() -> str:
    """The settings reference (docs/settings.md), generated from the table so it cannot drift."""
    lines = ["# Settings", "",
             "Generated by `canary config docs` from the declarations; a test keeps this file in step.",
             "Each value comes from the environment variable, else `canary config set`, else the default.", "",
             "| name | type | default | environment | meaning |", "|---|---|---|---|---|"]
    for setting in all_settings().values():
        default = "(generated)" if setting.secret else json.dumps(setting.default, ensure_ascii=False)
        meaning = setting.help.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {setting.type.__name__} | `{default}` | `{setting.env_var}` | {meaning} |")
    return "\n".join(lines) + "\n"
