"""``canary serve --dns --smtp`` as an operator runs it: a real process, real clients, clean stop."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import requests
from dnslib import DNSRecord

from canary.settings import set_setting
from canary.store.events import list_events
from tests.support.ports import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def _serve_everything(db_path: Path) -> tuple[subprocess.Popen[str], tuple[int, int, int, int]]:
    """``canary serve`` with every tripwire listener on free ports: http, dns, smtp, console."""
    ports = http_port, dns_port, smtp_port, console_port = free_port(), free_port(), free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", str(console_port),
         "--callback-port", str(http_port), "--dns", "--dns-port", str(dns_port),
         "--smtp", "--smtp-port", str(smtp_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return process, ports


def test_serve_runs_every_listener_on_its_own_port(canaries, db, db_path):
    process, (http_port, dns_port, smtp_port, console_port) = _serve_everything(db_path)
    try:
        for port in (http_port, dns_port, smtp_port, console_port):
            wait_for_port(port)
        token = canaries[0]["token"]
        page = requests.get(f"http://127.0.0.1:{http_port}/mon-espace/documents/{token}", timeout=5)
        assert page.status_code == 200 and b"Espace patient" in page.content
        console = requests.get(f"http://127.0.0.1:{console_port}/auth/login", timeout=5)
        assert console.status_code == 200 and console.content != page.content
        DNSRecord.question(canaries[1]["tokens"]["hostname"]).send("127.0.0.1", dns_port, timeout=5)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            assert client.noop()[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert [(e["channel"], e["canary_id"]) for e in list_events(db)] == [
        ("http", canaries[0]["id"]), ("dns", canaries[1]["id"])]


def test_serve_reports_an_unloadable_smtp_key_and_runs_the_other_listeners(canaries, db, db_path, tmp_path):
    from tests.support.certs import self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    key.chmod(0o644)  # readable by everyone: refused
    set_setting(db, "tripwire.smtp_tls_cert", str(cert))
    set_setting(db, "tripwire.smtp_tls_key", str(key))
    process, (http_port, dns_port, smtp_port, console_port) = _serve_everything(db_path)
    try:
        for port in (http_port, dns_port, console_port):
            wait_for_port(port)
        token = canaries[0]["token"]
        assert requests.get(f"http://127.0.0.1:{http_port}/{token}.gif", timeout=5).status_code == 200
        DNSRecord.question(canaries[1]["tokens"]["hostname"]).send("127.0.0.1", dns_port, timeout=5)
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", smtp_port)) != 0  # the receiver did not start
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert f"tripwire smtp receiver cannot start: tripwire.smtp_tls_key {key}: other users may read it" in stderr
    assert "PRIVATE KEY" not in stderr
    assert [e["channel"] for e in list_events(db)] == ["http", "dns"]
