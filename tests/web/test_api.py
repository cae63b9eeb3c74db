"""The REST API: bearer tokens, the CLI's JSON keys, what a viewer may not see, the audit trail."""

from __future__ import annotations

import json

import pytest

from canary.alert.correlate import correlate_all
from canary.generate.seeding import derive_token
from canary.settings import set_setting
from canary.store import open_db
from canary.store.events import record_event
from canary.store.registry import add_canaries
from canary.web.audit import list_audit
from canary.web.tokens import create_token, revoke_token
from tests.support.records import make_record
from tests.support.wait import wait_for


@pytest.fixture
def one_alert(db_path):
    db = open_db(db_path)
    add_canaries(db, [{"id": "leak000001", "system": "ehr-mediboard", "generation": 1, "created_at":
                       "2026-01-01T00:00:00Z", "token": derive_token("k", "leak000001"), **make_record(1)}])
    record_event(db, channel="leak", canary_id="leak000001", severity="critical", source="dump.sql.gz",
                 details={"group": "sweep:1", "evidence": "NIR 1 40 ***"})
    correlate_all(db)
    alert_id = db.execute("SELECT id FROM alerts").fetchone()[0]
    db.close()
    return alert_id


def _cli_json(cli, *args):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_lists_have_the_keys_of_the_cli_json(api, one_alert, cli):
    client, headers = api
    admin = headers["admin"]
    pairs = [("/api/v1/systems", ("system", "list")), ("/api/v1/feeds", ("feed", "list")),
             ("/api/v1/plantings", ("plants",)), ("/api/v1/notify", ("notify", "list"))]
    for url, command in pairs:
        ours, theirs = client.get(url, headers=admin).get_json(), _cli_json(cli, *command)
        assert ours == theirs, url
    events = client.get("/api/v1/events", headers=admin).get_json()["items"]
    assert events == _cli_json(cli, "events")[::-1]
    alerts = client.get("/api/v1/alerts", headers=admin).get_json()["items"]
    assert [set(a) for a in alerts] == [set(a) for a in _cli_json(cli, "alerts")]
    settings = client.get("/api/v1/settings", headers=admin).get_json()
    cli_settings = _cli_json(cli, "config", "list")
    assert [{k: v for k, v in row.items() if k != "source"} for row in settings] == cli_settings
    assert {row["source"] for row in settings} <= {"env", "registry", "default"}
    canary = client.get("/api/v1/canaries/leak000001", headers=admin).get_json()
    assert canary == _cli_json(cli, "show", "leak000001")


def test_a_viewer_never_sees_marker_values_tokens_or_evidence(api, one_alert):
    client, headers = api
    viewer = client.get("/api/v1/canaries/leak000001", headers=headers["viewer"]).get_json()
    assert viewer == {"id": "leak000001", "system": "ehr-mediboard", "generation": 1,
                      "created_at": "2026-01-01T00:00:00Z", "status": "active"}
    listed = client.get("/api/v1/canaries", headers=headers["viewer"]).get_data(as_text=True)
    history = client.get("/api/v1/canaries/leak000001/history", headers=headers["viewer"]).get_data(as_text=True)
    story = client.get(f"/api/v1/alerts/{one_alert}", headers=headers["viewer"]).get_data(as_text=True)
    record = make_record(1)
    for text in (listed, history, story):
        assert record["nir"] not in text and record["ipp"] not in text and "NIR 1 40" not in text
    analyst = client.get("/api/v1/canaries/leak000001", headers=headers["analyst"]).get_json()
    assert analyst["nir"] == record["nir"]
    assert "NIR 1 40" in client.get(f"/api/v1/alerts/{one_alert}", headers=headers["analyst"]).get_data(as_text=True)


