"""The OpenAPI document says what the API answers: every documented status of a few routes is produced by
a real request, and every real answer is documented."""

from __future__ import annotations

from typing import Any

from canary.alert.correlate import correlate_all
from canary.store import open_db
from canary.store.events import record_event


def _one_alert(db_path) -> int:
    db = open_db(db_path)
    record_event(db, channel="http", system="ehr-mediboard", severity="high", source="203.0.113.9")
    correlate_all(db)
    (alert_id,) = db.execute("SELECT id FROM alerts").fetchone()
    db.close()
    return int(alert_id)


def test_the_openapi_document_is_readable_anonymously_and_reveals_no_data(api):
    client, _headers = api
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.is_json
    doc = resp.get_json()
    operation = doc["paths"]["/api/v1/openapi.json"]["get"]
    assert operation["security"] == [] and "401" not in operation["responses"]
    # only the routes' shapes: no system, canary or account name of this registry
    assert "ehr-mediboard" not in resp.get_data(as_text=True) and "soar-" not in resp.get_data(as_text=True)
    # every other operation still needs a token
    others = [op for path, ops in doc["paths"].items() if path != "/api/v1/openapi.json" for op in ops.values()]
    assert others and all("security" not in op and "401" in op["responses"] for op in others)


def test_every_documented_status_is_what_the_app_answers(api, db_path):
    client, headers = api
    alert_id = _one_alert(db_path)
    none: dict[str, str] = {}
    # (path in the document, method, [(url, request kwargs)]): one request per status the route can give
    cases: list[tuple[str, str, list[tuple[str, dict[str, Any]]]]] = [
        ("/api/v1/systems/{name}/seed", "post", [
            ("/api/v1/systems/ehr-mediboard/seed", {"json": {"count": 1, "seed": 3}, "headers": headers["admin"]}),
            ("/api/v1/systems/ehr-mediboard/seed", {"json": {"seed": 3}, "headers": headers["admin"]}),
            ("/api/v1/systems/ehr-mediboard/seed", {"json": {"count": 1}, "headers": none}),
            ("/api/v1/systems/ehr-mediboard/seed", {"json": {"count": 1}, "headers": headers["analyst"]}),
            ("/api/v1/systems/nowhere/seed", {"json": {"count": 1}, "headers": headers["admin"]})]),
        ("/api/v1/alerts", "get", [
            ("/api/v1/alerts", {"headers": headers["viewer"]}),
            ("/api/v1/alerts?state=bogus", {"headers": headers["viewer"]}),
            ("/api/v1/alerts", {"headers": none})]),
        ("/api/v1/alerts/{alert_id}/ack", "post", [
            (f"/api/v1/alerts/{alert_id}/ack", {"json": {"note": "SOAR INC-1"}, "headers": headers["analyst"]}),
            (f"/api/v1/alerts/{alert_id}/ack", {"json": {"note": 5}, "headers": headers["analyst"]}),
            (f"/api/v1/alerts/{alert_id}/ack", {"json": {}, "headers": none}),
            (f"/api/v1/alerts/{alert_id}/ack", {"json": {}, "headers": headers["viewer"]}),
            ("/api/v1/alerts/999/ack", {"json": {}, "headers": headers["analyst"]})]),
        ("/api/v1/systems", "get", [
            ("/api/v1/systems", {"headers": headers["viewer"]}),
            ("/api/v1/systems", {"headers": none})]),
        ("/api/v1/openapi.json", "get", [("/api/v1/openapi.json", {"headers": none})]),
    ]
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, method, requests in cases:
        documented = {int(code) for code in doc["paths"][path][method]["responses"]}
        answered = set()
        for url, kwargs in requests:
            resp = client.open(url, method=method.upper(), **kwargs)
            assert resp.is_json, (url, resp.status_code)
            answered.add(resp.status_code)
        assert answered == documented, (path, method, sorted(answered), sorted(documented))
