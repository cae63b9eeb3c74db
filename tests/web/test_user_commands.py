"""`canary user list|remove|unlock`: the console accounts, managed from the command line."""

from __future__ import annotations

import json

from canary.web.users import check_user

PASSWORD = "un mot de passe solide"


def test_user_list_remove_unlock(cli, db):
    assert cli("user", "add", "rssi", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    assert cli("user", "add", "soc", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    for _ in range(4):
        assert not check_user(db, "soc", "wrong guess", source="192.0.2.7").ok
    assert check_user(db, "soc", PASSWORD, source="192.0.2.7").retry_after > 0  # that address must wait

    listed = {u["name"]: u for u in json.loads(cli("user", "list", "--json").stdout)}
    assert set(listed) == {"rssi", "soc"}
    assert listed["soc"]["throttled"] is True and listed["soc"]["recent_failures"] >= 3
    assert listed["rssi"]["throttled"] is False and "password_hash" not in listed["rssi"]
    assert "soc" in cli("user", "list").output

    assert cli("user", "unlock", "soc").exit_code == 0
    assert check_user(db, "soc", PASSWORD, source="192.0.2.7").ok

    assert cli("user", "remove", "rssi").exit_code == 0
    assert [u["name"] for u in json.loads(cli("user", "list", "--json").stdout)] == ["soc"]
    assert not check_user(db, "rssi", PASSWORD).ok
    from canary.web.audit import list_audit

    actions = {(row["action"], row["target"]) for row in list_audit(db)}
    assert {("user.unlock", "user:soc"), ("user.remove", "user:rssi")} <= actions  # audited like the others

    for command in (("user", "remove", "nobody"), ("user", "unlock", "nobody")):
        result = cli(*command)
        assert result.exit_code == 1 and result.output.strip() == "error: unknown user 'nobody'; see 'canary user list'"
