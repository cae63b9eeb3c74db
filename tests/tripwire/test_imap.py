"""IMAP polling against a real IMAP server on loopback (Twisted's IMAP4 server in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from canary.settings import set_setting
from canary.store.events import list_events

pytest.importorskip("twisted.mail.imap4", reason="twisted (test extra) runs the loopback IMAP server")

SERVER = Path(__file__).with_name("imap_server.py")


def _eml(path: Path, to: str, subject: str) -> Path:
    message = EmailMessage()
    message["From"] = "Recrutement <rh@cabinet-conseil.example>"
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{path.stem}@cabinet-conseil.example>"
    message["Received"] = "from out.cabinet-conseil.example by mx.hosting.example; Tue, 3 Nov 2026 09:58:00 +0100"
    message.set_content("Bonjour, suite à votre hospitalisation ...\n")
    path.write_bytes(bytes(message))
    return path


@pytest.fixture
def imap_server(tmp_path, canaries, db):
    files = [_eml(tmp_path / "m1.eml", canaries[0]["email"], "Votre dossier"),
             _eml(tmp_path / "m2.eml", "someone.else@mail.example.fr", "Autre chose"),
             _eml(tmp_path / "m3.eml", canaries[1]["email"].upper(), "Relance")]
    process = subprocess.Popen([sys.executable, str(SERVER), "veille", "pw-imap", *map(str, files)],
                               stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        for name, value in {"tripwire.imap_host": "127.0.0.1", "tripwire.imap_port": str(port),
                            "tripwire.imap_ssl": "false", "tripwire.imap_user": "veille"}.items():
            set_setting(db, name, value)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def test_poll_turns_mail_to_canaries_into_events_once(imap_server, canaries, db, cli, monkeypatch):
    monkeypatch.setenv("CANARY_IMAP_PASSWORD", "pw-imap")
    first = cli("tripwire", "imap-poll")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("2 event(s)")
    events = list_events(db, channel="imap")
    assert [(e["canary_id"], e["details"]["subject"]) for e in events] == [
        (canaries[0]["id"], "Votre dossier"), (canaries[1]["id"], "Relance")]
    assert events[0]["source"] == "Recrutement <rh@cabinet-conseil.example>" and events[0]["severity"] == "high"
    assert events[0]["details"]["received"][0].startswith("from out.cabinet-conseil.example")
    assert events[0]["details"]["group"].startswith("tripwire:imap:from:")  # grouped by client
    kept = cli("tripwire", "messages", "show", str(events[0]["details"]["message"])).output
    assert "suite à votre hospitalisation" in kept or "suite =C3=A0 votre" in kept
    assert cli("tripwire", "imap-poll").output.startswith("0 event(s)")  # read once only
    assert len(list_events(db, channel="imap")) == 2


def test_wrong_password_is_a_clear_error(imap_server, canaries, db, cli, monkeypatch):
    monkeypatch.setenv("CANARY_IMAP_PASSWORD", "wrong")
    result = cli("tripwire", "imap-poll")
    assert result.exit_code == 1 and result.output.startswith("error: IMAP veille@127.0.0.1")
