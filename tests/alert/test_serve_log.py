"""``canary serve``'s log says what matters at INFO; the scheduler's chatter waits for DEBUG."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from canary.alert.destinations import add_destination
from canary.settings import set_setting
from tests.support.ports import free_port, wait_for_port
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _serve(db_path: Path, callback_port: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0",
                             "--callback-port", str(callback_port), *extra],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop(serve: subprocess.Popen[str]) -> str:
    serve.send_signal(signal.SIGTERM)
    _, stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0, stderr
    return stderr


def test_serve_logs_hits_alerts_and_deliveries_and_keeps_the_scheduler_quiet(db, db_path, add_hand_canaries,
                                                                                receiver, fast_alerts):
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    add_destination(db, receiver.url)
    canary = add_hand_canaries("ehr-a", 1)[0]
    port = free_port()
    serve = _serve(db_path, port)
    try:
        wait_for_port(port)
        assert requests.get(f"http://127.0.0.1:{port}/mon-espace/documents/{canary['token']}",
                            timeout=5).status_code == 200
        wait_for(lambda: len(receiver.received) == 1, timeout=30)
    finally:
        stderr = _stop(serve)
    lines = stderr.splitlines()
    info = [line for line in lines if " INFO " in line]
    assert any(re.search(rf"hit recorded: event #\d+ http on canary {canary['id']} \(system ehr-a\)", line)
               for line in info), stderr
    assert any(re.search(r"alert #\d+ opened: low, system ehr-a, 1 canary, channel http", line)
               for line in info), stderr
    delivered = rf"alert #\d+ page \(version 1\) delivered to destination \d+ \(json://127\.0\.0\.1:{receiver.port}"
    assert any(re.search(delivered, line) for line in info), stderr
    # The scheduler's own lines (jobs added, run, executed) are not at INFO: the business lines stand out.
    assert not [line for line in info if "apscheduler" in line], stderr
    assert len(info) < 30, stderr


def test_serve_log_level_debug_shows_the_scheduler_chatter_as_debug(db, db_path):
    port = free_port()
    serve = _serve(db_path, port, "--log-level", "debug")
    try:
        wait_for_port(port)
        wait_for(lambda: db.execute("SELECT 1 FROM leases WHERE name = 'scheduler'").fetchone() is not None,
                 timeout=30)
    finally:
        stderr = _stop(serve)
    scheduler = [line for line in stderr.splitlines() if "apscheduler" in line]
    assert scheduler and all(" DEBUG " in line for line in scheduler), stderr
