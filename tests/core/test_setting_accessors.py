"""Typed setting accessors: each reads only settings of its declared type and returns that type exactly;
code reads a setting it knows by name through them, never through a cast of ``get_setting``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from canary.errors import CanaryError
from canary.settings import (
    SettingTypeMismatch,
    all_settings,
    get_bool,
    get_float,
    get_int,
    get_list,
    get_str,
    set_setting,
)

PACKAGE = Path(__file__).resolve().parents[2] / "canary"
ACCESSORS = {"get_int": int, "get_float": float, "get_bool": bool, "get_str": str, "get_list": list}


def _calls(name_of: set[str]) -> list[tuple[str, int, str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in name_of:
                    found.append((path.relative_to(PACKAGE).as_posix(), node.lineno, name, node))
    return found


def test_each_accessor_used_in_the_package_matches_the_declaration():
    """A wrong accessor is found here, not when the code path first runs in production."""
    table = all_settings()
    checked = 0
    for where, line, accessor, call in _calls(set(ACCESSORS)):
        setting_name = call.args[1] if len(call.args) > 1 else None
        if isinstance(setting_name, ast.Constant) and isinstance(setting_name.value, str):
            assert setting_name.value in table, f"{where}:{line}: unknown setting {setting_name.value}"
            declared = table[setting_name.value].type
            assert declared is ACCESSORS[accessor], (
                f"{where}:{line}: {setting_name.value} is declared {declared.__name__}, read with {accessor}")
            checked += 1
    assert checked > 80


def test_no_setting_known_by_name_is_read_untyped():
    offenders = [
        f"{where}:{line}" for where, line, _, call in _calls({"get_setting"})
        if len(call.args) > 1 and isinstance(call.args[1], ast.Constant)
    ]
    assert offenders == [], "read these with get_int/get_float/get_bool/get_str/get_list: " + ", ".join(offenders)


def test_accessors_return_the_declared_type_from_default_registry_and_environment(db, monkeypatch):
    assert get_int(db, "journal.wait_ms") == 2000
    assert get_float(db, "serve.lease_seconds") == 30.0
    assert get_bool(db, "egress.block") is False
    assert get_str(db, "display.timezone") == "Europe/Paris"
    assert get_list(db, "tripwire.dns_a") == ["127.0.0.1"]

    set_setting(db, "serve.lease_seconds", 45)  # a whole number stored as JSON 45
    value = get_float(db, "serve.lease_seconds")
    assert value == 45.0 and type(value) is float
    set_setting(db, "egress.block", "yes")
    assert get_bool(db, "egress.block") is True

    monkeypatch.setenv("CANARY_JOURNAL_WAIT_MS", "750")
    assert get_int(db, "journal.wait_ms") == 750
    monkeypatch.setenv("CANARY_TRIPWIRE_DNS_A", "192.0.2.1, 192.0.2.2")
    assert get_list(db, "tripwire.dns_a") == ["192.0.2.1", "192.0.2.2"]


def test_a_list_read_is_a_copy_not_the_declared_default(db):
    first = get_list(db, "tripwire.dns_a")
    first.append("192.0.2.9")
    assert get_list(db, "tripwire.dns_a") == ["127.0.0.1"]
    assert all_settings()["tripwire.dns_a"].default == ["127.0.0.1"]


@pytest.mark.parametrize(("accessor", "name"), [
    (get_str, "journal.wait_ms"), (get_int, "serve.lease_seconds"), (get_float, "journal.wait_ms"),
    (get_bool, "display.timezone"), (get_list, "display.timezone"), (get_str, "tripwire.dns_a"),
])
def test_the_wrong_accessor_is_a_programming_error_naming_the_right_one(db, accessor, name):
    declared = all_settings()[name].type.__name__
    with pytest.raises(SettingTypeMismatch, match=f"setting {name} is declared {declared}.*get_{declared}"):
        accessor(db, name)


def test_a_bad_value_is_still_an_operator_error(db, monkeypatch):
    monkeypatch.setenv("CANARY_JOURNAL_WAIT_MS", "soon")
    with pytest.raises(CanaryError, match="journal.wait_ms .from CANARY_JOURNAL_WAIT_MS.: cannot read"):
        get_int(db, "journal.wait_ms")
    with pytest.raises(CanaryError, match="unknown setting"):
        get_int(db, "journal.wait_mss")
