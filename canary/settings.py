"""One declarative table of settings.

Each entry names its type, default and meaning. A value comes from the environment
(``CANARY_`` + the name upper-cased with dots as underscores), else the registry's ``settings``
table (``canary config set``), else the default. Domains declare theirs in their own
``settings.py`` (declared in :mod:`canary.domains`) so the table stays one list for the operator.
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

from canary import setting_kinds
from canary.domains import SETTING_MODULES
from canary.errors import CanaryError

_TYPE_WORDS = {int: "an integer", float: "a number", bool: "yes or no", list: "a list", str: "text"}


@dataclass(frozen=True)
class Setting:
    """One setting. ``kind``, ``choices`` and the bounds are optional: a setting declared with only
    name, type, default and help is checked by its Python type alone."""

    name: str
    type: type  # str, int, float, bool or list (list of strings)
    default: Any
    help: str
    secret: bool = False
    kind: str = ""  # a check of canary.setting_kinds (each element of a list), e.g. "cidr", "url"
    choices: tuple[str, ...] = ()  # the only values accepted (each element of a list)
    minimum: float | None = None
    maximum: float | None = None
    # A further check of its own (raises CanaryError), e.g. no password typed into a URL.
    extra_check: Callable[[Any], None] | None = None
    # Checked only when the value is set (config set, API, console), never when it is read: e.g. that a
    # file it names exists now (a file gone later must not stop the services that read the setting).
    set_check: Callable[[Any], None] | None = None
    # Changed on the host only ('canary config set'), never from the console or the API: the value can
    # write files, reach other hosts or widen trust, so an admin token must not be enough.
    host_only: bool = False
    # Highest value the console and the API may set; above it, the host only.
    console_maximum: float | None = None

    @property
    def env_var(self) -> str:
        return "CANARY_" + self.name.upper().replace(".", "_").replace("-", "_")

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """The range a number must lie in: the kind's (a port, an hour), narrowed by the declared minimum and
        maximum; a number with neither is at least 0 (no size, count or delay of this table is negative)."""
        low, high = setting_kinds.NUMBER_KINDS[self.kind][1:] if self.kind in setting_kinds.NUMBER_KINDS else (
            None, None)
        if self.minimum is not None:
            low = self.minimum if low is None else max(low, self.minimum)
        if self.maximum is not None:
            high = self.maximum if high is None else min(high, self.maximum)
        return (0 if low is None else low), high

    @property
    def type_label(self) -> str:
        """How the reference names what the value must be, e.g. ``list of CIDR``, ``int ≥ 1``."""
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        elif self.kind:
            text = setting_kinds.label(self.kind)
        else:
            text = self.type.__name__ if self.type is not list else "text"
        if self.type is list:
            return text if text.startswith("list") else f"list of {text}"
        bounds = []
        if self.type in (int, float):
            low, high = self.bounds
            if low is not None:
                bounds.append(f"≥ {low:g}")
            if high is not None:
                bounds.append(f"≤ {high:g}")
        return " ".join([text, *bounds])

    def parse(self, raw: str, source: str = "") -> Any:
        """Turn operator text (CLI or environment) into a typed value, checked; ``source`` says where it came from."""
        try:
            value = self._convert(raw)
        except (ValueError, json.JSONDecodeError) as exc:
            raise CanaryError(f"setting {self.name}{source}: cannot read {raw!r} as {_TYPE_WORDS[self.type]}"
                              ) from exc
        self.check(value, source)
        return value

    def _convert(self, raw: str) -> Any:
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
        return self.type(raw.strip()) if self.type in (int, float) else self.type(raw)

    def check(self, value: Any, source: str = "") -> None:
        """Raise CanaryError naming the setting (and ``source``) when ``value`` breaks the declaration."""
        problem = self.problem(value)
        if problem:
            raise CanaryError(f"setting {self.name}{source}: {problem}")
        if self.extra_check is not None:
            self.extra_check(value)

    def problem(self, value: Any) -> str | None:
        if self.type is list:
            if not isinstance(value, list):
                return f"expected a list, got {value!r}"
            for element in value:
                problem = self._element_problem(str(element))
                if problem:
                    return problem
            return None
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    self.type is int and not isinstance(value, int)):
                return f"expected {_TYPE_WORDS[self.type]}, got {value!r}"
            return setting_kinds.number_problem(value, *self.bounds)
        if self.kind in setting_kinds.NUMBER_KINDS:
            raise TypeError(f"setting {self.name}: kind {self.kind} is for numbers")
        if self.type is bool:
            return None if isinstance(value, bool) else f"expected yes or no, got {value!r}"
        if not isinstance(value, str):
            return f"expected text, got {value!r}"
        if value == "" and self.default == "":
            return None  # empty means "not set" where the default is empty
        return self._element_problem(value)

    def _element_problem(self, value: str) -> str | None:
        if self.choices and value not in self.choices:
            return f"{value!r} is not one of {', '.join(self.choices)}"
        if self.kind:
            return setting_kinds.problem(self.kind, value)
        return None


CORE_SETTINGS = [
    Setting("pool.phones", list, [],
            "Phone numbers the operator owns (E.164, ranges +33612340000-+33612340999, or files "
            "@/etc/canary/phones.txt read when the pool is used). "
            "Canaries get phones only from this pool.",
            kind="phone_or_range", set_check=setting_kinds.pool_files_readable),
    Setting("pool.mail_domains", list, [],
            "Mail domains the operator owns, whose MX points at the canary mail receiver. "
            "Canaries get e-mail addresses only on these domains.",
            kind="domain"),
    Setting("tripwire.base_url", str, "",
            "Public base URL of the callback listener, e.g. https://portail-patient.example.fr",
            kind="url"),
    Setting("tripwire.dns_zone", str, "",
            "DNS zone delegated to the canary DNS listener, e.g. docs.example.fr",
            kind="domain"),
    Setting("display.timezone", str, "Europe/Paris",
            "Time zone of every time written for people: console, alert and notice texts (stored times and "
            "JSON stay UTC). IANA name, e.g. Europe/Paris, America/Cayenne, Indian/Reunion.",
            kind="timezone"),
    Setting("registry.secret", str, "",
            "Key that derives callback tokens; generated on first use.", secret=True),
    Setting("web.secret_key", str, "",
            "Key signing console sessions; generated on first use.", secret=True),
    Setting("journal.max_bytes", int, 16 << 20,
            "Space reserved beside the registry for each watcher's journal of sightings the registry "
            "refused (locked, disk full); replayed when it takes writes again."),
    Setting("journal.wait_ms", int, 2000,
            "How long a listener waits for a busy registry before journalling the sighting and answering."),
    Setting("serve.lease_seconds", float, 30.0,
            "How long the scheduler and delivery leases of 'canary serve --role' last without renewal: "
            "another host takes a role over this long after its holder died (same host: at once)."),
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
        raise CanaryError(unknown_setting(name, list(table)))
    return table[name]


def unknown_setting(name: str, names: list[str]) -> str:
    """The one refusal of a setting name nobody declared, with the closest names ("did you mean")."""
    import difflib

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)  # the closest one: a list reads as a riddle
    # A bare last part typed alone ("icap_port") is found by its suffix.
    close += [n for n in names if n.endswith("." + name) and n not in close][:3 - len(close)]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown setting {name!r}{hint} (see 'canary config list')"


def get_setting(db: sqlite_utils.Database, name: str) -> Any:
    """The value in force, checked against the declaration: a bad value raises CanaryError naming its source.

    For code that reads any setting by a name it was given (``config get``, listings); code that reads
    a setting it knows uses the accessor of its declared type (``get_int``, ``get_str``...)."""
    return _value_in_force(db, _lookup(name))


class SettingTypeMismatch(TypeError):
    """A setting read with the accessor of another type than its declaration: a programming error."""


def _declared(name: str, expected: type) -> Setting:
    setting = _lookup(name)
    if setting.type is not expected:
        raise SettingTypeMismatch(f"setting {name} is declared {setting.type.__name__}, not {expected.__name__}: "
                                  f"read it with get_{setting.type.__name__}")
    return setting


def get_int(db: sqlite_utils.Database, name: str) -> int:
    """The value in force of a setting declared ``int``."""
    value: int = _value_in_force(db, _declared(name, int))  # checked against the declaration: an int
    return value


def get_float(db: sqlite_utils.Database, name: str) -> float:
    """The value in force of a setting declared ``float`` (a whole number stored as JSON comes back a float)."""
    return float(_value_in_force(db, _declared(name, float)))


def get_bool(db: sqlite_utils.Database, name: str) -> bool:
    """The value in force of a setting declared ``bool``."""
    value: bool = _value_in_force(db, _declared(name, bool))
    return value


def get_str(db: sqlite_utils.Database, name: str) -> str:
    """The value in force of a setting declared ``str`` ("" when unset and the default is empty)."""
    value: str = _value_in_force(db, _declared(name, str))
    return value


def get_list(db: sqlite_utils.Database, name: str) -> list[str]:
    """The value in force of a setting declared ``list`` (a list of strings), as a new list."""
    return [str(element) for element in _value_in_force(db, _declared(name, list))]


def _value_in_force(db: sqlite_utils.Database, setting: Setting) -> Any:
    name = setting.name
    env = os.environ.get(setting.env_var)
    if env is not None:
        return setting.parse(env, f" (from {setting.env_var})")
    row = db.execute("SELECT value FROM settings WHERE key = ?", [name]).fetchone()
    if row is not None:
        value = json.loads(row[0])
        setting.check(value, " (stored in the registry; fix with 'canary config set')")
        return value
    return setting.default


def setting_problems(db: sqlite_utils.Database) -> list[str]:
    """Every setting whose value in force breaks its declaration (environment or registry), one line each."""
    problems = []
    for name in all_settings():
        try:
            get_setting(db, name)
        except CanaryError as exc:
            problems.append(str(exc))
    return problems


def environment_problems() -> list[str]:
    """Every ``CANARY_*`` variable of a setting whose value breaks its declaration (checked at start)."""
    problems = []
    for setting in all_settings().values():
        raw = os.environ.get(setting.env_var)
        if raw is not None:
            try:
                setting.parse(raw, f" (from {setting.env_var})")
            except CanaryError as exc:
                problems.append(str(exc))
    return problems


def set_setting(db: sqlite_utils.Database, name: str, value: Any) -> Any:
    """Store a value (operator text is parsed by the setting's type, then checked); return the typed value."""
    setting = _lookup(name)
    if isinstance(value, str):
        typed = setting.parse(value)
    else:
        setting.check(value)
        typed = value
    if setting.set_check is not None:
        setting.set_check(typed)
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [name, json.dumps(typed, ensure_ascii=False), datetime.now(UTC).isoformat(timespec="seconds")],
    )
    return typed


