"""The milter against a raw milter-protocol client: SASL user, hostile packets, the size limit."""

from __future__ import annotations

import logging
import socket
import struct
import uuid
from collections.abc import Iterator

import pytest

from canary.watch.egress.milter import MilterService
from tests.support.egress import csv_rows, events_for, passed_counts, start_milter


class RawMilter:
    """Speaks the MTA side of the milter protocol, as Postfix does, one command at a time."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")

    def send(self, command: bytes, data: bytes = b"") -> None:
        self.sock.sendall(struct.pack("!I", len(data) + 1) + command + data)

    def reply(self) -> tuple[bytes, bytes]:
        head = self.file.read(4)
        if len(head) < 4:
            raise EOFError("milter closed the connection")
        (length,) = struct.unpack("!I", head)
        packet = self.file.read(length)
        return packet[:1], packet[1:]

    def ask(self, command: bytes, data: bytes = b"") -> bytes:
        self.send(command, data)
        return self.reply()[0]

    def session(self, subject: str, body: bytes, user: str | None = None) -> list[tuple[bytes, bytes]]:
        """A whole SMTP session's worth of commands; returns the replies to the end of the body."""
        assert self.ask(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF)) == b"O"
        self.send(b"D", b"C" + b"{client_addr}\x00" + b"192.0.2.10\x00")
        assert self.ask(b"C", b"poste-12.chu-test.invalid\x004\x30\x39192.0.2.10\x00") == b"c"
        assert self.ask(b"H", b"poste-12\x00") == b"c"
        if user:
            self.send(b"D", b"M" + b"{auth_authen}\x00" + user.encode() + b"\x00" + b"i\x00" + b"4QUEUE1\x00")
        assert self.ask(b"M", b"<medecin@chu-test.invalid>\x00") == b"c"
        assert self.ask(b"R", b"<perso@exfil.invalid>\x00") == b"c"
        assert self.ask(b"T") == b"c"
        for name, value in ((b"Subject", subject.encode()), (b"Content-Type", b"text/plain; charset=utf-8")):
            assert self.ask(b"L", name + b"\x00" + value + b"\x00") == b"c"
        assert self.ask(b"N") == b"c"
        for i in range(0, len(body), 65535):
            assert self.ask(b"B", body[i:i + 65535]) == b"c"
        self.send(b"E")
        replies = [self.reply()]
        if replies[0][0] == b"q":
            replies.append(self.reply())
        return replies

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def milter(registry) -> Iterator[MilterService]:
    service = start_milter(registry[0], io_timeout=0.5, max_body_bytes=256 * 1024, block=True)
    yield service
    service.stop()


def test_sasl_user_and_client_are_named(milter, registry):
    db_path, canaries = registry
    subject = f"sasl {uuid.uuid4().hex}"
    client = RawMilter(milter.port)
    replies = client.session(subject, csv_rows(canaries[2]).replace(b"\n", b"\r\n"), user="dr.house")
    assert replies[0][0] == b"y" and replies[0][1].startswith(b"550 5.7.1")
    client.send(b"Q")
    client.close()
    events = events_for(db_path, subject)
    assert [(e["canary_id"], e["account"], e["source"]) for e in events] == [("eg0002", "dr.house", "192.0.2.10")]
    assert events[0]["details"]["sender"] == "medecin@chu-test.invalid"
    assert events[0]["details"]["queue_id"] == "4QUEUE1"


def test_two_mails_on_one_connection_do_not_mix(milter, registry):
    db_path, canaries = registry
    client = RawMilter(milter.port)
    first, second = f"un {uuid.uuid4().hex}", f"deux {uuid.uuid4().hex}"
    assert client.session(first, csv_rows(canaries[0]))[0][0] == b"y"
    client.send(b"K")  # the MTA reuses the connection for its next session
    assert client.session(second, b"rien a signaler\r\n")[0][0] == b"c"
    client.close()
    assert [e["canary_id"] for e in events_for(db_path, first)] == ["eg0000"]
    assert events_for(db_path, second) == []


