"""The DNS listener against abuse: no amplification on ANY, a rate per source, one log line per bad packet."""

from __future__ import annotations

import logging
import socket
import struct

from dnslib import QTYPE, RCODE, DNSRecord

from canary.settings import set_setting
from canary.store.events import list_events

ZONE = "docs.example.fr"


def _udp(port: int, packet: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(packet, ("127.0.0.1", port))
        return sock.recvfrom(4096)[0]


def test_any_gets_a_minimal_answer(start_listeners, canaries, db):
    set_setting(db, "tripwire.dns_aaaa", "2001:db8::1")
    set_setting(db, "tripwire.dns_txt", "v=spf1 -all " + "x" * 200)
    port = start_listeners(dns=True)["DnsService"].port
    query = DNSRecord.question(f"abcdefghijklmnopqrst.{ZONE}", "ANY").pack()
    reply = _udp(port, query)
    parsed = DNSRecord.parse(reply)
    assert parsed.header.rcode == RCODE.NOERROR and {rr.rtype for rr in parsed.rr} == {QTYPE.A}
    assert len(reply) <= 2 * len(query)  # was 5.3 times the query with every type in it


def test_a_273_byte_name_gets_a_clean_refusal_and_one_log_line(start_listeners, canaries, caplog):
    port = start_listeners(dns=True)["DnsService"].port
    labels = [b"a" * 63] * 4 + [part.encode() for part in ZONE.split(".")]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    assert len(qname) == 273
    packet = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    with caplog.at_level(logging.INFO, logger="canary.tripwire"):
        reply = DNSRecord.parse(_udp(port, packet))
    assert reply.header.id == 0x1234 and reply.header.rcode == RCODE.FORMERR
    lines = [r for r in caplog.records if r.name.startswith("canary.tripwire.dns")]
    assert len(lines) == 1 and lines[0].exc_info is None and "255 bytes" in lines[0].getMessage()
    # The listener goes on answering.
    assert DNSRecord.parse(_udp(port, DNSRecord.question(f"x.{ZONE}").pack())).header.rcode == RCODE.NOERROR


def test_a_source_over_its_rate_gets_bare_truncated_replies_and_is_still_recorded(start_listeners, canaries, db):
    set_setting(db, "tripwire.dns_rate_per_source", "1")
    port = start_listeners(dns=True)["DnsService"].port
    hostname = canaries[0]["tokens"]["hostname"]
    query = DNSRecord.question(hostname, "A").pack()
    replies = [DNSRecord.parse(_udp(port, query)) for _ in range(12)]
    truncated = [r for r in replies if r.header.tc]
    assert truncated and all(not r.rr and not r.questions for r in truncated)
    assert len(DNSRecord(truncated[0].header).pack()) < len(query)
    assert replies[0].rr and not replies[0].header.tc  # the first ones are answered in full
    assert list_events(db, channel="dns")  # the sighting is recorded whatever the rate