def unset_setting(db: sqlite_utils.Database, name: str) -> None:
    _lookup(name)
    db.execute("DELETE FROM settings WHERE key = ?", [name])


def change_setting(db: sqlite_utils.Database, name: str, value: Any | None, *, remote: bool = False) -> Any:
    """An operator's change of ``name`` (``value`` None: back to its default), from ``canary config`` or,
    ``remote``, from the console or the API; the typed value stored (None when reset).

    Refused the same way from every door when the environment sets the setting: it wins over the
    registry, so a stored value would show as saved and change nothing. From the console and the API,
    also refused for generated secrets (a leaked API token must not be enough to swap the keys that
    derive tokens and sign sessions), for settings that need host access, and above a console maximum.
    """
    setting = _lookup(name)
    if remote:
        _refuse_remote_change(setting, value)
    if os.environ.get(setting.env_var) is not None:
        raise CanaryError(f"{name} comes from the environment ({setting.env_var}), which wins over the registry: "
                          "change it there, then restart what reads it")
    if value is None:
        unset_setting(db, name)
        return None
    return set_setting(db, name, value)


def _refuse_remote_change(setting: Setting, value: Any | None) -> None:
    name = setting.name
    if setting.secret:
        raise CanaryError(f"{name} is a generated secret: change it with 'canary config' on the server")
    if setting.host_only:
        raise CanaryError(f"{name} can write files, reach other hosts or widen trust: change it with "
                          f"'canary config set {name} ...' on the server (host access), not from the console or API")
    if setting.console_maximum is not None and value is not None:
        number = _number(value)
        if number is not None and number > setting.console_maximum:
            raise CanaryError(f"{name} above {setting.console_maximum:g} only with 'canary config set {name} ...' "
                              "on the server (host access)")


def _number(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except ValueError:
        return None  # not a number: the setting's own check says so


def ensure_secret(db: sqlite_utils.Database, name: str) -> str:
    """Return a secret setting, generating and storing it the first time."""
    value = get_str(db, name)
    if value:
        return value
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
        lines.append(f"| `{setting.name}` | {setting.type_label} | `{default}` | `{setting.env_var}` | {meaning} |")
    return "\n".join(lines) + "\n"


def setting_rows(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every setting with its value (secrets as "(set)"/"(unset)"), declared type, environment variable,
    meaning and, when the value in force breaks its declaration, the problem (``config list --json``)."""
    rows = []
    for setting in all_settings().values():
        try:
            value, problem = get_setting(db, setting.name), None
        except CanaryError as exc:  # shown, not fatal: a listing is where the operator looks for it
            value, problem = None, str(exc)
        shown = ("(set)" if value else "(unset)") if setting.secret else value
        rows.append({"name": setting.name, "value": shown, "type": setting.type_label, "env": setting.env_var,
                     "help": setting.help, "problem": problem})
    return rows
