"""STARTTLS on the SMTP receiver: smtplib against the real receiver with a certificate made here."""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from pathlib import Path

import pytest

from canary.errors import CanaryError
from canary.settings import set_setting
from canary.store.events import list_events
from canary.watch.tripwire.smtp_tls import tls_context
from tests.support.certs import self_signed_certificate
from tests.support.smtp import canary_address, make_message


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = self_signed_certificate(tmp_path)
    key.chmod(0o600)
    return cert, key


@pytest.fixture
def tls_configured(configured, certificate):
    cert, key = certificate
    set_setting(configured, "tripwire.smtp_tls_cert", str(cert))
    set_setting(configured, "tripwire.smtp_tls_key", str(key))
    return configured


def _client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))  # trusts only the test certificate


def test_starttls_then_mail_to_a_canary_is_recorded_as_in_clear(start_listeners, tls_configured, certificate,
                                                               canaries, db, mail_domain):
    port = start_listeners(smtp=True)["SmtpService"].port
    address = canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("attacker.example")
        assert client.has_extn("starttls")
        code, _ = client.starttls(context=_client_context(certificate[0]))
        assert code == 220
        client.ehlo("attacker.example")
        assert not client.has_extn("starttls")  # offered once, before the handshake
        refused = client.send_message(make_message(address), from_addr="bounce@offres-sante.example",
                                      to_addrs=[address])
        tls_version = client.sock.version()
    assert refused == {}
    [event] = list_events(db, channel="smtp")
    assert event["canary_id"] == canaries[0]["id"] and event["source"] == "127.0.0.1"
    assert event["severity"] == "high" and event["system"] == canaries[0]["system"]
    details = event["details"]
    assert details["mail_from"] == "bounce@offres-sante.example" and details["subject"] == "Votre dossier"
    assert details["helo"] == "attacker.example" and details["recipient"] == address
    assert details["group"].startswith("tripwire:smtp:from:")  # grouped by client
    assert details["tls"]["version"] == tls_version and details["tls"]["cipher"]


def test_mail_in_clear_is_still_accepted_by_default(start_listeners, tls_configured, canaries, db, mail_domain):
    port = start_listeners(smtp=True)["SmtpService"].port
    address = canary_address(db, canaries[1], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("bulk.example")
        assert client.has_extn("starttls")
        assert client.send_message(make_message(address), to_addrs=[address]) == {}
    [event] = list_events(db, channel="smtp")
    assert event["canary_id"] == canaries[1]["id"] and "tls" not in event["details"]


def test_required_tls_refuses_mail_before_starttls(start_listeners, tls_configured, certificate, canaries, db,
                                                   mail_domain):
    set_setting(tls_configured, "tripwire.smtp_require_tls", "true")
    port = start_listeners(smtp=True)["SmtpService"].port
    address = canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("bulk.example")
        code, text = client.mail("bounce@offres-sante.example")
        assert code == 530 and b"STARTTLS" in text
        assert client.rcpt(address)[0] == 530
        client.starttls(context=_client_context(certificate[0]))
        client.ehlo("bulk.example")
        assert client.send_message(make_message(address), to_addrs=[address]) == {}
    assert [e["canary_id"] for e in list_events(db, channel="smtp")] == [canaries[0]["id"]]


def test_a_failed_handshake_does_not_stop_the_receiver(start_listeners, tls_configured, canaries, db, mail_domain):
    import socket

    port = start_listeners(smtp=True)["SmtpService"].port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        replies = sock.makefile("rb")
        assert replies.readline().startswith(b"220")
        sock.sendall(b"EHLO x\r\n")
        while not replies.readline().startswith(b"250 "):
            pass
        sock.sendall(b"STARTTLS\r\n")
        assert replies.readline().startswith(b"220")
        sock.sendall(b"\x16\x03\x01\x00\x05garbage-not-a-client-hello\r\n")
        sock.settimeout(2)
        answer = b""
        with contextlib.suppress(OSError):
            answer = sock.recv(1024)
        assert not answer.startswith(b"250")  # a TLS alert or a closed connection, never a session
    address = canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(make_message(address), to_addrs=[address])
    assert len(list_events(db, channel="smtp")) == 1


# --- what an operator gets wrong, named precisely (setting, file, reason), never the key's content ---

def _error(cert: Path | str, key: Path | str, require: bool = False) -> str:
    with pytest.raises(CanaryError) as info:
        tls_context(str(cert), str(key), require=require)
    return str(info.value)


def test_each_certificate_problem_says_what_and_where(certificate, tmp_path):
    cert, key = certificate
    secret_lines = key.read_text().splitlines()[1:-1]
    seen: list[str] = []

    def error(cert: Path | str, key: Path | str, require: bool = False) -> str:
        seen.append(_error(cert, key, require))
        return seen[-1]

    missing = tmp_path / "absent.pem"
    message = error(cert, missing)
    assert f"tripwire.smtp_tls_key {missing}" in message and "No such file" in message
    message = error(missing, key)
    assert f"tripwire.smtp_tls_cert {missing}" in message

    key.chmod(0o644)
    message = error(cert, key)
    assert f"tripwire.smtp_tls_key {key}" in message and "0644" in message and "chmod 600" in message
    key.chmod(0o600)

    (tmp_path / "other").mkdir()
    _other_cert, other_key = self_signed_certificate(tmp_path / "other")
    other_key.chmod(0o600)
    message = error(cert, other_key)
    assert "does not match the certificate" in message and str(other_key) in message

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    message = error(garbage, key)
    assert f"tripwire.smtp_tls_cert {garbage}" in message and "cannot be parsed" in message
    message = error(key, key)
    assert "tripwire.smtp_tls_cert" in message and "no PEM certificate" in message

    from cryptography.hazmat.primitives import serialization
    loaded = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(loaded.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.BestAvailableEncryption(b"passphrase")))
    encrypted.chmod(0o600)
    assert "passphrase" in error(cert, encrypted)

    assert "tripwire.smtp_tls_key" in error(cert, "") and "tripwire.smtp_tls_cert" in error("", key)
    assert "tripwire.smtp_require_tls" in error("", "", require=True)
    assert tls_context("", "", require=False) is None
    assert isinstance(tls_context(str(cert), str(key), require=True), ssl.SSLContext)
    assert not [m for m in seen for line in secret_lines if line in m]  # no message quotes the key


def test_auth_is_not_advertised_after_starttls(start_listeners, tls_configured, certificate):
    """No account exists: advertising AUTH that always answers 535 tells a prober this is no real MX."""
    port = start_listeners(smtp=True)["SmtpService"].port
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo("attacker.example")
        assert not client.has_extn("auth")
        client.starttls(context=_client_context(certificate[0]))
        client.ehlo("attacker.example")
        assert client.has_extn("size") and not client.has_extn("auth")
        code, _ = client.docmd("AUTH", "PLAIN AGFsaWNlAHNlY3JldA==")
        assert code == 503  # not a 535 "wrong password" either
