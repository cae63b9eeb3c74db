"""Every read of the API and the console, walked as each role, searched for what that role must never see.

A viewer may learn that a canary exists, where and since when, never what it looks like: no marker value
of the registry (NIR, phones, e-mail, IPP, token, host name, name+birth key), no external id a target gave
(the IPP of MLLP and file channels), no credential of a feed or a target, no path of the server. Analysts
read canaries in full, but credentials and the server's temporary upload paths are nobody's business.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from canary.alert.correlate import correlate_all
from canary.store.events import record_event
from canary.watch.sweep.feeds import add_feed
from canary.web.tokens import create_token

SYSTEM = "ehr-mediboard"
FEED_URL = "https://svc:S3cretFeedPass@leaks.example.org/dump.zip?token=T0kenInTheQuery"
FHIR_TARGET = "https://planter:S3cretTargetPass@fhir.example.org/R4"
SECRETS = ("S3cretFeedPass", "T0kenInTheQuery", "S3cretTargetPass", "canary-upload-")
SERVER_PATHS = ("/srv/exports/adt-canary.hl7",)
_ARG = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def registry(app, db, add_hand_canaries, tmp_path):
    canaries = add_hand_canaries(system=SYSTEM, count=3)
    first, second, third = canaries
    now = "2026-12-01T10:00:00Z"
    plantings = [
        (first["id"], "mllp", "mllp://ehr.example.org:2575", first["ipp"], "[]"),
        (second["id"], "file", "file://" + SERVER_PATHS[0], "IPP-FILE-" + second["ipp"], "[]"),
        (third["id"], "fhir", FHIR_TARGET, "Patient/fhir-" + third["id"], json.dumps(["Patient/fhir-" + third["id"]])),
    ]
    for canary_id, channel, target, external_id, resources in plantings:
        db.execute("INSERT INTO plantings (canary_id, system, channel, target, state, external_id, resources, "
                   "planned_at, planted_at, updated_at, error) VALUES (?, ?, ?, ?, 'planted', ?, ?, ?, ?, ?, ?)",
                   [canary_id, SYSTEM, channel, target, external_id, resources, now, now, now,
                    f"earlier attempt for {external_id} refused by {target}"])
    add_feed(db, "pastebin-watch", FEED_URL, "weekly")
    db.execute("INSERT INTO sweeps (feed, sources, started_at, finished_at, status, files, bytes, skipped) "
               "VALUES ('pastebin-watch', ?, ?, ?, 'ok', 1, 10, ?)",
               [json.dumps([FEED_URL]), now, now, json.dumps([{"file": FEED_URL + "#x.7z", "reason": "encrypted"}])])
    record_event(db, channel="leak", canary_id=first["id"], severity="critical", source=FEED_URL + "#dump.csv",
                 details={"file": FEED_URL})
    record_event(db, channel="http", canary_id=second["id"], severity="high", source="203.0.113.7",
                 details={"token": second["token"]})
    correlate_all(db)
    return {"canaries": canaries, "external_ids": [p[3] for p in plantings]}


def _forbidden_for_viewers(db, registry) -> list[str]:
    values = [str(v) for (v,) in db.execute("SELECT value FROM markers").fetchall()]
    for canary in registry["canaries"]:
        values += [canary["nir"], canary["email"], canary["ipp"], canary["token"], *canary["phones"]]
    values += registry["external_ids"]
    return sorted({v for v in values if v and len(v) >= 6}) + [*SECRETS, *SERVER_PATHS]


def _fill(rule: str, values: dict[str, str]) -> str:
    return _ARG.sub(lambda m: values[m.group(1)], rule)


def _walk(app, get, prefix: str, values: dict[str, str]) -> dict[str, str]:
    """Every GET route under ``prefix`` (its parameters filled in), with the text it answered."""
    answers = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or not rule.rule.startswith(prefix) or rule.rule.startswith("/static"):
            continue
        path = _fill(rule.rule, values)
        answer = get(path)
        assert answer.status_code < 500, (path, answer.status_code)
        answers[path] = answer.get_data(as_text=True)
    return answers


def _leaks(answers: dict[str, str], forbidden: list[str]) -> list[str]:
    return [f"{path} shows {value!r}" for path, text in answers.items() for value in forbidden if value in text]


def _values(db, registry) -> dict[str, str]:
    alert = db.execute("SELECT MIN(id) FROM alerts").fetchone()[0]
    planting = db.execute("SELECT MIN(id) FROM plantings").fetchone()[0]
    token = db.execute("SELECT MIN(id) FROM api_tokens").fetchone()[0] or 1
    sweep = db.execute("SELECT MAX(id) FROM sweeps").fetchone()[0]  # the upload's, with its findings
    return {"name": SYSTEM, "canary_id": registry["canaries"][0]["id"], "alert_id": str(alert),
            "planting_id": str(planting), "token_id": str(token), "feed": "pastebin-watch", "destination_id": "1",
            "sweep_id": str(sweep)}


def _upload_scan(app, db, registry) -> None:
    """A real upload scanned by an analyst: its finding's event must not name the server's temporary folder."""
    secret = create_token(db, "scanner", "analyst", "test")[1]
    data = {"file": (io.BytesIO(f"nom;nir\nX;{registry['canaries'][2]['nir']}\n".encode()), "patients.csv")}
    answer = app.test_client().post("/api/v1/scans", data=data, headers={"Authorization": f"Bearer {secret}"},
                                    content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["findings"], "the uploaded canary was not found"
    assert "canary-upload-" not in answer.get_data(as_text=True)
    correlate_all(db)


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_no_api_read_shows_a_role_what_it_may_not_see(app, db, registry, role):
    _upload_scan(app, db, registry)
    assert db.execute("SELECT COUNT(*) FROM events WHERE source LIKE '%canary-upload-%'").fetchone()[0] == 0
    secret = create_token(db, f"walker-{role}", role, "test")[1]
    client = app.test_client()
    answers = _walk(app, lambda path: client.get(path, headers={"Authorization": f"Bearer {secret}"}), "/api/v1",
                    _values(db, registry))
    assert {"/api/v1/plantings", f"/api/v1/canaries/{registry['canaries'][0]['id']}/history", "/api/v1/feeds",
            "/api/v1/sweeps", "/api/v1/events"} <= set(answers)
    forbidden = _forbidden_for_viewers(db, registry) if role == "viewer" else list(SECRETS)
    leaks = _leaks(answers, forbidden)
    assert not leaks, "\n".join(leaks)
    # The cut keeps what the role may know: the plantings are listed, the feed is named.
    assert {p["channel"] for p in json.loads(answers["/api/v1/plantings"])} == {"mllp", "file", "fhir"}
    assert "leaks.example.org" in answers["/api/v1/feeds"]


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_no_console_page_shows_a_role_what_it_may_not_see(app, db, registry, sign_in, role):
    _upload_scan(app, db, registry)
    client = sign_in(role)
    answers = _walk(app, client.get, "/", _values(db, registry))
    answers = {path: text for path, text in answers.items() if not path.startswith("/api/")}
    assert "/canaries/" + registry["canaries"][0]["id"] in answers and "/sweeps" in answers
    forbidden = _forbidden_for_viewers(db, registry) if role == "viewer" else list(SECRETS)
    leaks = _leaks(answers, forbidden)
    assert not leaks, "\n".join(leaks)
