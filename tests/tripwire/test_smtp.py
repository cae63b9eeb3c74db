"""The SMTP receiver driven by smtplib over loopback: delivery, relay refusal, caps."""

from __future__ import annotations

import json
import smtplib

import pytest

from canary.store.events import list_events
from tests.support.smtp import canary_address as _canary_address
from tests.support.smtp import make_message as _message


def test_mail_to_a_canary_is_an_event_and_the_message_is_kept(start_listeners, canaries, db, mail_domain, cli):
    port = start_listeners(smtp=True)["SmtpService"].port
    address = _canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("attacker.example")
        refused = client.send_message(_message(address), from_addr="bounce@offres-sante.example",
                                      to_addrs=[address, f"nobody@{mail_domain}"])
    assert refused == {}
    [event] = list_events(db, channel="smtp")
    assert event["canary_id"] == canaries[0]["id"] and event["source"] == "127.0.0.1"
    assert event["severity"] == "high"
    details = event["details"]
    assert details["mail_from"] == "bounce@offres-sante.example" and details["subject"] == "Votre dossier"
    assert details["from"].endswith("<contact@offres-sante.example>") and details["helo"] == "attacker.example"
    assert details["received"][0].startswith("from relay.example")
    assert details["group"].startswith("tripwire:smtp:from:")  # grouped by client
    shown = cli("tripwire", "messages", "show", str(details["message"]))
    assert "rappel de rendez-vous" in shown.output and "Subject: Votre dossier" in shown.output


def test_relaying_is_refused(start_listeners, canaries, db):
    port = start_listeners(smtp=True)["SmtpService"].port
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client, pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        client.send_message(_message("victim@gmail.example"), to_addrs=["victim@gmail.example"])
    assert info.value.recipients["victim@gmail.example"][0] == 550
    assert list_events(db, channel="smtp") == []


def test_size_and_recipient_caps(start_listeners, canaries, db, mail_domain):
    port = start_listeners(smtp=True)["SmtpService"].port  # caps: 20000 bytes, 5 recipients
    address = _canary_address(db, canaries[1], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPException) as too_big:
            client.send_message(_message(address, body="x" * 60000), to_addrs=[address])
        assert "552" in str(too_big.value) or getattr(too_big.value, "smtp_code", 0) == 552
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("spam@example.org")
        codes = [client.rcpt(f"user{i}@{mail_domain}")[0] for i in range(8)]
        client.rset()
    assert codes == [250] * 5 + [452] * 3
    assert list_events(db, channel="smtp") == []  # nothing was delivered
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:  # still serving
        client.send_message(_message(address), to_addrs=[address])
    assert len(list_events(db, channel="smtp")) == 1


