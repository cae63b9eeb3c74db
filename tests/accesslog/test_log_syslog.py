"""The syslog receiver with real clients on 127.0.0.1: Python's SysLogHandler over UDP and TCP, and
raw sockets sending RFC 5424 (octet counting) and RFC 3164 (newline framing)."""

from __future__ import annotations

import logging
import logging.handlers
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from canary.watch.accesslog.sources import add_source, get_source
from canary.watch.accesslog.syslog import SyslogService
from tests.support.accesslog import SYSTEM, access_events, ipp, mediboard_line
from tests.support.wait import wait_for


@pytest.fixture
def receiver(db_path, db, canaries) -> Iterator[SyslogService]:
    source = add_source(db, SYSTEM, "syslog://127.0.0.1:0", "mediboard")
    service = SyslogService(db_path, source, flush_interval=0.05)
    service.start()
    yield service
    service.stop()


def _send_with_handler(port: int, socktype: socket.SocketKind, message: str) -> None:
    handler = logging.handlers.SysLogHandler(address=("127.0.0.1", port), socktype=socktype)
    logger = logging.getLogger(f"test.syslog.{socktype}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning(message)
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_python_syslog_handler_over_udp(receiver, db, canaries) -> None:
    _send_with_handler(receiver.udp_port, socket.SOCK_DGRAM, mediboard_line(ipp(canaries[0])))
    [event] = wait_for(lambda: access_events(db))
    assert event["canary_id"] == canaries[0]["id"]
    assert event["details"]["peer"] == "127.0.0.1"
    assert event["details"]["source_name"] == SYSTEM
    assert event["source"] == "10.2.3.4"


def test_python_syslog_handler_over_tcp(receiver, db, canaries) -> None:
    _send_with_handler(receiver.tcp_port, socket.SOCK_STREAM, mediboard_line(ipp(canaries[1])))
    [event] = wait_for(lambda: access_events(db))
    assert event["canary_id"] == canaries[1]["id"]


def test_rfc5424_octet_counted_and_rfc3164_newline_framed_over_tcp(receiver, db, canaries) -> None:
    msg5424 = (f"<134>1 2026-11-14T09:32:11+01:00 srv-dpi mediboard 812 ACCESS [origin ip=\"10.0.0.1\"] "
               f"user=jdupont ip=10.9.9.9 action=view ipp={ipp(canaries[2])}").encode()
    msg3164 = f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: user=mmartin action=view ipp={ipp(canaries[3])}\n"
    with socket.create_connection(("127.0.0.1", receiver.tcp_port)) as conn:
        conn.sendall(f"{len(msg5424)} ".encode() + msg5424)
        conn.sendall(msg3164.encode())
        conn.sendall(b"<38>Nov 14 09:34:11 srv-dpi mediboard: garbage without pairs\n")
    events = wait_for(lambda: (rows := access_events(db)) and len(rows) == 2 and rows)
    by_canary = {e["canary_id"]: e for e in events}
    first, second = by_canary[canaries[2]["id"]], by_canary[canaries[3]["id"]]
    assert (first["account"], first["source"], first["time"]) == ("jdupont", "10.9.9.9", "2026-11-14T08:32:11.000Z")
    assert first["details"]["syslog_host"] == "srv-dpi"
    # No time in the message itself: the syslog header's time is used.
    assert second["account"] == "mmartin"
    assert second["time"].endswith("T08:33:11.000Z")
    wait_for(lambda: get_source(db, SYSTEM)["malformed"] == 1)
    assert get_source(db, SYSTEM)["lines"] == 3


def test_rfc5424_over_udp_and_the_same_datagram_twice_is_one_event(receiver, db, canaries) -> None:
    datagram = f"<134>1 2026-11-14T09:32:11Z srv - - - - user=a ipp={ipp(canaries[4])}".encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(datagram, ("127.0.0.1", receiver.udp_port))
        sock.sendto(datagram, ("127.0.0.1", receiver.udp_port))
    wait_for(lambda: get_source(db, SYSTEM)["lines"] == 2)
    assert [e["canary_id"] for e in access_events(db)] == [canaries[4]["id"]]


@pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger not installed")
@pytest.mark.parametrize("args", [["--tcp", "--rfc5424", "--octet-count"], ["--tcp", "--rfc3164"],
                                  ["--udp", "--rfc5424"]])
def test_util_linux_logger_as_the_client(receiver, db, canaries, args: list[str]) -> None:
    port = receiver.tcp_port if "--tcp" in args else receiver.udp_port
    subprocess.run(["logger", "--server", "127.0.0.1", "--port", str(port), *args, "-t", "mediboard",
                    f"user=viaLogger ip=10.1.1.1 action=view ipp={ipp(canaries[5])}"], check=True, timeout=10)
    [event] = wait_for(lambda: access_events(db))
    assert (event["canary_id"], event["account"], event["source"]) == (canaries[5]["id"], "viaLogger", "10.1.1.1")


def test_messages_beyond_the_queue_cap_are_counted_as_lost(db_path, db, canaries) -> None:
    source = add_source(db, SYSTEM, "syslog+udp://127.0.0.1:0", "mediboard")
    service = SyslogService(db_path, source, flush_interval=0.05, max_queued_bytes=10)
    service.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(mediboard_line(ipp(canaries[0])).encode(), ("127.0.0.1", service.udp_port))
        wait_for(lambda: get_source(db, SYSTEM)["malformed"] == 1)
    finally:
        service.stop()
    assert "lost" in get_source(db, SYSTEM)["last_malformed"]
    assert access_events(db) == []


def test_tcp_messages_arriving_while_the_registry_is_locked_are_journalled_then_stored_once(
        db_path, db, canaries) -> None:
    import sqlite3

    from canary.settings import set_setting
    from canary.store.events import list_events
    from canary.store.journal import journal_path

    set_setting(db, "journal.wait_ms", "100")
    source = add_source(db, SYSTEM, "syslog+tcp://127.0.0.1:0", "mediboard")
    service = SyslogService(db_path, source, flush_interval=0.05)
    service.start()
    try:
        locker = sqlite3.connect(str(db_path), timeout=5, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")  # another writer holding the registry, as a long seed did
        with socket.create_connection(("127.0.0.1", service.tcp_port)) as conn:
            for canary in canaries[:3]:
                conn.sendall(f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: {mediboard_line(ipp(canary))}\n".encode())
        journal = journal_path(db_path, f"syslog-{source['name']}")
        # Nowhere else to go while the registry is locked.
        wait_for(lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 3, timeout=10, interval=0.05)
        assert journal.read_bytes().count(b"\n") == 3
        locker.execute("ROLLBACK")
        locker.close()
        events = wait_for(lambda: access_events(db) if len(access_events(db)) == 3 else [])
        assert sorted(e["canary_id"] for e in events) == sorted(c["id"] for c in canaries[:3])
        [degraded] = wait_for(lambda: list_events(db, channel="watch"))
        assert degraded["details"]["journalled"] == 3 and degraded["details"]["lost"] == 0
    finally:
        service.stop()
    assert journal.read_bytes().strip(b"\0") == b""


def test_a_burst_over_one_tcp_connection_keeps_every_line_and_every_canary_read(db_path, db, canaries) -> None:
    """An EHR relay flushing after an outage: far more messages than a batch holds, sent at once.
    Every message is counted and every canary read becomes an event (none dropped between batches)."""
    source = add_source(db, SYSTEM, "syslog+tcp://127.0.0.1:0", "mediboard")
    service = SyslogService(db_path, source, flush_interval=0.05, batch_size=7)
    service.start()
    total = 3000
    reads = {i: canaries[i % 6] for i in range(0, total, 97)}
    payload = b"".join(
        f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: "
        f"{mediboard_line(ipp(reads[i]) if i in reads else str(90000000 + i), user=f'u{i}')}\n".encode()
        for i in range(total))
    try:
        with socket.create_connection(("127.0.0.1", service.tcp_port)) as conn:
            conn.sendall(payload)
        wait_for(lambda: get_source(db, SYSTEM)["lines"] >= total and get_source(db, SYSTEM)["events"] >= len(reads),
                 timeout=15)
    finally:
        service.stop()
    row = get_source(db, SYSTEM)
    assert (row["lines"], row["malformed"], row["events"]) == (total, 0, len(reads))
    assert len(access_events(db)) == len(reads)
    assert row["bytes_received"] == len(payload)
    assert row["lines_received"] == total


_LOW_LIMIT_RECEIVER = r"""
import logging, resource, sys, threading
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from canary.store import open_db
from canary.watch.accesslog.sources import get_source
from canary.watch.accesslog.syslog import SyslogService
db = open_db(Path(sys.argv[1]))
service = SyslogService(Path(sys.argv[1]), get_source(db, sys.argv[2]), flush_interval=0.05)
db.close()
service.start()
print(service.tcp_port, flush=True)
sys.stdin.read()  # until the test closes our stdin
service.stop()
"""


def test_descriptor_exhaustion_is_logged_once_and_the_tcp_listener_keeps_accepting(db_path, db, canaries) -> None:
    """Errno 24 (too many open files) at accept: one log line with a count, never a traceback per
    connection, and the listener accepts again once descriptors are free."""
    import sys
    from pathlib import Path

    source = add_source(db, SYSTEM, "syslog+tcp://127.0.0.1:0", "mediboard")
    child = subprocess.Popen([sys.executable, "-c", _LOW_LIMIT_RECEIVER, str(db_path), source["name"]],
                             cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        # More than the 64 descriptors of the receiver, fewer than what its listen backlog also holds.
        flood = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(100)]
        wait_for(lambda: get_source(db, SYSTEM)["lines_received"] >= 0)  # the service is up and counting
        for conn in flood:
            conn.close()
        line = f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: {mediboard_line(ipp(canaries[0]))}\n".encode()

        def delivered() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(line)
            return bool(access_events(db))

        wait_for(delivered, timeout=20, interval=0.2)
    finally:
        assert child.stdin is not None and child.stderr is not None
        child.stdin.close()
        child.wait(timeout=30)
        errors = child.stderr.read()
    assert "Traceback" not in errors
    assert errors.count("accept") <= 2 and "Too many open files" in errors
