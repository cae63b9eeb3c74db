"""The DNS listener: authoritative for the operator's zone, over UDP and TCP (dnslib).

Every name in the zone gets the same plausible answer, token or not. A query naming a token at any
depth (``x.<token>.<zone>``) is stored through the writer before the answer leaves. Packets that do
not parse are answered FORMERR when their header is readable and otherwise dropped, with one log line
each (never a traceback); a name longer than DNS allows (255 bytes) is refused the same way. Nothing a
peer sends stops the listener.

Against reflection: ANY gets a minimal answer (RFC 8482: the A records only, else the SOA), and each
source address gets ``tripwire.dns_rate_per_source`` UDP answers per second; beyond that the reply is an
empty truncated header (smaller than the query), so the query is still recorded and a real resolver
retries over TCP.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
import time
from dataclasses import dataclass, field

import sqlite_utils
from dnslib import AAAA, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSHeader, DNSLabel, DNSRecord

from canary.errors import CanaryError
from canary.settings import get_int, get_list, get_str
from canary.socket_caps import CappedTCPServerMixin
from canary.store.events import utcnow
from canary.watch.tripwire.hits import Hit, token_candidates
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.sightings import SightingStore, hit_payload
from canary.watch.tripwire.writer import EventWriter

log = logging.getLogger("canary.tripwire.dns")

_TCP_TIMEOUT = 10.0
_MAX_TCP_MESSAGE = 4096
_MAX_NAME_BYTES = 255  # RFC 1035 2.3.4, in wire form
_MAX_TRACKED_SOURCES = 50_000


class SourceRate:
    """A token bucket per source address: ``rate`` per second, ``2 * rate`` at once (0: unlimited)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, source: str) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        capacity = 2.0 * self.rate
        with self._lock:
            if len(self._buckets) > _MAX_TRACKED_SOURCES:  # a spoofed spray must not grow memory
                self._buckets.clear()
            tokens, last = self._buckets.get(source, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


@dataclass(frozen=True)
class ZoneAnswers:
    zone: str
    a: tuple[str, ...] = ("127.0.0.1",)
    aaaa: tuple[str, ...] = ()
    mx: str = ""
    ns: tuple[str, ...] = ()
    txt: str = "v=spf1 -all"
    ttl: int = 300
    serial: int = field(default=2026010101)
    rate_per_source: int = 20

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> ZoneAnswers:
        zone = get_str(db, "tripwire.dns_zone").strip(".").lower()
        if not zone:
            raise CanaryError("the DNS listener needs a zone: canary config set tripwire.dns_zone docs.example.fr")
        return cls(
            zone=zone,
            a=tuple(get_list(db, "tripwire.dns_a")),
            aaaa=tuple(get_list(db, "tripwire.dns_aaaa")),
            mx=get_str(db, "tripwire.dns_mx") or f"mx.{zone}",
            ns=tuple(get_list(db, "tripwire.dns_ns") or [f"ns1.{zone}", f"ns2.{zone}"]),
            txt=get_str(db, "tripwire.dns_txt"),
            ttl=get_int(db, "tripwire.dns_ttl"),
            rate_per_source=get_int(db, "tripwire.dns_rate_per_source"),
        )

    def in_zone(self, name: str) -> bool:
        return name == self.zone or name.endswith("." + self.zone)


class TripwireResolver:
    """Builds the reply for one parsed query and stores the hit when the name carries a token."""

    def __init__(self, answers: ZoneAnswers, writer: EventWriter, policy: NoisePolicy,
                 commit_timeout: float = 15.0):
        self.answers = answers
        self.writer = writer
        self.policy = policy
        self.sightings = SightingStore(policy)
        self.commit_timeout = commit_timeout
        self.rate = SourceRate(answers.rate_per_source)

    def resolve(self, request: DNSRecord, client: str, protocol: str) -> DNSRecord:
        reply = request.reply()
        reply.header.ra = 0
        reply.header.ad = 0  # dnslib copies the query's flags; the zone is unsigned, nothing was validated
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return reply
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        if not self.answers.in_zone(name):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        if name != self.answers.zone:
            self._record(name, QTYPE.get(question.qtype, str(question.qtype)), client, protocol)
        self._fill(reply, question.qname, question.qtype)
        return reply

    def _record(self, name: str, qtype: str, client: str, protocol: str) -> None:
        labels = name[: -len(self.answers.zone) - 1]
        candidates = token_candidates(labels.replace(".", " "))
        if not candidates:
            return
        hit = Hit(channel="dns", source=client, source_ip=client, time=utcnow(),
                  details={"qname": name, "qtype": qtype, "protocol": protocol, "resolver": client})
        suffixes = [".".join(name.split(".")[i:]) for i in range(name.count(".") + 1)]
        sighting = self.sightings.sighting("dns", {"hit": hit_payload(hit), "suffixes": suffixes,
                                                   "candidates": candidates})
        try:
            self.writer.run(sighting, timeout=self.commit_timeout)
        except Exception:
            log.exception("could not store a DNS hit for %s from %s; answering anyway", name, client)

    def _fill(self, reply: DNSRecord, qname: DNSLabel, qtype: int) -> None:
        ans, ttl, zone = self.answers, self.answers.ttl, self.answers.zone
        records: list[RR] = []
        if qtype == QTYPE.ANY:
            # RFC 8482: a minimal answer, so ANY is no amplifier (the A records, else the SOA).
            records = [RR(qname, QTYPE.A, rdata=A(ip), ttl=ttl) for ip in ans.a] or [self._soa(zone)]
            for record in records:
                reply.add_answer(record)
            return
        if qtype in (QTYPE.A, QTYPE.ANY):
            records += [RR(qname, QTYPE.A, rdata=A(ip), ttl=ttl) for ip in ans.a]
        if qtype in (QTYPE.AAAA, QTYPE.ANY):
            records += [RR(qname, QTYPE.AAAA, rdata=AAAA(ip), ttl=ttl) for ip in ans.aaaa]
        if qtype in (QTYPE.MX, QTYPE.ANY) and ans.mx:
            records.append(RR(qname, QTYPE.MX, rdata=MX(ans.mx, 10), ttl=ttl))
        if qtype in (QTYPE.TXT, QTYPE.ANY) and ans.txt:
            records.append(RR(qname, QTYPE.TXT, rdata=TXT(ans.txt), ttl=ttl))
        if qtype in (QTYPE.NS, QTYPE.ANY):
            records += [RR(qname, QTYPE.NS, rdata=NS(host), ttl=ttl) for host in ans.ns]
        if qtype in (QTYPE.SOA, QTYPE.ANY):
            records.append(self._soa(zone if str(qname).rstrip(".").lower() == zone else qname))
        for record in records:
            reply.add_answer(record)
        if not records:  # NODATA: the SOA in authority, as a real authoritative server answers
            reply.add_auth(self._soa(zone))

    def _soa(self, name: str | DNSLabel) -> RR:
        ans = self.answers
        primary = ans.ns[0] if ans.ns else f"ns1.{ans.zone}"
        return RR(name, QTYPE.SOA, ttl=ans.ttl,
                  rdata=SOA(primary, f"hostmaster.{ans.zone}", (ans.serial, 3600, 900, 1209600, ans.ttl)))


def answer_packet(resolver: TripwireResolver, data: bytes, client: str, protocol: str) -> bytes | None:
    """The wire reply to ``data``; FORMERR for an unparsable query with a readable header, else None.
    Each bad packet gives one log line, never a traceback (a peer chooses how many it sends)."""
    try:
        request = DNSRecord.parse(data)
    except Exception as exc:
        return _refusal(data, client, protocol, f"unparsable ({exc.__class__.__name__})", RCODE.FORMERR)
    if request.header.qr:  # a response sent to us: never answer (reflection loops)
        return None
    if request.questions and _wire_length(request.q.qname) > _MAX_NAME_BYTES:
        return _refusal(data, client, protocol, "name longer than 255 bytes", RCODE.FORMERR)
    try:
        reply = resolver.resolve(request, client, protocol)
        if protocol == "udp" and not resolver.rate.allow(client):
            # Over the source's rate: recorded all the same, answered by a bare truncated header.
            return DNSRecord(DNSHeader(id=request.header.id, qr=1, aa=1, tc=1, rd=request.header.rd)).pack()
        return reply.pack()
    except Exception as exc:
        return _refusal(data, client, protocol, f"could not be answered ({exc.__class__.__name__}: {exc})"[:200],
                        RCODE.SERVFAIL)


def _wire_length(name: DNSLabel) -> int:
    return sum(len(label) + 1 for label in name.label) + 1


def _refusal(data: bytes, client: str, protocol: str, why: str, rcode: int) -> bytes | None:
    """A header-only reply (no question: it may be what cannot be packed), and one log line."""
    try:
        header = DNSHeader.parse(_buffer(data))
    except Exception:
        log.warning("DNS %s packet from %s dropped: %s, header unreadable (%d bytes)", protocol, client, why,
                    len(data))
        return None
    log.warning("DNS %s query from %s answered %s: %s", protocol, client, RCODE.get(rcode), why)
    return DNSRecord(DNSHeader(id=header.id, qr=1, rcode=rcode)).pack()


def _buffer(data: bytes):
    from dnslib.buffer import Buffer

    return Buffer(data)


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer  # only ever served by _UDPServer, which carries the resolver

    def handle(self) -> None:
        data, sock = self.request
        reply = answer_packet(self.server.resolver, data, self.client_address[0], "udp")
        if reply is not None:
            if len(reply) > 512:
                reply = DNSRecord.parse(reply).truncate().pack()
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer  # only ever served by _TCPServer, which carries the resolver

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(_TCP_TIMEOUT)
        try:
            while True:  # several queries may share one connection
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                if length == 0 or length > _MAX_TCP_MESSAGE:
                    return
                data = _recv_exact(conn, length)
                if data is None:
                    return
                reply = answer_packet(self.server.resolver, data, self.client_address[0], "tcp")
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class _QuietMixin:
    resolver: TripwireResolver  # set by DnsListener.start before serving; read by the handlers
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:  # socketserver signature
        log.exception("DNS handler error for %s", client_address)


class _UDPServer(_QuietMixin, socketserver.ThreadingUDPServer):
    pass


class _TCPServer(CappedTCPServerMixin, _QuietMixin, socketserver.ThreadingTCPServer):
    # A thread per connection: idle connections held open are capped per address and in all.
    max_connections = 256
    max_per_client = 16
    cap_log = log
    cap_name = "DNS over TCP"


class DnsListener:
    """UDP and TCP servers on the same address and port, each in its own thread."""

    def __init__(self, resolver: TripwireResolver, host: str, port: int):
        self.resolver = resolver
        self.host = host
        self.port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        udp, tcp = self._bind()
        for server in (udp, tcp):
            server.resolver = self.resolver
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                      name=f"tripwire-dns-{type(server).__name__}", daemon=True)
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)

    def serving(self) -> bool:
        """Both servers bound and their threads running (for /readyz)."""
        return len(self._threads) == 2 and all(thread.is_alive() for thread in self._threads)

    def _bind(self) -> tuple[_UDPServer, _TCPServer]:
        # Port 0 asks for an ephemeral UDP port and TCP then takes the same number; that number may
        # already be some TCP socket's, so try a few.
        for attempt in range(20):
            udp = _UDPServer((self.host, self.port), _UDPHandler)
            try:
                tcp = _TCPServer((self.host, udp.server_address[1]), _TCPHandler)
            except OSError:
                udp.server_close()
                if self.port != 0 or attempt == 19:
                    raise
                continue
            self.port = udp.server_address[1]
            return udp, tcp
        raise AssertionError("unreachable")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._servers.clear()
        self._threads.clear()
