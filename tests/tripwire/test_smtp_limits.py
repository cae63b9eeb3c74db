"""Per-client rate limits of the SMTP receiver: smtplib floods from 127.0.0.1, one flood record."""

from __future__ import annotations

import ipaddress
import smtplib

import pytest

from canary.settings import set_setting
from canary.store.events import list_events
from canary.watch.tripwire.smtp_limits import RATE_WINDOW, ClientRateLimiter, RateLimits
from tests.support.smtp import canary_address, make_message


def _floods(db):
    return [e for e in list_events(db, channel="smtp") if e["action"] == "flood"]


def _sightings(db):
    return [e for e in list_events(db, channel="smtp") if e["action"] != "flood"]


def test_a_message_flood_gets_4xx_after_the_first_messages_and_one_flood_record(
        start_listeners, configured, canaries, db, mail_domain):
    set_setting(configured, "tripwire.smtp_rate_messages", "3")
    service = start_listeners(smtp=True)["SmtpService"]
    address = canary_address(db, canaries[0], mail_domain)
    codes = []
    with smtplib.SMTP("127.0.0.1", service.port, timeout=10) as client:
        for i in range(8):
            try:
                client.send_message(make_message(address, subject=f"Offre {i}"), to_addrs=[address])
                codes.append(250)
            except smtplib.SMTPSenderRefused as exc:
                codes.append(exc.smtp_code)
                assert exc.smtp_code == 451 and b"4.7.1" in exc.smtp_error
    assert codes == [250] * 3 + [451] * 5

    sightings = _sightings(db)  # the first messages are sightings like any other, in order
    assert [e["details"]["subject"] for e in sightings] == ["Offre 0", "Offre 1", "Offre 2"]
    assert all(e["canary_id"] == canaries[0]["id"] and e["severity"] == "high" for e in sightings)
    assert db.execute("SELECT COUNT(*) FROM tripwire_messages").fetchone()[0] == 3

    [flood] = _floods(db)  # written at the first refusal, before the 451 went out
    assert flood["source"] == "127.0.0.1" and flood["canary_id"] is None and flood["severity"] == "low"
    assert flood["details"]["flood"]["reason"] == "messages"
    assert flood["details"]["flood"]["limits"]["messages_per_minute"] == 3
    assert flood["details"]["group"] == "tripwire:smtp-flood:127.0.0.1"

    # Another client is not held back by this one (127.0.0.2 is loopback too).
    with smtplib.SMTP("127.0.0.1", service.port, timeout=10, source_address=("127.0.0.2", 0)) as client:
        assert client.send_message(make_message(address, subject="Autre"), to_addrs=[address]) == {}
    assert [e["source"] for e in _sightings(db)][-1] == "127.0.0.2"

    service.stop()  # closes the window: its one record now carries the totals
    [flood] = _floods(db)
    summary = flood["details"]["flood"]
    assert summary["refused_messages"] == 5 and summary["refused_connections"] == 0 and summary["closed"]


def test_a_connection_flood_is_closed_with_421_and_recorded_once(start_listeners, configured, canaries, db,
                                                                 mail_domain):
    set_setting(configured, "tripwire.smtp_rate_connections", "2")
    service = start_listeners(smtp=True)["SmtpService"]
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", service.port, timeout=10) as client:
            assert client.noop()[0] == 250
    for _ in range(4):
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            smtplib.SMTP("127.0.0.1", service.port, timeout=10)
        assert refused.value.smtp_code == 421
    [flood] = _floods(db)
    assert flood["details"]["flood"]["reason"] == "connections" and flood["source"] == "127.0.0.1"
    service.stop()
    assert _floods(db)[0]["details"]["flood"]["refused_connections"] == 4


