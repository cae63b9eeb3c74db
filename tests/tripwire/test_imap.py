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

SERVER = Path(__file__).resolve().parents[1] / "support" / "peers" / "imap_server.py"


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


@pytest.fixture
def start_imap(tmp_path):
    """Start one more loopback IMAP server holding the given messages; return its port."""
    processes: list[subprocess.Popen] = []

    def _start(user: str, password: str, files: list[Path]) -> int:
        process = subprocess.Popen([sys.executable, str(SERVER), user, password, *map(str, files)],
                                   stdout=subprocess.PIPE, text=True)
        processes.append(process)
        return int(process.stdout.readline())

    yield _start
    for process in processes:
        process.terminate()
        process.wait(10)


def test_several_mailboxes_each_with_its_own_secret(tmp_path, canaries, db, cli, monkeypatch, start_imap):
    """The consumer mailboxes opened for canaries: one poll reads them all; passwords from a file or the env."""
    laposte = start_imap("jean.dupont@laposte.net", "pw-laposte",
                         [_eml(tmp_path / "a1.eml", canaries[0]["email"], "Votre dossier patient")])
    gmail = start_imap("m.durand@gmail.com", "pw-gmail",
                       [_eml(tmp_path / "b1.eml", "someone.else@gmail.com", "Autre chose"),
                        _eml(tmp_path / "b2.eml", canaries[1]["email"], "Offre mutuelle")])
    secrets = tmp_path / "imap-secrets"
    secrets.mkdir()
    (secrets / "m.durand@gmail.com").write_text("pw-gmail\n")
    (secrets / "m.durand@gmail.com").chmod(0o600)
    monkeypatch.setenv("CANARY_IMAP_PASSWORD_JEAN_DUPONT_LAPOSTE_NET", "pw-laposte")
    set_setting(db, "tripwire.imap_password_dir", str(secrets))
    set_setting(db, "tripwire.imap_mailboxes", f"imap://jean.dupont@laposte.net@127.0.0.1:{laposte}/INBOX,"
                                               f"imap://m.durand%40gmail.com@127.0.0.1:{gmail}")
    result = cli("tripwire", "imap-poll")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"1 event(s) from jean.dupont@laposte.net@127.0.0.1:{laposte}/INBOX",
                                          f"1 event(s) from m.durand@gmail.com@127.0.0.1:{gmail}/INBOX"]
    events = list_events(db, channel="imap")
    assert [(e["canary_id"], e["details"]["subject"]) for e in events] == [
        (canaries[0]["id"], "Votre dossier patient"), (canaries[1]["id"], "Offre mutuelle")]
    assert cli("tripwire", "imap-poll").output.count("0 event(s)") == 2  # each mailbox read once
    # No password in the registry, ever.
    stored = " ".join(str(row) for row in db.execute("SELECT * FROM settings").fetchall())
    assert "pw-gmail" not in stored and "pw-laposte" not in stored

    # A readable-by-all password file is refused; a mailbox that fails does not stop the others.
    (secrets / "m.durand@gmail.com").chmod(0o644)
    refused = cli("tripwire", "imap-poll")
    assert refused.exit_code == 1
    assert refused.output.splitlines()[-1].startswith(f"error: IMAP password file {secrets}/m.durand@gmail.com: "
                                                      "other users may read it")
    (secrets / "m.durand@gmail.com").chmod(0o600)
    monkeypatch.setenv("CANARY_IMAP_PASSWORD_JEAN_DUPONT_LAPOSTE_NET", "wrong")
    later = start_imap("m.durand@gmail.com", "pw-gmail", [_eml(tmp_path / "c1.eml", canaries[0]["email"], "Rappel")])
    set_setting(db, "tripwire.imap_mailboxes", f"imap://jean.dupont@laposte.net@127.0.0.1:{laposte},"
                                               f"imap://m.durand@gmail.com@127.0.0.1:{later}")
    partial = cli("tripwire", "imap-poll")
    assert partial.exit_code == 1
    lines = partial.output.splitlines()
    assert lines[0] == f"1 event(s) from m.durand@gmail.com@127.0.0.1:{later}/INBOX"
    assert lines[1].startswith(f"error: IMAP jean.dupont@laposte.net@127.0.0.1:{laposte}/INBOX")
    assert len(lines) == 2


def test_a_mailbox_without_its_password_says_where_to_put_it(db, cli, configured):
    set_setting(db, "tripwire.imap_mailboxes", "imaps://anne.martin@outlook.fr@outlook.office365.com")
    result = cli("tripwire", "imap-poll")
    assert result.exit_code == 1
    assert result.output.strip() == ("error: IMAP polling of anne.martin@outlook.fr needs its password in the "
                                     "environment variable CANARY_IMAP_PASSWORD_ANNE_MARTIN_OUTLOOK_FR")


def test_a_password_typed_into_a_mailbox_url_is_never_stored(db, cli):
    result = cli("config", "set", "tripwire.imap_mailboxes", "imaps://anne.martin@outlook.fr:s3cret@outlook.office365.com")
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: tripwire.imap_mailboxes: no password in the URL")
    assert "s3cret" not in " ".join(str(row) for row in db.execute("SELECT * FROM settings").fetchall())
