"""Every setting is checked against its declared type when set and when read from the environment."""

from __future__ import annotations

import json

import pytest

from canary.errors import CanaryError
from canary.settings import Setting, all_settings, get_setting, set_setting

BAD_VALUES = [
    ("alert.allowed_target_cidrs", "10.20.0.0/16,not-a-cidr", "not-a-cidr"),
    ("tripwire.base_url", "portail-patient.example.fr", "URL"),
    ("tripwire.base_url", "ftp://portail.example.fr", "URL"),
    ("tripwire.dns_zone", "docs example.fr", "domain"),
    ("pool.phones", "+33756120000-+3375612", "+3375612"),
    ("pool.phones", "0756120000", "E.164"),
    ("pool.phones", "+33756120000,@etc/canary/phones.txt", "absolute path"),
    ("pool.phones", "@", "absolute path"),
    ("pool.mail_domains", "messagerie-famille.fr,@boite", "@boite"),
    ("accesslog.burst_window", "10 minutes", "duration"),
    ("accesslog.timezone", "Europe/Pariss", "time zone"),
    ("sweep.engine", "fastest", "one of"),
    ("alert.window_seconds", "0", "at least"),
    ("tripwire.callback_port", "70000", "at most"),
    ("alert.window_seconds", "1h", "integer"),
]


@pytest.mark.parametrize(("name", "raw", "said"), BAD_VALUES)
def test_config_set_refuses_a_value_of_the_wrong_type(cli, name, raw, said):
    cli("system", "add", "ehr-a", "--kind", "ehr")
    result = cli("config", "set", name, raw)
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: setting {name}") and said in line, line
    assert json.loads(cli("config", "get", name).output) == all_settings()[name].default  # nothing stored


@pytest.mark.parametrize(("name", "raw", "said"), BAD_VALUES)
def test_environment_values_are_checked_when_read(db, monkeypatch, name, raw, said):
    env = all_settings()[name].env_var
    monkeypatch.setenv(env, raw)
    with pytest.raises(CanaryError, match=env):
        get_setting(db, name)


GOOD_VALUES = [
    ("alert.allowed_target_cidrs", "10.20.0.0/16, fd00::/8", ["10.20.0.0/16", "fd00::/8"]),
    ("tripwire.base_url", "https://portail-patient.example.fr", "https://portail-patient.example.fr"),
    ("tripwire.dns_zone", "docs.example.fr", "docs.example.fr"),
    ("pool.phones", "+33756120000-+33756120999,+33612345678", ["+33756120000-+33756120999", "+33612345678"]),
    ("pool.phones", "+33756120000-+33756120199,@{tmp}/phones.txt",
     ["+33756120000-+33756120199", "@{tmp}/phones.txt"]),
    ("accesslog.burst_window", "90s", "90s"),
    ("sweep.engine", "python", "python"),
    ("tripwire.base_url", "", ""),
]


@pytest.mark.parametrize(("name", "raw", "typed"), GOOD_VALUES)
def test_good_values_are_kept(db, tmp_path, name, raw, typed):
    (tmp_path / "phones.txt").write_text("+33756120500\n", encoding="utf-8")
    raw = raw.replace("{tmp}", str(tmp_path))
    typed = [t.replace("{tmp}", str(tmp_path)) for t in typed] if isinstance(typed, list) else typed
    assert set_setting(db, name, raw) == typed
    assert get_setting(db, name) == typed


def test_a_setting_declared_the_old_way_still_works():
    old = Setting("x.y", int, 3, "an old declaration")
    assert old.parse("4") == 4 and old.kind == ""


def test_the_settings_reference_names_each_kind():
    from canary.settings import settings_markdown

    text = settings_markdown()
    assert "| `alert.allowed_target_cidrs` | list of CIDR |" in text
    assert "| `sweep.engine` | one of auto, native, python |" in text


def test_every_default_passes_its_own_declaration():
    for setting in all_settings().values():
        setting.check(setting.default)


def test_serve_refuses_to_start_with_a_bad_environment_value(cli, monkeypatch):
    cli("system", "add", "ehr-a", "--kind", "ehr")
    monkeypatch.setenv("CANARY_ALERT_ALLOWED_TARGET_CIDRS", "10.20.0.0/16,not-a-cidr")
    result = cli("serve", "--port", "0")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "CANARY_ALERT_ALLOWED_TARGET_CIDRS" in line and "not-a-cidr" in line


def test_a_pool_file_entry_is_read_when_the_pool_is_used(db, tmp_path):
    """`config set` checks the @file is there; the numbers in it are checked when the pool is read."""
    from canary.generate.pools import pools_from_settings

    phones = tmp_path / "phones.txt"
    phones.write_text("# owned numbers\n+33781234000-+33781234002\n+33756120500\n", encoding="utf-8")
    set_setting(db, "pool.phones", f"+33756120000,@{phones}")
    assert pools_from_settings(db).phones == ("+33756120000", "+33781234000", "+33781234001", "+33781234002",
                                              "+33756120500")
    with pytest.raises(CanaryError, match="no readable file"):
        set_setting(db, "pool.phones", f"@{tmp_path / 'missing.txt'}")
    phones.unlink()  # removed after it was set: the pool says so when read (and only the pool)
    assert get_setting(db, "pool.phones") == ["+33756120000", f"@{phones}"]
    with pytest.raises(CanaryError, match="cannot read the pool file"):
        pools_from_settings(db)
