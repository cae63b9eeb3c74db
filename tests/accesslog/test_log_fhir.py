"""The FHIR AuditEvent poller against a real small FHIR-like server on 127.0.0.1 (paged Bundles)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from canary.errors import CanaryError
from canary.watch.accesslog.fhir_poller import FhirPoller, FhirPollService
from canary.watch.accesslog.sources import add_source, get_position, get_source
from tests.support.accesslog import SYSTEM, access_events, ipp
from tests.support.wait import wait_for

PAGE = 2


def audit_event(rid: str, updated: str, patient_ipp: str, user: str = "jdupont", subtype: str = "read") -> dict:
    return {
        "resourceType": "AuditEvent", "id": rid, "meta": {"versionId": "1", "lastUpdated": updated},
        "recorded": updated, "action": "R", "subtype": [{"code": subtype}],
        "agent": [{"requestor": True, "who": {"identifier": {"value": user}}, "network": {"address": "10.7.7.7"}}],
        "entity": [{"what": {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.7", "value": patient_ipp}}}],
    }


class FhirServer:
    """AuditEvent search honouring _lastUpdated=ge..., answering pages of PAGE with a next link."""

    def __init__(self) -> None:
        self.resources: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.fail = False
        self.authorizations: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # http.server's name
                outer.requests.append(self.path)
                outer.authorizations.append(self.headers.get("Authorization"))
                if outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                since = query.get("_lastUpdated", ["ge0"])[0][2:]
                offset = int(query.get("_offset", ["0"])[0])
                matching = sorted((r for r in outer.resources if r["meta"]["lastUpdated"] >= since),
                                  key=lambda r: r["meta"]["lastUpdated"])
                page = matching[offset:offset + PAGE]
                bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matching),
                                          "entry": [{"resource": r} for r in page], "link": []}
                if offset + PAGE < len(matching):
                    bundle["link"].append({"relation": "next", "url": f"{outer.base}/AuditEvent?_lastUpdated=ge"
                                           f"{since}&_offset={offset + PAGE}"})
                body = json.dumps(bundle).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/fhir"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fhir() -> Iterator[FhirServer]:
    server = FhirServer()
    yield server
    server.close()


def test_poller_follows_next_links_and_resumes_at_its_cursor(db, canaries, fhir) -> None:
    fhir.resources = [
        audit_event("a1", "2026-11-28T09:00:00Z", "39999999"),
        audit_event("a2", "2026-11-28T09:01:00Z", ipp(canaries[0])),
        audit_event("a3", "2026-11-28T09:02:00Z", "39999998"),
        audit_event("a4", "2026-11-28T09:02:00Z", ipp(canaries[1]), user="mmartin"),
        {"resourceType": "AuditEvent", "id": "a5", "meta": {"lastUpdated": "2026-11-28T09:03:00Z"}},
    ]
    source = add_source(db, SYSTEM, f"fhir-auditevent:{fhir.base}", None, every="1m")
    source["created_at"] = "2026-11-28T08:00:00Z"
    result = FhirPoller(db, source).poll()
    assert (result.lines, result.malformed, result.events) == (5, 1, 2)
    assert len(fhir.requests) == 3  # three pages
    assert "_lastUpdated=ge2026-11-28T07%3A00%3A00Z" in fhir.requests[0]
    events = access_events(db)
    assert [(e["canary_id"], e["account"], e["action"], e["source"]) for e in events] == [
        (canaries[0]["id"], "jdupont", "read", "10.7.7.7"), (canaries[1]["id"], "mmartin", "read", "10.7.7.7")]
    assert events[0]["time"] == "2026-11-28T09:01:00.000Z"
    assert events[0]["details"]["auditevent"] == "AuditEvent/a2/_history/1"
    assert json.loads(get_position(db, SYSTEM)["cursor"]) == {"last_updated": "2026-11-28T09:03:00Z", "ids": ["a5"]}
    # Next poll: only what is new, and the resource at the cursor instant is not read twice.
    fhir.resources.append(audit_event("a6", "2026-11-28T09:03:00Z", ipp(canaries[2])))
    again = FhirPoller(db, get_source(db, SYSTEM)).poll()
    assert (again.lines, again.events) == (1, 1)
    assert access_events(db)[-1]["canary_id"] == canaries[2]["id"]
    assert get_source(db, SYSTEM)["lines"] == 6


def test_an_unreachable_server_is_an_error_noted_on_the_source(db, canaries, fhir, db_path) -> None:
    source = add_source(db, SYSTEM, f"fhir-auditevent:{fhir.base}", None)
    fhir.fail = True
    with pytest.raises(CanaryError, match="HTTP 503"):
        FhirPoller(db, source).poll()
    service = FhirPollService(db_path, source, BackgroundScheduler())
    assert service.run_once() is None
    assert "HTTP 503" in get_source(db, SYSTEM)["last_error"]


def test_next_links_to_another_server_are_refused(db, canaries, fhir) -> None:
    fhir.resources = [audit_event(f"x{i}", f"2026-11-28T09:0{i}:00Z", "1") for i in range(3)]
    source = add_source(db, SYSTEM, f"fhir-auditevent:{fhir.base}", None)
    source["created_at"] = "2026-11-28T08:00:00Z"
    poller = FhirPoller(db, source)
    poller.base_url = fhir.base.replace("127.0.0.1", "localhost")
    with pytest.raises(CanaryError, match="another server"):
        poller.poll()


def test_service_runs_on_the_shared_scheduler(db_path, db, canaries, fhir) -> None:
    fhir.resources = [audit_event("s1", "2099-01-01T00:00:00Z", ipp(canaries[3]), subtype="$export")]
    source = add_source(db, SYSTEM, f"fhir-auditevent:{fhir.base}", None, every="1h")
    scheduler = BackgroundScheduler(timezone="UTC")
    service = FhirPollService(db_path, source, scheduler)
    service.start()
    scheduler.start()
    try:
        [event] = wait_for(lambda: access_events(db))
    finally:
        service.stop()
        scheduler.shutdown(wait=True)
    assert event["severity"] == "critical"  # a $export operation is a bulk export
    assert event["details"]["exfiltration_reason"] == "bulk-export"


def test_the_bearer_token_setting_is_sent(db, canaries, fhir) -> None:
    from canary.settings import set_setting

    source = add_source(db, SYSTEM, f"fhir-auditevent:{fhir.base}", None)
    FhirPoller(db, source).poll()
    set_setting(db, "accesslog.fhir_bearer_token", "s3cret")
    FhirPoller(db, source).poll()
    assert fhir.authorizations == [None, "Bearer s3cret"]
