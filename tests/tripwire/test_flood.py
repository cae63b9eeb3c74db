"""Listeners under a flood of idle connections: the HTTP callback listener caps connections per address
and in all, and a peer flooding one listener neither starves another nor loses a hit on the flooded one.

Every peer is real and on loopback: 127.0.0.2, 127.0.0.3 … are loopback addresses too, so a test has
as many "clients" as it needs."""

from __future__ import annotations

import contextlib
import http.client
import smtplib
import socket
from collections.abc import Iterator

from dnslib import DNSRecord

from canary.settings import set_setting
from canary.store.events import list_events
from tests.support.descriptors import room_for
from tests.support.smtp import canary_address, make_message
from tests.support.wait import wait_for


def _idle(port: int, source: str) -> socket.socket:
    """A connection that says nothing (slowloris, or a scanner holding descriptors)."""
    conn = socket.socket()
    conn.bind((source, 0))
    conn.settimeout(5)
    conn.connect(("127.0.0.1", int(port)))
    return conn


def _closed_by_the_listener(conn: socket.socket) -> bool:
    try:
        return conn.recv(16) == b""
    except ConnectionResetError:
        return True


def _hit(port: int, token: str, source: str, path: str = "/mon-espace/documents/{}") -> int:
    """The answer's status, 0 when the listener closed the connection instead."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        conn.request("GET", path.format(token), headers={"User-Agent": "Mozilla/5.0 Firefox/128.0"})
        return conn.getresponse().status
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return 0
    finally:
        conn.close()


@contextlib.contextmanager
def _holding(conns: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


def test_callback_connections_are_capped_per_address(start_listeners, configured, canaries, db):
    set_setting(configured, "tripwire.callback_max_connections_per_client", "4")
    service = start_listeners()["CallbackService"]
    port = service.port
    with _holding([_idle(port, "127.0.0.1") for _ in range(4)]) as held:
        wait_for(lambda: _hit(port, canaries[0]["token"], "127.0.0.2") == 200)
        extra = _idle(port, "127.0.0.1")  # a fifth from the same address: closed at once, no thread spent
        held.append(extra)
        assert _closed_by_the_listener(extra)
        # The four held are still served: one of them asks for a page now.
        held[0].sendall(b"GET /mon-espace/ HTTP/1.1\r\nHost: portail\r\nConnection: close\r\n\r\n")
        assert held[0].recv(64).startswith(b"HTTP/1.1 200")
    [event] = list_events(db, channel="http")
    assert event["source"] == "127.0.0.2" and event["canary_id"] == canaries[0]["id"]
    assert service.connection_tally() == {"refused": 1, "accept_errors": 0}


def test_a_full_callback_listener_makes_room_for_a_new_client(start_listeners, configured, canaries, db):
    """Past the cap in all, the oldest idle connection of the address holding the most is closed: a
    flood spread over a few addresses cannot lock out a visitor following a canary link."""
    set_setting(configured, "tripwire.callback_max_connections", "6")
    set_setting(configured, "tripwire.callback_max_connections_per_client", "4")
    port = start_listeners()["CallbackService"].port
    with _holding([_idle(port, "127.0.0.1") for _ in range(4)] + [_idle(port, "127.0.0.2") for _ in range(2)]) as held:
        assert _hit(port, canaries[1]["token"], "127.0.0.3") == 200
        assert _closed_by_the_listener(held[0])  # the oldest of 127.0.0.1's, which held the most
        assert _hit(port, canaries[0]["token"], "127.0.0.2", "/img/{}.gif") == 200
    events = list_events(db, channel="http")
    assert sorted((e["source"], e["canary_id"]) for e in events) == [
        ("127.0.0.2", canaries[0]["id"]), ("127.0.0.3", canaries[1]["id"])]


def test_one_peer_flooding_one_listener_starves_no_listener_and_loses_no_hit(start_listeners, configured,
                                                                            canaries, db, mail_domain, caplog):
    """127.0.0.1 holds far more idle connections than its share on the callback listener and on the
    SMTP receiver. Meanwhile canary hits arrive on the flooded listeners from other addresses, on
    DNS (not flooded), and from the flooder itself: every answered hit is stored, every listener
    stays up."""
    set_setting(configured, "tripwire.callback_max_connections_per_client", "8")
    set_setting(configured, "tripwire.smtp_max_connections_per_client", "8")
    listeners = start_listeners(dns=True, smtp=True)
    http_port = listeners["CallbackService"].port
    smtp_port = listeners["SmtpService"].port
    dns_port = listeners["DnsService"].port
    token, other = canaries[0]["token"], canaries[1]
    flood: list[socket.socket] = []
    with room_for(2 * 1110), _holding(flood):  # both ends of each connection are in this process
        # 1,010 idle connections blocked the callback listener when only waitress's limit (1,000) held.
        flood.extend(_idle(http_port, "127.0.0.1") for _ in range(1010))
        flood.extend(_idle(smtp_port, "127.0.0.1") for _ in range(100))
        # The flooded callback listener, from another address.
        assert _hit(http_port, token, "127.0.0.2") == 200
        # Accepted in arrival order: every flooding connection was judged before this hit's.
        assert listeners["CallbackService"].connection_tally()["refused"] == 1010 - 8
        # The flooded SMTP receiver, from another address.
        address = canary_address(db, other, mail_domain)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5, source_address=("127.0.0.3", 0)) as client:
            assert client.send_message(make_message(address, subject="Relance"), to_addrs=[address]) == {}
        # A listener nobody floods.
        reply = DNSRecord.parse(DNSRecord.question(other["tokens"]["hostname"]).send(
            "127.0.0.1", dns_port, timeout=5))
        assert reply.rr
        # The flooder itself, once one of its idle connections goes away.
        flood.pop(0).close()
        wait_for(lambda: _hit(http_port, token, "127.0.0.1", "/img/{}.gif") == 200)
        assert all(service.ready() is None for service in listeners.values() if hasattr(service, "ready"))
    # One log line about the closed connections (then one a minute at most), no traceback.
    over = [r for r in caplog.records if "callback listener: connections closed" in r.getMessage()]
    assert len(over) == 1 and over[0].exc_info is None
    http_events = list_events(db, channel="http")
    assert sorted(e["source"] for e in http_events) == ["127.0.0.1", "127.0.0.2"]
    assert {e["canary_id"] for e in http_events} == {canaries[0]["id"]}
    [mail] = [e for e in list_events(db, channel="smtp") if e["action"] != "flood"]
    assert mail["canary_id"] == other["id"] and mail["source"] == "127.0.0.3"
    assert [e["canary_id"] for e in list_events(db, channel="dns")] == [other["id"]]


def test_callback_accept_errors_are_paced_counted_and_logged_once(start_listeners, canaries, db, caplog):
    """Out of descriptors, waitress logged a traceback for every failed accept and retried at once; now
    each failure is counted and paced, one line says so, and the visitor waiting in the backlog is
    answered (and the hit stored) once descriptors are back."""
    import logging
    import time

    from canary.socket_caps import ACCEPT_PAUSE_SECONDS
    from tests.support.descriptors import out_of_descriptors

    caplog.set_level(logging.INFO)
    service = start_listeners()["CallbackService"]
    with out_of_descriptors() as descriptors:
        descriptors.free(1)
        visitor = _idle(service.port, "127.0.0.2")
        began = time.monotonic()
        first = wait_for(lambda: service.connection_tally()["accept_errors"])
        failures = wait_for(lambda: (n := service.connection_tally()["accept_errors"]) >= first + 3 and n)
        elapsed = time.monotonic() - began
    assert failures <= elapsed / ACCEPT_PAUSE_SECONDS + 2, (failures, elapsed)  # a pause after each
    visitor.sendall(f"GET /d/{canaries[0]['token']} HTTP/1.1\r\nHost: portail\r\n\r\n".encode())
    assert visitor.recv(64).startswith(b"HTTP/1.1 200")
    visitor.close()
    [event] = list_events(db, channel="http")
    assert event["canary_id"] == canaries[0]["id"] and event["source"] == "127.0.0.2"
    lines = [r for r in caplog.records if "not accepted" in r.getMessage() or "accept()" in r.getMessage()]
    assert len(lines) == 1 and "errno 24" in lines[0].getMessage() and lines[0].exc_info is None