def test_mail_over_the_limit_continues_and_is_counted(milter, registry):
    db_path, canaries = registry
    before = passed_counts(db_path).get(("egress-mail", "over_limit"), (0, 0))[0]
    subject = f"gros {uuid.uuid4().hex}"
    client = RawMilter(milter.port)
    assert client.session(subject, csv_rows(canaries[0]) + b"x" * 400_000)[0][0] == b"c"
    client.close()
    assert events_for(db_path, subject) == []
    assert passed_counts(db_path)[("egress-mail", "over_limit")][0] == before + 1


@pytest.mark.parametrize("garbage", [
    b"EHLO example\r\n",  # an SMTP client at the wrong port
    struct.pack("!I", 0),
    struct.pack("!I", 50_000_000) + b"B",
    struct.pack("!I", 2) + b"Zz",
], ids=["smtp", "empty packet", "huge packet", "unknown command"])
def test_garbage_closes_the_connection_with_one_log_line(milter, garbage, caplog):
    caplog.set_level(logging.WARNING, logger="canary.egress")
    with socket.create_connection(("127.0.0.1", milter.port), timeout=5) as sock:
        sock.sendall(garbage)
        assert sock.recv(100) == b""  # closed, not left hanging
    assert len([r for r in caplog.records if "milter" in r.getMessage()]) == 1
    client = RawMilter(milter.port)  # still serving
    assert client.ask(b"O", struct.pack("!III", 6, 0, 0)) == b"O"
    client.close()


def test_silent_mta_is_dropped_after_io_timeout(milter, caplog):
    caplog.set_level(logging.WARNING, logger="canary.egress")
    with socket.create_connection(("127.0.0.1", milter.port), timeout=5) as sock:
        sock.sendall(struct.pack("!I", 13) + b"O")  # a negotiation that never finishes
        assert sock.recv(100) == b""
    assert any("no data" in r.getMessage() for r in caplog.records)


def test_status_command_shows_sightings_and_passed_bodies(milter, registry):
    import json

    from click.testing import CliRunner

    from canary.cli import get_cli

    db_path, canaries = registry
    client = RawMilter(milter.port)
    client.session(f"statut {uuid.uuid4().hex}", csv_rows(canaries[0]))
    client.close()
    def run_cli_at(path, *args):
        return CliRunner().invoke(get_cli(), ["--db", str(path), *args])

    result = run_cli_at(db_path, "egress", "status", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["channel"]: row for row in json.loads(result.output)}
    assert rows["egress-mail"]["sightings"] >= 1 and rows["egress-mail"]["blocked"] >= 1
    bad = run_cli_at(db_path, "egress", "status", "--days", "0")
    assert bad.exit_code == 1 and bad.output.strip().startswith("error:") and len(bad.output.strip().splitlines()) == 1


def test_accept_errors_are_paced_counted_and_logged_once(milter, caplog):
    """Out of descriptors, the milter's accept fails on every try: counted, paced, one log line, and
    the MTA's connection waiting in the backlog is served once descriptors are back."""
    import time

    from canary.socket_caps import ACCEPT_PAUSE_SECONDS
    from tests.support.descriptors import out_of_descriptors
    from tests.support.wait import wait_for

    caplog.set_level(logging.WARNING, logger="canary.egress")
    with out_of_descriptors() as descriptors:
        descriptors.free(1)
        client = RawMilter(milter.port)  # the last free descriptor: the milter's accept finds none
        began = time.monotonic()
        first = wait_for(lambda: milter.connection_tally()["accept_errors"])
        failures = wait_for(lambda: (n := milter.connection_tally()["accept_errors"]) >= first + 3 and n)
        elapsed = time.monotonic() - began
    assert failures <= elapsed / ACCEPT_PAUSE_SECONDS + 2, (failures, elapsed)  # a pause after each
    assert client.ask(b"O", struct.pack("!III", 6, 0, 0)) == b"O"
    client.close()
    lines = [r for r in caplog.records if "connections not accepted" in r.getMessage()]
    assert len(lines) == 1 and "errno 24" in lines[0].getMessage() and lines[0].exc_info is None
