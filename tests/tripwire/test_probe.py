"""`canary contacts confirm` probes each consumer mailbox before a canary carries it: a real relay and
IMAP mailbox of a provider on loopback (tests.support.peers.mail_provider), the real canary SMTP receiver
for the forward, and a mailbox that never receives is refused."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage

import pytest

from canary.settings import set_setting
from tests.support.peers.mail_provider import start_mail_provider

pytest.importorskip("twisted.mail.imap4", reason="twisted (test extra) runs the loopback IMAP server")

LOGIN, PASSWORD = "collecte@fournisseur.example", "pw-fournisseur"
RELAY = "relais@mail.example.fr"  # on pool.mail_domains of the tripwire fixtures


def _pending(cli) -> list[str]:
    assert cli("system", "add", "ehr-a", "--kind", "ehr").exit_code == 0
    assert cli("config", "set", "pool.mailbox_providers", "gmail.com,laposte.net,orange.fr").exit_code == 0
    seeded = cli("seed", "ehr-a", "--count", "30", "--seed", "3")
    assert seeded.exit_code == 0, seeded.output
    return [row["value"] for row in json.loads(cli("contacts", "list", "--pending", "--json").stdout)]


def test_confirm_keeps_the_mailboxes_whose_probe_came_back_and_refuses_the_other(cli, db, start_listeners,
                                                                                monkeypatch) -> None:
    pending = _pending(cli)
    assert len(pending) >= 4
    polled, dropped, forwarded = pending[:3]
    set_setting(db, "tripwire.smtp_forward_addresses", RELAY)
    receiver = start_listeners(smtp=True)["SmtpService"]
    with start_mail_provider(LOGIN, PASSWORD, drop=(dropped,),
                             forward={forwarded: f"{RELAY}@127.0.0.1:{receiver.port}"}) as provider:
        for name, value in (("tripwire.probe_smtp_host", "127.0.0.1"), ("tripwire.probe_smtp_port", provider.smtp_port),
                            ("tripwire.probe_smtp_starttls", "false"),
                            ("tripwire.probe_from", "accueil@mail.example.fr"),
                            ("tripwire.imap_mailboxes", f"imap://{LOGIN}@127.0.0.1:{provider.imap_port}")):
            assert cli("config", "set", name, str(value)).exit_code == 0
        monkeypatch.setenv("CANARY_IMAP_PASSWORD_COLLECTE_FOURNISSEUR_EXAMPLE", PASSWORD)

        result = cli("contacts", "confirm", polled, dropped, forwarded, "--wait", "6")
        assert result.exit_code == 1
        assert result.stdout.strip() == "2 mailboxes confirmed"
        assert result.stderr.strip().splitlines() == [
            f"refused: {dropped}: no probe received within 6 s (looked in IMAP {LOGIN}@127.0.0.1:"
            f"{provider.imap_port}/INBOX, the SMTP forward)"]
        carried = {c["email"] for c in json.loads(cli("list", "--json").output) if c["email"]}
        assert carried & set(pending) == {polled, forwarded}
        assert dropped in {r["value"] for r in json.loads(cli("contacts", "list", "--pending", "--json").stdout)}
        routes = dict(db.execute("SELECT address, route FROM tripwire_probes").fetchall())
        assert routes[polled].startswith("IMAP ") and routes[forwarded] == "SMTP forward" and routes[dropped] is None

        # The probes never become alerts once the mailboxes are canaries'; real mail afterwards does.
        assert cli("tripwire", "imap-poll").exit_code == 0
        assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "offres@assurance.example", polled, "Votre devis"
        message.set_content("Bonjour\n")
        with smtplib.SMTP("127.0.0.1", provider.smtp_port, timeout=30) as client:
            client.send_message(message)
        assert cli("tripwire", "imap-poll").exit_code == 0
        channels = [row[0] for row in db.execute("SELECT channel FROM events").fetchall()]
        assert channels == ["imap"]


def test_confirm_without_a_relay_or_a_way_back_says_so_and_changes_nothing(cli, db, configured) -> None:
    pending = _pending(cli)
    before = db.execute("SELECT record FROM canaries ORDER BY id").fetchall()
    result = cli("contacts", "confirm", pending[0])
    assert result.exit_code == 1 and "set tripwire.probe_smtp_host" in result.output
    assert len(result.output.strip().splitlines()) == 1
    set_setting(db, "tripwire.probe_smtp_host", "127.0.0.1")
    set_setting(db, "tripwire.probe_from", "accueil@mail.example.fr")
    result = cli("contacts", "confirm", "--all")
    assert result.exit_code == 1 and "no way to read a probe back" in result.output
    assert db.execute("SELECT record FROM canaries ORDER BY id").fetchall() == before
    assert db.execute("SELECT COUNT(*) FROM tripwire_probes").fetchone()[0] == 0


def test_an_unreachable_relay_stops_confirm_in_one_line(cli, db, configured, monkeypatch) -> None:
    from tests.support.ports import free_port

    pending = _pending(cli)
    for name, value in (("tripwire.probe_smtp_host", "127.0.0.1"), ("tripwire.probe_smtp_port", free_port()),
                        ("tripwire.probe_from", "accueil@mail.example.fr"),
                        ("tripwire.imap_mailboxes", f"imap://{LOGIN}@127.0.0.1:{free_port()}")):
        assert cli("config", "set", name, str(value)).exit_code == 0
    monkeypatch.setenv("CANARY_IMAP_PASSWORD_COLLECTE_FOURNISSEUR_EXAMPLE", PASSWORD)
    result = cli("contacts", "confirm", "--all")
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("error: probe relay 127.0.0.1:") and "no mailbox confirmed" in result.output
    assert len(json.loads(cli("contacts", "list", "--pending", "--json").stdout)) == len(pending)


def test_probes_come_back_through_the_forward_even_when_the_kept_messages_roll_over(cli, db, start_listeners) -> None:
    # More probes than tripwire.messages_keep: the receiver prunes the oldest stored messages before
    # confirm looks, yet each probe's arrival is remembered on the probe itself.
    pending = _pending(cli)[:3]
    set_setting(db, "tripwire.smtp_forward_addresses", RELAY)
    set_setting(db, "tripwire.messages_keep", "1")
    receiver = start_listeners(smtp=True)["SmtpService"]
    forward = {address: f"{RELAY}@127.0.0.1:{receiver.port}" for address in pending}
    with start_mail_provider(LOGIN, PASSWORD, forward=forward) as provider:
        for name, value in (("tripwire.probe_smtp_host", "127.0.0.1"), ("tripwire.probe_smtp_port", provider.smtp_port),
                            ("tripwire.probe_smtp_starttls", "false"),
                            ("tripwire.probe_from", "accueil@mail.example.fr")):
            assert cli("config", "set", name, str(value)).exit_code == 0
        result = cli("contacts", "confirm", *pending, "--wait", "20")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "3 mailboxes confirmed"
    assert db.execute("SELECT COUNT(*) FROM tripwire_messages").fetchone()[0] == 1
    routes = dict(db.execute("SELECT address, route FROM tripwire_probes").fetchall())
    assert set(routes.values()) == {"SMTP forward"}
