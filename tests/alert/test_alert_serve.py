"""``canary serve`` runs the alert workers: an event stored while it runs reaches the webhook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from canary.alert.destinations import add_destination
from canary.settings import set_setting
from tests.support.peers.alert_receiver import hit
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_serve_delivers_alerts(db, db_path, add_hand_canaries, receiver):
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    set_setting(db, "alert.poll_seconds", "0.05")
    add_destination(db, receiver.url)
    canary = add_hand_canaries("ehr-a", 1)[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    serve = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0",
                              "--callback-port", "0"],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        hit(db, canary["id"], channel="leak", severity="critical", group="sweep:1")
        wait_for(lambda: len(receiver.received) == 1, timeout=30)
    finally:
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
    (body,) = receiver.received.values()
    assert body["systems"] == ["ehr-a"] and body["severity"] == "critical"
    assert serve.returncode == 0, stderr
    assert "started alert-delivery" in stderr