def test_an_analyst_acknowledges_through_the_api_and_it_is_audited(api, one_alert, db_path):
    client, headers = api
    resp = client.post(f"/api/v1/alerts/{one_alert}/ack", json={"note": "vu par le SOC"}, headers=headers["analyst"])
    assert resp.status_code == 200
    assert resp.get_json()["state"] == "acknowledged" and resp.get_json()["acked_by"] == "token:soar-analyst"
    again = client.post(f"/api/v1/alerts/{one_alert}/ack", json={}, headers=headers["analyst"])
    assert again.status_code == 400 and "only an open alert" in again.get_json()["error"]
    db = open_db(db_path)
    (entry,) = [row for row in list_audit(db) if row["action"] == "alert.ack"]
    db.close()
    assert (entry["who"], entry["via"], entry["source"], entry["target"], entry["details"]) == (
        "token:soar-analyst", "api", "127.0.0.1", f"alert:{one_alert}", {"note": "vu par le SOC"})


def test_notes_from_the_api_and_the_cli_stay_in_the_alert_timeline(api, one_alert, cli):
    """An ack note from a SOAR ("INC-1234") survives a resolution from the CLI with another note."""
    client, headers = api
    assert client.post(f"/api/v1/alerts/{one_alert}/ack", json={"note": "SOAR ticket INC-1234"},
                       headers=headers["analyst"]).status_code == 200
    noted = client.post(f"/api/v1/alerts/{one_alert}/notes", json={"note": "compte jdupont désactivé"},
                        headers=headers["analyst"])
    assert noted.status_code == 201 and noted.get_json()["state"] == "acknowledged"
    assert cli("alert", "resolve", str(one_alert), "--note", "export bloqué", "--by", "alice").exit_code == 0
    reopened = client.post(f"/api/v1/alerts/{one_alert}/reopen", json={"note": "vu à nouveau"},
                           headers=headers["analyst"])
    assert reopened.status_code == 200 and reopened.get_json()["state"] == "open"
    story = client.get(f"/api/v1/alerts/{one_alert}", headers=headers["viewer"]).get_json()
    timeline = [(h["by"], h["action"], h["note"]) for h in story["history"]]
    assert timeline == [("token:soar-analyst", "acknowledged", "SOAR ticket INC-1234"),
                        ("token:soar-analyst", "note", "compte jdupont désactivé"),
                        ("alice", "resolved", "export bloqué"),
                        ("token:soar-analyst", "reopened", "vu à nouveau")]
    (listed,) = _cli_json(cli, "alerts")
    assert [(h["by"], h["action"], h["note"]) for h in listed["history"]] == timeline
    shown = _cli_json(cli, "alert", "show", str(one_alert))
    assert shown["history"] == listed["history"] and shown["state"] == "open"
    empty = client.post(f"/api/v1/alerts/{one_alert}/notes", json={"note": " "}, headers=headers["analyst"])
    assert empty.status_code == 400 and "empty note" in empty.get_json()["error"]
    refused = client.post(f"/api/v1/alerts/{one_alert}/notes", json={"note": "x"}, headers=headers["viewer"])
    assert refused.status_code == 403


def test_tokens_are_hashed_shown_once_expire_and_can_be_revoked(api, db_path):
    client, headers = api
    created = client.post("/api/v1/tokens", json={"name": "siem", "role": "viewer", "days": 1},
                          headers=headers["admin"])
    assert created.status_code == 201
    secret = created.get_json()["secret"]
    assert secret.startswith("cnry_") and len(secret) > 40
    listing = client.get("/api/v1/tokens", headers=headers["admin"]).get_data(as_text=True)
    assert secret not in listing and "secret" not in listing
    assert secret.encode() not in db_path.read_bytes()
    bearer = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/systems", headers=bearer).status_code == 200

    db = open_db(db_path)
    token_id = created.get_json()["id"]
    db.execute("UPDATE api_tokens SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?", [token_id])
    db.close()
    assert client.get("/api/v1/systems", headers=bearer).status_code == 401

    db = open_db(db_path)
    _, other = create_token(db, "soar-2", "viewer", "test")
    db.close()
    other_bearer = {"Authorization": f"Bearer {other}"}
    assert client.get("/api/v1/systems", headers=other_bearer).status_code == 200
    db = open_db(db_path)
    revoke_token(db, 5)
    db.close()
    assert client.get("/api/v1/systems", headers=other_bearer).status_code == 401


