"""/healthz, /readyz and /metrics scraped from a running `canary serve`, without login and without data."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from canary.ops.services import outbox_not_stuck
from canary.settings import set_setting
from canary.store.events import record_event
from canary.watch.accesslog.sources import add_source
from canary.web.tokens import create_token
from tests.support.wait import wait_for


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _scraper(db) -> dict[str, str]:
    """What a Prometheus job sends: an API token (the metrics are not for anonymous clients)."""
    return {"Authorization": f"Bearer {create_token(db, 'prometheus', 'viewer', 'test')[1]}"}


def _scrape(port: int, auth: dict[str, str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10, headers=auth)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    assert "Set-Cookie" not in response.headers
    return _samples(response.text)


def test_health_and_readiness_of_a_running_serve(db, db_path, add_hand_canaries, serve, tmp_path):
    canaries = add_hand_canaries(count=1)
    served = serve(db_path)
    base = f"http://127.0.0.1:{served.console_port}"
    health = requests.get(f"{base}/healthz", timeout=10)
    assert health.status_code == 200 and health.text == "ok\n"
    ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"registry writable": "ok", "listener tripwire http callback listener": "ok",
                              "scheduler alive": "ok", "outbox not stuck": "ok", "tripwire writer": "ok"}
    # The console itself still wants a login.
    assert requests.get(f"{base}/", timeout=10, allow_redirects=False).status_code in (302, 303)

    # Another process holds the registry's write lock: not ready (after the probe's short wait), and
    # the answer names the check, never the reason.
    blocker = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocked = requests.get(f"{base}/readyz", timeout=20)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert blocked.status_code == 503
    assert blocked.json() == {"status": "not ready", "checks": {**body["checks"], "registry writable": "failing"}}
    assert "locked" not in blocked.text and str(db_path) not in blocked.text
    assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
    for answer in (health, ready, blocked):
        assert canaries[0]["id"] not in answer.text and canaries[0]["token"] not in answer.text
    served.stop()


def test_metrics_scraped_from_a_running_serve(db, db_path, add_hand_canaries, serve, tmp_path):
    canaries = add_hand_canaries(count=3)
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    record_event(db, channel="dns", canary_id=canaries[1]["id"], severity="medium")
    record_event(db, channel="leak", canary_id=canaries[2]["id"], severity="critical")
    db.execute("INSERT INTO sweeps (sources, started_at, finished_at, status, files, bytes, skipped) "
               "VALUES ('[]', '2026-12-01T00:00:00Z', '2026-12-01T00:01:00Z', 'ok', 4, 123456, ?)",
               [json.dumps([{"file": "a.zip", "reason": "encrypted"}, {"file": "b.xlsx", "reason": "bomb"}])])
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    add_source(db, "ehr-test", f"file://{audit}", "jsonl", name="ehr-audit")
    auth = _scraper(db)
    served = serve(db_path, access_logs=True)
    # A real hit on the callback listener, and real lines for the access-log tailer (one malformed).
    assert requests.get(f"http://127.0.0.1:{served.callback_port}/{canaries[0]['token']}.gif",
                        timeout=10).status_code == 200
    with audit.open("a") as handle:
        handle.write(json.dumps({"user": "dr.house", "patient": "99999999", "action": "read",
                                 "time": "2026-12-01T10:00:00Z"}) + "\n")
        handle.write("this is not json\n")

    def settled():
        samples = _scrape(served.console_port, auth)
        lines = samples.get(("canary_accesslog_lines_total", (("source", "ehr-audit"),)))
        alerts = sum(v for (name, _), v in samples.items() if name == "canary_alerts")
        return samples if lines == 2 and alerts == 3 else None

    samples = wait_for(settled, timeout=15, interval=0.1, message=lambda: str(_scrape(served.console_port, auth)))
    assert sum(v for (name, labels), v in samples.items()
               if name == "canary_events" and ("channel", "http") in labels) == 1
    assert samples[("canary_events", (("channel", "dns"), ("severity", "medium")))] == 1
    assert samples[("canary_events", (("channel", "leak"), ("severity", "critical")))] == 1
    assert samples[("canary_events_recorded_total", ())] == 3
    assert samples[("canary_alerts", (("severity", "critical"), ("state", "open")))] == 1
    assert samples[("canary_outbox_messages", (("state", "pending"),))] == 0
    assert samples[("canary_outbox_oldest_pending_age_seconds", ())] == 0
    assert samples[("canary_sweep_bytes_total", ())] == 123456
    assert samples[("canary_sweep_skipped_total", ())] == 2
    assert samples[("canary_sweeps", (("status", "ok"),))] == 1
    assert samples[("canary_accesslog_malformed_total", (("source", "ehr-audit"),))] == 1
    assert samples[("canary_listener_up", (("listener", "tripwire http callback listener"),))] == 1
    assert samples[("canary_listener_connections_refused_total",
                    (("listener", "tripwire http callback listener"),))] == 0
    assert samples[("canary_listener_accept_errors_total", (("listener", "tripwire http callback listener"),))] == 0
    assert samples[("canary_listener_errors_total", (("listener", "tripwire"),))] == 0
    assert samples[("canary_canaries", (("status", "active"),))] == 3
    text = requests.get(f"http://127.0.0.1:{served.console_port}/metrics", timeout=10, headers=auth).text
    assert all(c["id"] not in text and c["token"] not in text for c in canaries)
    assert "ehr-test" not in text  # no system name: which systems hold canaries is not the scraper's business
    served.stop()


def test_outbox_is_stuck_when_due_messages_wait_untaken(db, db_path, add_hand_canaries):
    canary = add_hand_canaries(count=1)[0]
    assert outbox_not_stuck(str(db_path)) is None
    event_id = record_event(db, channel="http", canary_id=canary["id"], severity="high")
    db.execute("INSERT INTO alerts (key, severity, channel, first_seen, last_seen, created_at, updated_at) "
               "VALUES ('k', 'high', 'http', 't', 't', 't', 't')")
    db.execute("INSERT INTO alert_destinations (url, kind, created_at) VALUES ('json://127.0.0.1:9/x', 'json', 't')")
    old = time.time() - 3600
    db.execute("INSERT INTO alert_outbox (alert_id, version, destination_id, idempotency_key, payload, "
               "next_attempt_at, created_at) VALUES (1, 1, 1, 'key-1', '{}', ?, 't')", [old])
    assert event_id and outbox_not_stuck(str(db_path)) == "1 alert messages due for over 600 s and not taken"
    # Taken by a worker (a live lease): not stuck.
    db.execute("UPDATE alert_outbox SET lease_until = ?", [time.time() + 60])
    assert outbox_not_stuck(str(db_path)) is None


def test_outside_serve_the_console_app_checks_the_registry(db_path, db):
    from canary.web import create_app

    client = create_app({"DATABASE": str(db_path), "TESTING": True}).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json() == {"status": "ready", "checks": {"registry writable": "ok"}}
    metrics = client.get("/metrics", headers=_scraper(db)).get_data(as_text=True)
    assert "canary_events_recorded_total 0.0" in metrics
    assert Path(db_path).exists()


def test_listeners_that_could_not_start_make_serve_not_ready(db, db_path, add_hand_canaries, serve, tmp_path):
    import socket

    from tests.support.certs import self_signed_certificate

    add_hand_canaries(count=1)
    auth = _scraper(db)
    cert, key = self_signed_certificate(tmp_path)
    key.chmod(0o644)  # readable by everyone: the SMTP receiver refuses to start, serve runs the rest
    set_setting(db, "tripwire.smtp_tls_cert", str(cert))
    set_setting(db, "tripwire.smtp_tls_key", str(key))
    set_setting(db, "pool.mail_domains", "mail.example.fr")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        add_source(db, "ehr-test", f"syslog://127.0.0.1:{port}", "jsonl", name="ehr-syslog")
        served = serve(db_path, "--smtp", "--smtp-port", "0", access_logs=True)
        ready = requests.get(f"http://127.0.0.1:{served.console_port}/readyz", timeout=20)
        samples = _scrape(served.console_port, auth)
        stderr = served.stop()
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["listener tripwire smtp receiver"] == "failing"
    assert checks["listener access-log sources"] == "failing"
    assert checks["listener tripwire http callback listener"] == "ok" and checks["registry writable"] == "ok"
    assert "not ready: listener access-log sources: not started: ehr-syslog" in stderr
    assert "key" not in ready.text and str(tmp_path) not in ready.text
    assert samples[("canary_listener_up", (("listener", "tripwire smtp receiver"),))] == 0
    assert samples[("canary_listener_up", (("listener", "access-log sources"),))] == 0
    assert samples[("canary_listener_up", (("listener", "tripwire http callback listener"),))] == 1
    assert samples[("canary_listener_errors_total", (("listener", "tripwire"),))] == 1  # the unreadable key
    assert samples[("canary_listener_errors_total", (("listener", "accesslog"),))] == 1  # the taken port


def test_readiness_fails_on_a_full_disk_and_recovers_when_room_is_made(serve, tmp_path):
    """The registry on a small tmpfs filled to the last byte: /readyz must say not ready (a rolled-back
    write never reaches the disk and would still pass), then ready again once room is made."""
    import os
    import subprocess

    import pytest

    from canary.store import open_db

    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(disk)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        db_path = disk / "canary.db"
        open_db(db_path).close()
        served = serve(db_path)
        base = f"http://127.0.0.1:{served.console_port}"
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\xff" * size)
            except OSError:
                pass
        os.close(fd)
        full = requests.get(f"{base}/readyz", timeout=10)
        assert full.status_code == 503
        assert full.json()["checks"]["registry writable"] == "failing"
        filler.unlink()
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        served.stop()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_health_answers_while_many_idle_connections_sit_on_the_console(db, db_path, serve):
    """110 idle connections blocked the console and /healthz (waitress's default of 100 connections)."""
    import socket

    served = serve(db_path)
    idle = [socket.create_connection(("127.0.0.1", served.console_port), timeout=5) for _ in range(150)]
    try:
        health = requests.get(f"http://127.0.0.1:{served.console_port}/healthz", timeout=10)
        assert health.status_code == 200 and health.text == "ok\n"
    finally:
        for conn in idle:
            conn.close()
    served.stop()