def test_garbage_and_abuse_never_stop_the_receiver(start_listeners, canaries, db, mail_domain):
    import socket

    port = start_listeners(smtp=True)["SmtpService"].port
    for garbage in (b"\x00\xff\xfe\r\n" * 5, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HELO " + b"a" * 100000 + b"\r\n",
                    b"MAIL FROM:<a@b>\r\nDATA\r\n", b"EHLO x\r\nAUTH PLAIN AGFkbWluAGFkbWlu\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            banner = sock.recv(1024)
            assert banner.startswith(b"220 mx.mail.example.fr ESMTP") and b"python" not in banner.lower()
            sock.sendall(garbage)
            sock.settimeout(2)
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""
            assert not answer.startswith(b"250 2.0.0")  # nothing was accepted as a message
    address = _canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(_message(address), to_addrs=[address])
    assert len(list_events(db, channel="smtp")) == 1


def test_encoded_subjects_are_decoded_and_received_headers_unfolded(start_listeners, canaries, db, mail_domain, cli):
    port = start_listeners(smtp=True)["SmtpService"].port
    address = _canary_address(db, canaries[0], mail_domain)
    raw = (
        "Received: from relay.example (relay.example [192.0.2.7])\r\n"
        "\tby mx.example (Postfix) with ESMTPS id 4XyzQ;\r\n"
        "        Tue, 3 Nov 2026 10:00:00 +0100\r\n"
        "From: =?utf-8?q?Service_m=C3=A9dical?= <contact@offres-sante.example>\r\n"
        f"To: {address}\r\n"
        "Subject: =?utf-8?q?Votre_dossier_m=C3=A9dical?=\r\n =?iso-8859-1?q?_=E0_jour?=\r\n"
        "Message-ID: <1@offres-sante.example>\r\n\r\nBonjour.\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        assert client.sendmail("bounce@offres-sante.example", [address], raw) == {}
    [event] = list_events(db, channel="smtp")
    details = event["details"]
    assert details["subject"] == "Votre dossier médical à jour"
    assert details["from"] == "Service médical <contact@offres-sante.example>"
    assert details["received"] == ["from relay.example (relay.example [192.0.2.7]) by mx.example (Postfix) with "
                                   "ESMTPS id 4XyzQ; Tue, 3 Nov 2026 10:00:00 +0100"]
    listed = json.loads(cli("tripwire", "messages", "list", "--json").output)
    assert listed[0]["subject"] == "Votre dossier médical à jour"
    # The kept copy stays byte for byte what was sent.
    assert "=?utf-8?q?Votre_dossier_m=C3=A9dical?=" in cli("tripwire", "messages", "show", "1").output


def test_undecodable_encoded_words_are_kept_as_sent(start_listeners, canaries, db, mail_domain):
    port = start_listeners(smtp=True)["SmtpService"].port
    address = _canary_address(db, canaries[1], mail_domain)
    raw = f"To: {address}\r\nSubject: =?x-unknown?q?caf=E9?= et =?utf-8?b?###?=\r\n\r\nx\r\n".encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("a@b.example", [address], raw)
    [event] = list_events(db, channel="smtp")
    assert event["details"]["subject"] == "=?x-unknown?q?caf=E9?= et =?utf-8?b?###?="  # as sent, nothing lost


def test_a_word_that_decodes_to_nothing_is_kept_as_sent():
    from canary.watch.tripwire.messages import readable_header

    assert readable_header("=?utf-8?b?###?=") == "=?utf-8?b?###?="
    assert readable_header("Re: =?utf-8?q?r=C3=A9sultats?=\r\n  suite") == "Re: résultats suite"


def test_a_consumer_mailbox_forwarding_to_the_receiver(start_listeners, configured, canaries, db, mail_domain, cli):
    """The documented alternative to IMAP: the provider forwards; the headers still name the canary's mailbox."""
    from canary.settings import set_setting

    set_setting(db, "tripwire.smtp_forward_addresses", f"relais@{mail_domain}")
    port = start_listeners(smtp=True)["SmtpService"].port
    mailbox = _canary_address(db, canaries[0], "laposte.net")
    forwarded = _message(mailbox, subject="Résultats d'analyses")
    forwarded["Delivered-To"] = mailbox
    confirmation = _message(f"relais@{mail_domain}", subject="Confirmation de transfert (#4821)")
    unrelated = _message("someone.else@laposte.net", subject="Pas une canary")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for message in (forwarded, confirmation, unrelated):
            assert client.send_message(message, from_addr="srs@laposte.net", to_addrs=[f"relais@{mail_domain}"]) == {}
        # Header recipients count only through a forward address: elsewhere the envelope decides.
        client.send_message(_message(mailbox), to_addrs=[f"nobody@{mail_domain}"])
    [event] = list_events(db, channel="smtp")
    assert event["canary_id"] == canaries[0]["id"]
    assert event["details"]["recipient"] == mailbox and event["details"]["forwarded_by"] == f"relais@{mail_domain}"
    kept = cli("tripwire", "messages", "list", "--json").output
    assert "Confirmation de transfert (#4821)" in kept and "Pas une canary" in kept  # readable by the operator