def test_the_session_cookie_does_not_open_the_api(sign_in):
    """A browser signed in to the console cannot be made to call the API: it reads bearer tokens only."""
    assert sign_in("admin").get("/api/v1/systems").status_code == 401


@pytest.mark.parametrize("body, status, message", [
    ("not json", 400, "JSON object"),
    (json.dumps(["a list"]), 400, "JSON object"),
    (json.dumps({"kind": "ehr"}), 400, "missing field 'name'"),
    (json.dumps({"name": "Bad Name", "kind": "ehr"}), 400, "invalid system name"),
    (json.dumps({"name": "lab", "kind": "ehr", "finess": "123"}), 400, "invalid FINESS"),
])
def test_bad_input_gets_one_json_error_and_changes_nothing(api, db_path, body, status, message):
    client, headers = api
    resp = client.post("/api/v1/systems", data=body, content_type="application/json", headers=headers["admin"])
    assert resp.status_code == status and message in resp.get_json()["error"]
    db = open_db(db_path)
    assert [r[0] for r in db.execute("SELECT name FROM systems").fetchall()] == ["ehr-mediboard"]
    assert [r for r in list_audit(db) if r["action"] == "system.add"] == []
    db.close()


def test_unknown_objects_are_404_in_json(api):
    client, headers = api
    assert client.get("/api/v1/nothing-here", headers=headers["admin"]).get_json()["error"]
    assert client.patch("/api/v1/systems", headers=headers["admin"]).status_code == 405
    for url in ("/api/v1/alerts/999", "/api/v1/canaries/nope"):
        resp = client.get(url, headers=headers["admin"])
        assert resp.status_code == 404 and "unknown" in resp.get_json()["error"]


def test_an_admin_adds_a_system_and_sets_a_setting(api, db_path):
    client, headers = api
    resp = client.post("/api/v1/systems", json={"name": "lab-1", "kind": "lab", "establishment": "CH de Vienne"},
                       headers=headers["admin"])
    assert resp.status_code == 201 and resp.get_json()["name"] == "lab-1"
    resp = client.put("/api/v1/settings/alert.window_seconds", json={"value": "600"}, headers=headers["admin"])
    assert resp.get_json() == {"name": "alert.window_seconds", "value": 600}
    secret = client.put("/api/v1/settings/web.secret_key", json={"value": "x" * 40}, headers=headers["admin"])
    assert secret.status_code == 400 and "generated secret" in secret.get_json()["error"]
    unknown = client.put("/api/v1/settings/no.such", json={"value": "1"}, headers=headers["admin"])
    assert unknown.status_code == 400 and "unknown setting" in unknown.get_json()["error"]
    typo = client.put("/api/v1/settings/alert.window_seconds", json={"value": "soon"}, headers=headers["admin"])
    assert typo.status_code == 400 and "cannot read" in typo.get_json()["error"]
    db = open_db(db_path)
    entries = {row["action"]: row for row in list_audit(db)}
    db.close()
    assert entries["system.add"]["target"] == "system:lab-1"
    assert entries["setting.set"]["who"] == "token:soar-admin"
    assert entries["setting.set"]["details"] == {"value": 600}


def test_the_openapi_document_describes_every_api_route(app, api):
    client, headers = api
    doc = client.get("/api/v1/openapi.json", headers=headers["viewer"]).get_json()
    assert doc["openapi"].startswith("3.")
    described = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == served
    ack = doc["paths"]["/api/v1/alerts/{alert_id}/ack"]["post"]
    assert ack["x-canary-role"] == "analyst" and ack["parameters"][0]["schema"]["type"] == "integer"


