"""Changes made at the CLI are in the audit log beside the console's and the API's; `canary audit` reads it."""

from __future__ import annotations

import json

from canary.store import open_db
from canary.web.audit import list_audit
from tests.web.inbox_data import three_incidents


def _audit_json(cli, *args):
    result = cli("audit", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_cli_changes_are_audited_and_read_back(cli, api, sign_in, db_path):
    incidents = three_incidents(db_path)
    assert cli("config", "set", "retention.hour", "4").exit_code == 0
    assert cli("config", "set", "registry.secret", "a-secret-typed-by-hand").exit_code == 0
    assert cli("system", "add", "pacs-ouest", "--kind", "lab").exit_code == 0
    assert cli("alert", "ack", str(incidents["lab-sil"]), "--by", "claire", "--note", "INC-5").exit_code == 0
    # refused or read-only: nothing recorded
    assert cli("config", "set", "retention.hour", "42").exit_code == 1
    assert cli("config", "get", "retention.hour").exit_code == 0
    assert cli("alerts").exit_code == 0
    sign_in("viewer")

    rows = _audit_json(cli)
    assert [(r["via"], r["action"], r["target"]) for r in rows] == [
        ("console", "sign-in", None),
        ("cli", "alert.ack", f"alert:{incidents['lab-sil']}"),
        ("cli", "system.add", "system:pacs-ouest"),
        ("cli", "setting.set", "setting:registry.secret"),
        ("cli", "setting.set", "setting:retention.hour"),
    ]
    assert rows[0]["who"] == "vera"
    assert rows[1]["details"] == {"alert_id": incidents["lab-sil"], "by": "claire", "note": "INC-5"}
    assert rows[3]["details"]["value"] == "(secret)" and "a-secret" not in json.dumps(rows)
    assert rows[4]["details"]["value"] == "4"

    # the same log, the same rows, from the API; and filtered by family, door and time
    client, headers = api
    assert client.get("/api/v1/audit", headers=headers["admin"]).get_json() == _audit_json(cli)
    for query, args in (("action=setting", ("--action", "setting")), ("via=console", ("--via", "console")),
                        ("who=vera&since=1h", ("--who", "vera", "--since", "1h"))):
        assert client.get(f"/api/v1/audit?{query}", headers=headers["admin"]).get_json() == _audit_json(cli, *args)
    assert [r["target"] for r in _audit_json(cli, "--action", "setting")] == ["setting:registry.secret",
                                                                              "setting:retention.hour"]
    assert {r["via"] for r in _audit_json(cli, "--via", "cli", "--since", "1h")} == {"cli"}
    table = cli("audit", "--action", "alert").output
    assert "alert.ack" in table and "by=claire" in table and "Europe/Paris" in table


def test_a_console_acknowledgement_and_a_cli_one_read_alike(sign_in, cli, db_path):
    incidents = three_incidents(db_path)
    analyst = sign_in("analyst")
    analyst.post(f"/alerts/{incidents['ehr-lyon']}/ack", data={"csrf": "test-form-token", "note": "vu"})
    cli("alert", "ack", str(incidents["lab-sil"]))
    db = open_db(db_path)
    acks = list_audit(db, action="alert.ack")
    db.close()
    assert [(a["via"], a["target"]) for a in acks] == [("cli", f"alert:{incidents['lab-sil']}"),
                                                       ("console", f"alert:{incidents['ehr-lyon']}")]
