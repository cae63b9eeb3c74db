"""The triage inbox: open incidents first, one filter set for the CLI, the API and the console, bulk acknowledge."""

from __future__ import annotations

import json

import pytest

from canary.alert.model import alert_history
from canary.store import open_db
from canary.web.audit import list_audit
from tests.web.inbox_data import three_incidents


@pytest.fixture
def incidents(app, db_path):
    return three_incidents(db_path)


def _cli_page(cli, *args):
    result = cli("inbox", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _api_page(client, headers, query=""):
    answer = client.get("/api/v1/inbox" + query, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_open_incidents_come_first_then_the_most_severe(api, incidents, cli):
    client, headers = api
    cli("alert", "resolve", str(incidents["ehr-mediboard"]), "--by", "claire")
    page = _api_page(client, headers["admin"])
    # the resolved critical leak goes last; among the open ones, high before medium
    assert [a["id"] for a in page["items"]] == [incidents["ehr-lyon"], incidents["lab-sil"],
                                                 incidents["ehr-mediboard"]]
    assert page["total"] == 3 and page["next_offset"] is None
    lyon = page["items"][0]
    assert lyon["summary"]["en"] == "1 canary of ehr-lyon [inbx000002] seen by http, account jdupont"
    assert lyon["summary"]["fr"] == "1 canari(s) de ehr-lyon [inbx000002] vu(s) par http, compte jdupont"


@pytest.mark.parametrize(("cli_args", "query"), [
    ((), ""),
    (("--state", "open"), "?state=open"),
    (("--system", "lab-sil"), "?system=lab-sil"),
    (("--channel", "http"), "?channel=http"),
    (("--severity", "high"), "?severity=high"),
    (("--search", "jdupont"), "?q=jdupont"),
    (("--search", "INC-1234"), "?q=INC-1234"),
    (("--since", "24h", "--state", "all"), "?since=24h&state=all"),
    (("--limit", "1", "--offset", "1"), "?limit=1&offset=1"),
])
def test_the_cli_and_the_api_give_the_same_filtered_list(api, incidents, cli, cli_args, query):
    client, headers = api
    cli("alert", "note", str(incidents["lab-sil"]), "SOAR ticket INC-1234", "--by", "soar")
    ours, theirs = _api_page(client, headers["admin"], query), _cli_page(cli, *cli_args)
    assert ours == theirs
    assert ours["items"] or query in ("?state=resolved",)


def test_search_finds_notes_ids_and_every_word(api, incidents, cli):
    client, headers = api
    cli("alert", "note", str(incidents["lab-sil"]), "SOAR ticket INC-1234", "--by", "soar")
    assert [a["id"] for a in _api_page(client, headers["admin"], "?q=inc-1234")["items"]] == [incidents["lab-sil"]]
    assert [a["id"] for a in _api_page(client, headers["admin"], f"?q=%23{incidents['ehr-lyon']}")["items"]] == [
        incidents["ehr-lyon"]]
    assert _api_page(client, headers["admin"], "?q=jdupont+lab-sil")["items"] == []


@pytest.mark.parametrize(("cli_args", "query", "message"), [
    (("--system", "nope"), "?system=nope", "unknown system 'nope'"),
    (("--channel", "bogus"), "?channel=bogus", "unknown channel 'bogus'"),
    (("--since", "yesterday"), "?since=yesterday", "yesterday"),
])
def test_a_bad_filter_is_refused_the_same_way_by_the_cli_and_the_api(api, incidents, cli, cli_args, query, message):
    client, headers = api
    answer = client.get("/api/v1/inbox" + query, headers=headers["viewer"])
    result = cli("inbox", *cli_args)
    assert answer.status_code == 400 and result.exit_code == 1
    assert message in answer.get_json()["error"]
    assert result.output.strip() == f"error: {answer.get_json()['error']}"


def test_the_api_refuses_an_unknown_state_and_severity(api, incidents):
    client, headers = api
    for query in ("?state=bogus", "?severity=urgent", "?offset=-1"):
        answer = client.get("/api/v1/inbox" + query, headers=headers["viewer"])
        assert answer.status_code == 400, query
        assert answer.get_json()["error"]


def test_the_inbox_page_needs_a_sign_in_and_speaks_both_languages(client, sign_in, incidents):
    assert client.get("/inbox").status_code == 302
    viewer = sign_in("viewer")
    french = viewer.get("/inbox?lang=fr").get_data(as_text=True)
    assert "Alertes à traiter" in french and "compte jdupont" in french and "Gravité minimale" in french
    # a viewer reads the inbox but has nothing to tick
    assert 'name="ids"' not in french and "bulk-ack" not in french
    english = viewer.get("/inbox?lang=en&channel=dns").get_data(as_text=True)
    assert "Triage inbox" in english and "lab-sil" in english and "jdupont" not in english
    bad = viewer.get("/inbox?lang=en&channel=bogus")
    assert bad.status_code == 400 and "unknown channel &#39;bogus&#39;" in bad.get_data(as_text=True)


def test_the_rows_alone_for_the_refresh(sign_in, incidents):
    analyst = sign_in("analyst")
    rows = analyst.get("/inbox/rows?severity=high&lang=en")
    assert rows.status_code == 200 and rows.headers["X-Inbox-Total"] == "2"
    body = rows.get_data(as_text=True)
    assert "<html" not in body and body.count('name="ids"') == 2


def test_bulk_acknowledge_with_one_note(sign_in, incidents, db_path):
    analyst = sign_in("analyst")
    ticked = [incidents["ehr-lyon"], incidents["lab-sil"]]
    answer = analyst.post("/inbox/ack?lang=en", data={"csrf": "test-form-token", "ids": [str(i) for i in ticked],
                                                       "note": "SOAR INC-77", "system": "lab-sil"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/inbox?system=lab-sil")
    db = open_db(db_path)
    states = dict(db.execute("SELECT id, state FROM alerts").fetchall())
    assert states == {incidents["ehr-lyon"]: "acknowledged", incidents["lab-sil"]: "acknowledged",
                      incidents["ehr-mediboard"]: "open"}
    for alert_id in ticked:
        (entry,) = alert_history(db, alert_id)
        assert (entry["action"], entry["by"], entry["note"]) == ("acknowledged", "anna", "SOAR INC-77")
    acks = [e for e in list_audit(db) if e["action"] == "alert.ack"]
    assert sorted(e["target"] for e in acks) == sorted(f"alert:{i}" for i in ticked)
    assert {e["via"] for e in acks} == {"console"}
    db.close()
    # acknowledging again is refused alert by alert, in words, and changes nothing
    again = analyst.post("/inbox/ack?lang=en", data={"csrf": "test-form-token", "ids": [str(ticked[0])]},
                         follow_redirects=True)
    page = again.get_data(as_text=True)
    assert f"#{ticked[0]}: alert {ticked[0]} is acknowledged" in page and "0 alert(s) acknowledged." in page


def test_bulk_acknowledge_needs_the_form_token_and_an_analyst(sign_in, incidents, db_path):
    analyst = sign_in("analyst")
    ids = [str(incidents["ehr-lyon"])]
    assert analyst.post("/inbox/ack", data={"ids": ids}).status_code == 400
    assert sign_in("viewer").post("/inbox/ack", data={"csrf": "test-form-token", "ids": ids}).status_code == 403
    db = open_db(db_path)
    assert db.execute("SELECT COUNT(*) FROM alerts WHERE state = 'open'").fetchone()[0] == 3
    db.close()