def test_pages_and_api_read_one_page_at_a_time(api, db_path):
    client, headers = api
    db = open_db(db_path)
    for i in range(7):
        record_event(db, channel="http", canary_id=None, severity="low", source=f"s{i}", details={"i": i})
    db.close()
    first = client.get("/api/v1/events?limit=3", headers=headers["admin"]).get_json()
    assert [e["source"] for e in first["items"]] == ["s6", "s5", "s4"]
    second = client.get(f"/api/v1/events?limit=3&before={first['next_before']}", headers=headers["admin"]).get_json()
    assert [e["source"] for e in second["items"]] == ["s3", "s2", "s1"]
    last = client.get(f"/api/v1/events?limit=3&before={second['next_before']}", headers=headers["admin"]).get_json()
    assert [e["source"] for e in last["items"]] == ["s0"] and last["next_before"] is None
    assert client.get("/api/v1/events?limit=abc", headers=headers["admin"]).status_code == 400


def test_planting_through_the_api_answers_like_plant_json(api, db_path, tmp_path):
    client, headers = api
    db = open_db(db_path)
    add_canaries(db, [{"id": "api0000001", "system": "ehr-mediboard", "generation": 1, "created_at":
                       "2026-01-01T00:00:00Z", "token": derive_token("k", "api0000001"), **make_record(3)}])
    db.close()
    target = (tmp_path / "import.json").as_uri()
    refused = client.post("/api/v1/systems/ehr-mediboard/plant", json={"target": target}, headers=headers["analyst"])
    assert refused.status_code == 400 and "an admin plants there first" in refused.get_json()["error"]
    done = client.post("/api/v1/systems/ehr-mediboard/plant", json={"target": target}, headers=headers["admin"])
    assert done.status_code == 200
    # PlantReport.as_dict, the dict `canary plant --json` prints (scheduled: canaries left to a trickle)
    keys = {"system", "channel", "target", "planted", "already", "failed", "stopped", "forgotten", "warnings",
            "scheduled"}
    assert set(done.get_json()) == keys
    assert done.get_json()["planted"] == ["api0000001"] and (tmp_path / "import.json").exists()
    again = client.post("/api/v1/systems/ehr-mediboard/plant", json={"target": target}, headers=headers["analyst"])
    assert again.get_json()["already"] == 1
    bad = client.post("/api/v1/systems/ehr-mediboard/plant", json={"target": "ftp://x"}, headers=headers["admin"])
    assert bad.status_code == 400 and "unsupported target" in bad.get_json()["error"]
    retired = client.post("/api/v1/systems/ehr-mediboard/retire", json={}, headers=headers["analyst"])
    assert retired.status_code == 200 and len(retired.get_json()["retired"]) == 1 and retired.get_json()["failed"] == []


def test_a_feed_runs_now_in_the_background(api, one_alert, db_path, tmp_path):

    client, headers = api
    folder = tmp_path / "dumps"
    folder.mkdir()
    record = make_record(1)
    (folder / "export.csv").write_text(f"nir;nom;naissance\n{record['nir']};{record['birth_name']};"
                                       f"{record['birth_date']}\n", encoding="utf-8")
    added = client.post("/api/v1/feeds", json={"name": "dumps", "source": str(folder)}, headers=headers["admin"])
    assert added.status_code == 201 and added.get_json()["name"] == "dumps"
    assert client.post("/api/v1/feeds/dumps/run", headers=headers["viewer"]).status_code == 403
    started = client.post("/api/v1/feeds/dumps/run", headers=headers["analyst"])
    assert started.status_code == 202 and started.get_json() == {"feed": "dumps", "status": "started"}

    def finished() -> list:
        items = client.get("/api/v1/sweeps", headers=headers["viewer"]).get_json()["items"]
        return items if items and items[0]["status"] != "running" else []

    sweeps = wait_for(finished, timeout=20, interval=0.05, message="the feed's sweep did not finish")
    assert sweeps[0]["feed"] == "dumps" and sweeps[0]["status"] == "ok" and sweeps[0]["files"] == 1
    assert sum(sweeps[0]["findings"].values()) == 1


