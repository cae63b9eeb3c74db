"""The DNS listener over real UDP and TCP sockets on 127.0.0.1 (dnslib client)."""

from __future__ import annotations

import socket
import struct

from dnslib import QTYPE, RCODE, DNSRecord

from canary.settings import set_setting
from canary.store.events import list_events

ZONE = "docs.example.fr"  # as set by the configured fixture


def _ask(port: int, name: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", port, tcp=tcp, timeout=5))


def test_token_names_are_recorded_over_udp_and_tcp(start_listeners, canaries, db):
    port = start_listeners(dns=True)["DnsService"].port
    hostname = canaries[0]["tokens"]["hostname"]
    assert hostname == f"{canaries[0]['token']}.{ZONE}"
    reply = _ask(port, hostname)
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
    assert [str(rr.rdata) for rr in reply.rr] == ["127.0.0.1"]
    tcp_reply = _ask(port, f"cdn.{canaries[1]['token'].upper()}.{ZONE}", "MX", tcp=True)  # deeper, mixed case
    assert tcp_reply.rr[0].rtype == QTYPE.MX and str(tcp_reply.rr[0].rdata.label) == f"mx.{ZONE}."
    events = list_events(db, channel="dns")
    assert [(e["canary_id"], e["details"]["protocol"], e["details"]["qtype"]) for e in events] == [
        (canaries[0]["id"], "udp", "A"), (canaries[1]["id"], "tcp", "MX")]
    assert events[0]["source"] == "127.0.0.1" and events[0]["severity"] == "high"
    assert events[0]["details"]["group"].startswith("tripwire:dns:from:")  # grouped by client


def test_answers_are_the_same_for_made_up_names_and_other_zones_are_refused(start_listeners, canaries, db):
    port = start_listeners(dns=True)["DnsService"].port
    real = _ask(port, canaries[0]["tokens"]["hostname"], "TXT")
    fake = _ask(port, f"abcdefghijklmnopqrst.{ZONE}", "TXT")
    assert [str(r.rdata) for r in real.rr] == [str(r.rdata) for r in fake.rr] == ['"v=spf1 -all"']
    assert real.header.rcode == fake.header.rcode == RCODE.NOERROR
    for qtype in ("SOA", "NS"):
        assert _ask(port, ZONE, qtype).rr, qtype
    nodata = _ask(port, canaries[1]["tokens"]["hostname"], "AAAA")
    assert not nodata.rr and nodata.auth[0].rtype == QTYPE.SOA
    assert _ask(port, "www.example.com").header.rcode == RCODE.REFUSED
    assert len(list_events(db, channel="dns")) == 2  # the two real token names, nothing else


def test_resolver_fan_out_and_echoes_are_low(start_listeners, canaries, db):
    set_setting(db, "tripwire.dns_burst_seconds", "60")
    port = start_listeners(dns=True)["DnsService"].port
    hostname = canaries[0]["tokens"]["hostname"]
    _ask(port, hostname, "A")
    _ask(port, hostname, "AAAA")
    events = list_events(db, channel="dns")
    assert [e["severity"] for e in events] == ["high", "low"]
    assert events[1]["details"]["noise"] == "dns-burst"


def test_malformed_packets_do_not_stop_the_listener(start_listeners, canaries, db):
    port = start_listeners(dns=True)["DnsService"].port
    query = DNSRecord.question(canaries[0]["tokens"]["hostname"]).pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"\x01", ("127.0.0.1", port))  # too short for a header: dropped
        sock.sendto(query[:12] + b"\xff\xff\xff", ("127.0.0.1", port))  # header fine, question broken
        reply = DNSRecord.parse(sock.recvfrom(4096)[0])
        assert reply.header.rcode == RCODE.FORMERR and reply.header.id == DNSRecord.parse(query).header.id
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("!H", 3) + b"\x00\x01\x02")  # garbage over TCP
        sock.sendall(struct.pack("!H", 60000))  # a length we refuse: connection closed
        sock.recv(4096)
    assert _ask(port, canaries[0]["tokens"]["hostname"], tcp=True).header.rcode == RCODE.NOERROR
    assert _ask(port, canaries[0]["tokens"]["hostname"]).header.rcode == RCODE.NOERROR


def test_answers_clear_the_ad_flag_of_the_query(start_listeners, canaries):
    """The zone is unsigned: echoing a resolver's AD bit would claim validated data."""
    port = start_listeners(dns=True)["DnsService"].port
    query = DNSRecord.question(canaries[0]["tokens"]["hostname"])
    query.header.ad = 1
    query.header.cd = 1
    reply = DNSRecord.parse(query.send("127.0.0.1", port, timeout=5))
    assert reply.header.rcode == RCODE.NOERROR and reply.rr
    assert reply.header.ad == 0
    assert reply.header.cd == 1  # CD is copied from the query (RFC 6840 5.9)


def test_idle_tcp_connections_are_capped_per_address_and_others_still_get_answers(start_listeners, canaries):
    """A thread per DNS-over-TCP connection: idle connections from one address are capped (16), so
    they cannot take every descriptor; another client still gets its answer."""
    import socket

    port = start_listeners(dns=True)["DnsService"].port
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(16)]
    try:
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert extra.recv(16) == b""  # closed at once by the listener
        extra.close()
        other = socket.socket()
        other.bind(("127.0.0.2", 0))
        other.settimeout(5)
        other.connect(("127.0.0.1", port))
        query = DNSRecord.question(canaries[0]["tokens"]["hostname"]).pack()
        other.sendall(struct.pack("!H", len(query)) + query)
        (length,) = struct.unpack("!H", other.recv(2))
        reply = DNSRecord.parse(other.recv(length))
        assert [str(rr.rdata) for rr in reply.rr] == ["127.0.0.1"]
        other.close()
    finally:
        for conn in idle:
            conn.close()