def test_exempt_networks_are_not_limited(start_listeners, configured, canaries, db, mail_domain):
    set_setting(configured, "tripwire.smtp_rate_messages", "1")
    set_setting(configured, "tripwire.smtp_rate_exempt", "127.0.0.0/8")
    port = start_listeners(smtp=True)["SmtpService"].port
    address = canary_address(db, canaries[0], mail_domain)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        for _ in range(3):
            assert client.send_message(make_message(address), to_addrs=[address]) == {}
    assert len(_sightings(db)) == 3 and _floods(db) == []


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_flood_windows_open_on_the_first_refusal_and_close_when_the_client_calms_down():
    clock = Clock()
    limiter = ClientRateLimiter(RateLimits(messages_per_minute=2, connections_per_minute=0, flood_window=600),
                                clock)
    assert [limiter.message("192.0.2.1").allowed for _ in range(2)] == [True, True]
    first = limiter.message("192.0.2.1")
    assert not first.allowed and first.opened and first.flood is not None
    again = limiter.message("192.0.2.1")
    assert not again.allowed and not again.opened and again.flood is first.flood
    assert limiter.connection("192.0.2.1").allowed  # 0: no connection limit
    assert limiter.expire() == []  # still flooding

    clock.now += RATE_WINDOW  # a quiet minute: the window closes, the client starts afresh
    [closed] = limiter.expire()
    assert closed.refused_messages == 2 and closed.closed
    assert limiter.message("192.0.2.1").allowed

    # A client that never stops gets one record per flood_window, not one per attempt.
    opened = 0
    for _ in range(100):
        clock.now += 10
        verdicts = [limiter.message("192.0.2.1") for _ in range(5)]
        opened += sum(v.opened for v in verdicts)
    assert opened == 2  # 1,000 s of flooding with a 600 s window


def test_ipv6_clients_are_counted_per_64_and_v4_mapped_as_v4():
    limiter = ClientRateLimiter(RateLimits(messages_per_minute=1), Clock())
    assert limiter.client_key("2001:db8:1:2::1") == limiter.client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limiter.client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert limiter.message("2001:db8:1:2::1").allowed
    assert not limiter.message("2001:db8:1:2::2").allowed
    assert limiter.message("2001:db8:1:3::1").allowed
    exempt = ClientRateLimiter(RateLimits(exempt=(ipaddress.ip_network("10.0.0.0/8"),)))
    assert exempt.client_key("10.1.2.3") is None and exempt.client_key("not an address") is None


def test_connections_held_open_are_capped_per_address_and_in_all(start_listeners, configured, canaries):
    """A flood of idle connections (each address inside its rate limit) must not take every descriptor:
    past the caps a new connection is answered 421 at once, and a freed slot serves again."""
    import socket

    from tests.support.wait import wait_for

    set_setting(configured, "tripwire.smtp_max_connections", "6")
    set_setting(configured, "tripwire.smtp_max_connections_per_client", "4")
    port = start_listeners(smtp=True)["SmtpService"].port

    def connect(source: str) -> tuple[socket.socket, bytes]:
        conn = socket.socket()
        conn.bind((source, 0))
        conn.settimeout(10)
        conn.connect(("127.0.0.1", port))
        return conn, conn.recv(256)

    held = []
    try:
        for _ in range(4):
            conn, greeting = connect("127.0.0.1")
            assert greeting.startswith(b"220"), greeting
            held.append(conn)
        conn, answer = connect("127.0.0.1")  # a fifth from the same address
        conn.close()
        assert answer.startswith(b"421 4.7.0"), answer
        for _ in range(2):
            conn, greeting = connect("127.0.0.2")
            assert greeting.startswith(b"220"), greeting
            held.append(conn)
        conn, answer = connect("127.0.0.3")  # six open in all
        conn.close()
        assert answer.startswith(b"421 4.3.2"), answer
        held.pop(0).close()

        def served_again() -> bool:
            conn, greeting = connect("127.0.0.3")
            conn.close()
            return greeting.startswith(b"220")

        wait_for(served_again)
    finally:
        for conn in held:
            conn.close()