def test_every_admin_action_through_the_api_lands_in_the_audit_log(api, one_alert, db_path):
    client, headers = api
    admin = headers["admin"]
    assert client.post("/api/v1/notify/test", headers=admin).get_json() == []  # no target yet
    host = open_db(db_path)
    set_setting(host, "alert.allow_private_targets", "true")  # host-only: the operator sets it on the server
    host.close()
    client.put("/api/v1/settings/alert.window_seconds", json={"value": "600"}, headers=admin)
    added = client.post("/api/v1/notify", json={"url": "hmac://127.0.0.1:9/hook", "min_severity": "high"},
                        headers=admin).get_json()
    assert added["secret"] and added["url"].startswith("hmac://127.0.0.1:9")
    (report,) = client.post("/api/v1/notify/test", headers=admin).get_json()
    assert report["ok"] is False and report["error"]  # nothing listens on port 9
    assert client.delete(f"/api/v1/notify/{added['id']}", headers=admin).get_json() == {"id": added["id"],
                                                                                        "removed": True}
    assert client.put("/api/v1/settings/alert.window_seconds", json={"value": None},
                      headers=admin).get_json() == {"name": "alert.window_seconds", "value": None}
    token = client.post("/api/v1/tokens", json={"name": "tmp", "role": "viewer"}, headers=admin).get_json()
    assert client.delete(f"/api/v1/tokens/{token['id']}", headers=admin).get_json()["revoked_at"]
    resolved = client.post(f"/api/v1/alerts/{one_alert}/resolve", json={"note": "faux positif"},
                           headers=headers["analyst"]).get_json()
    assert resolved["state"] == "resolved" and resolved["note"] == "faux positif"
    audit = client.get("/api/v1/audit", headers=admin).get_json()
    assert [row["action"] for row in audit] == ["alert.resolve", "token.revoke", "token.add", "setting.unset",
                                                "notify.remove", "notify.test", "notify.add", "setting.set",
                                                "notify.test"]
    assert {row["via"] for row in audit} == {"api"} and all(row["source"] == "127.0.0.1" for row in audit)
    mine = client.get("/api/v1/audit?who=token:soar-analyst", headers=admin).get_json()
    assert [row["action"] for row in mine] == ["alert.resolve"]


@pytest.mark.parametrize(("path", "query", "cli_args"), [
    ("events", "system=nope", ("events", "--system", "nope")),
    ("events", "since=yesterday", ("events", "--since", "yesterday")),
    ("events", "channel=bogus", ("events", "--channel", "bogus")),
    ("alerts", "system=nope", ("alerts", "--system", "nope")),
    ("alerts", "since=yesterday", ("alerts", "--since", "yesterday")),
])
def test_a_bad_filter_is_refused_alike_by_the_api_and_the_cli(api, cli, path, query, cli_args):
    """An API filter that matches nothing because it is wrong says so (400), with the CLI's own message."""
    client, headers = api
    resp = client.get(f"/api/v1/{path}?{query}", headers=headers["viewer"])
    assert resp.status_code == 400
    refused = cli(*cli_args)
    assert refused.exit_code != 0
    assert resp.get_json()["error"] in refused.output


def test_an_unknown_alert_state_is_refused_and_known_ones_filter(api, one_alert):
    client, headers = api
    bogus = client.get("/api/v1/alerts?state=bogus", headers=headers["viewer"])
    assert bogus.status_code == 400 and "unknown state 'bogus'" in bogus.get_json()["error"]
    assert [a["id"] for a in client.get("/api/v1/alerts?state=open", headers=headers["viewer"]).get_json()["items"]] \
        == [one_alert]
    assert client.get("/api/v1/alerts?state=resolved", headers=headers["viewer"]).get_json()["items"] == []
    assert len(client.get("/api/v1/alerts?state=all", headers=headers["viewer"]).get_json()["items"]) == 1
