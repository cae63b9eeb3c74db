"""Ranges of number settings, checked in the one setting layer: the CLI, the API and the console refuse alike."""

from __future__ import annotations

import pytest

from canary.errors import CanaryError
from canary.settings import all_settings, set_setting
from canary.store import open_db

BAD = [
    ("egress.icap_port", "99999", "setting egress.icap_port: 99999 is too large: at most 65535"),
    ("egress.milter_port", "0", "setting egress.milter_port: 0 is too small: at least 1"),
    ("tripwire.dns_port", "70000", "setting tripwire.dns_port: 70000 is too large: at most 65535"),
    ("retention.hour", "42", "setting retention.hour: 42 is too large: at most 23"),
    ("retention.events_days", "-1", "setting retention.events_days: -1 is too small: at least 0"),
    ("egress.max_body_bytes", "-5", "setting egress.max_body_bytes: -5 is too small: at least 0"),
    ("journal.wait_ms", "-1", "setting journal.wait_ms: -1 is too small: at least 0"),
]


def test_every_number_setting_has_a_floor_and_every_port_a_range():
    for setting in all_settings().values():
        if setting.type in (int, float):
            low, high = setting.bounds
            assert low is not None and low >= 0, setting.name
            assert setting.check(setting.default) is None, setting.name
        if setting.name.endswith("_port"):
            assert setting.bounds == (1, 65535), setting.name


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_the_cli_the_api_and_the_console_refuse_the_same_way(api, sign_in, cli, db_path, name, value, message):
    result = cli("config", "set", "--", name, value)  # "--": a value may start with a minus
    assert result.exit_code == 1 and result.output.strip() == f"error: {message}"
    client, headers = api
    answer = client.put(f"/api/v1/settings/{name}", json={"value": value}, headers=headers["admin"])
    assert answer.status_code == 400 and answer.get_json()["error"] == message
    page = sign_in("admin").post(f"/settings/{name}", data={"csrf": "test-form-token", "value": value},
                                 follow_redirects=True).get_data(as_text=True)
    assert message.replace("'", "&#39;") in page
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM settings WHERE key = ?", [name]).fetchone()[0] == 0
    db.close()
    with pytest.raises(CanaryError, match="too"):
        set_setting(open_db(db_path), name, int(value))


def test_a_mistyped_setting_name_gets_a_did_you_mean(cli, api):
    result = cli("config", "set", "egress.icap_prot", "1344")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: unknown setting 'egress.icap_prot'; did you mean 'egress.icap_port'? "
                                     "(see 'canary config list')")
    assert "did you mean 'retention.hour'" in cli("config", "get", "hour").output
    client, headers = api
    answer = client.put("/api/v1/settings/egress.icap_prot", json={"value": "1344"}, headers=headers["admin"])
    assert answer.status_code == 400 and f"error: {answer.get_json()['error']}" == result.output.strip()
