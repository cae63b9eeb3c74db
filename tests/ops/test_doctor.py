"""`canary doctor` against real peers on loopback: a DNS server, the callback listener, a webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, RR
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from canary.alert.destinations import add_destination
from canary.settings import set_setting
from canary.store.events import list_events
from canary.watch.tripwire.services import build
from tests.support.peers.alert_receiver import Receiver

ZONE_TEXT = """
docs.example.fr. 60 IN NS ns1.docs.example.fr.
ns1.docs.example.fr. 60 IN A 127.0.0.1
mail.example.fr. 60 IN MX 10 mx.mail.example.fr.
mx.mail.example.fr. 60 IN A 127.0.0.1
elsewhere.example.fr. 60 IN MX 10 mx.elsewhere.example.fr.
mx.elsewhere.example.fr. 60 IN A 192.0.2.25
"""


class _Zone(BaseResolver):
    """Answers from ZONE_TEXT; NXDOMAIN for names it does not hold, as a real authoritative server."""

    def __init__(self) -> None:
        self.records = RR.fromZone(ZONE_TEXT)
        self.questions: list[tuple[str, str]] = []

    def resolve(self, request, handler):  # dnslib API
        reply = request.reply()
        name, qtype = str(request.q.qname).lower(), QTYPE[request.q.qtype]
        self.questions.append((name, qtype))
        known = [rr for rr in self.records if str(rr.rname).lower() == name]
        reply.header.rcode = RCODE.NOERROR if known else RCODE.NXDOMAIN
        for rr in known:
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
        return reply


@pytest.fixture
def loopback_dns(db) -> Iterator[_Zone]:
    zone = _Zone()
    quiet = DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data")
    server = DNSServer(zone, port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    set_setting(db, "doctor.resolver", f"127.0.0.1:{server.server.server_address[1]}")
    set_setting(db, "doctor.host_addresses", "127.0.0.1")
    set_setting(db, "doctor.timeout", "3")
    yield zone
    server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    peer = Receiver()
    yield peer
    peer.down()


def test_doctor_names_every_problem_on_its_own_line_and_exits_1(cli, db, add_hand_canaries, loopback_dns, receiver):
    add_hand_canaries(count=2)
    set_setting(db, "tripwire.dns_zone", "other.example.fr")
    set_setting(db, "pool.mail_domains", "mail.example.fr, elsewhere.example.fr")
    set_setting(db, "tripwire.base_url", f"http://127.0.0.1:{receiver.port}")  # a web server, not the listener

    result = cli("doctor")
    assert result.exit_code == 1
    # The deployment checks (the settings, delivery and tripwire checks follow; tested in tests/alert).
    lines = result.output.strip().splitlines()[:8]
    assert lines == [
        "FAIL  dns zone: other.example.fr: no NS record (the name does not exist): delegate the zone to this host",
        "ok    mx mail.example.fr: MX mx.mail.example.fr (127.0.0.1): reaches this host",
        "FAIL  mx elsewhere.example.fr: MX mx.elsewhere.example.fr (192.0.2.25): not this host",
        f"FAIL  callback url: http://127.0.0.1:{receiver.port} answered 501 text/html, not like the callback "
        "listener (check the reverse proxy)",
        "FAIL  pool.phones: no phone numbers: new canaries carry none (set pool.phones)",
        "ok    pool.mail_domains: 2 mail domains configured",
        "FAIL  plantings: 2 of 2 active canaries are planted nowhere (hand000000, hand000001); see 'canary plants'",
        "FAIL  notification: no destination: nobody is paged ('canary notify add')",
    ]
    assert ("other.example.fr.", "NS") in loopback_dns.questions  # asked the loopback resolver, nothing else

    as_json = cli("doctor", "--json")
    assert as_json.exit_code == 1
    report = json.loads(as_json.output)
    assert report["ok"] is False
    assert [(c["check"], c["status"]) for c in report["checks"]][:3] == [
        ("dns zone", "fail"), ("mx mail.example.fr", "ok"), ("mx elsewhere.example.fr", "fail")]


def test_a_sound_deployment_passes_every_check(cli, db, db_path, add_hand_canaries, loopback_dns, receiver):
    canaries = add_hand_canaries(count=2)
    set_setting(db, "tripwire.dns_zone", "docs.example.fr")
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    assert cli("tripwire", "fill-tokens").exit_code == 0  # hand-made canaries get their links
    for canary in canaries:
        db.execute("INSERT INTO plantings (canary_id, system, channel, target, state, planned_at, planted_at, "
                   "updated_at) VALUES (?, ?, 'file', 'file:///srv/import/p.csv', 'planted', 't', 't', 't')",
                   [canary["id"], canary["system"]])
    set_setting(db, "tripwire.dns_zone", "docs.example.fr")
    set_setting(db, "pool.mail_domains", "mail.example.fr")
    set_setting(db, "pool.phones", "+33756120000-+33756120099")
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    add_destination(db, f"json://127.0.0.1:{receiver.port}/hooks/canary")
    listeners = build(db_path, None, {"callback_host": "127.0.0.1", "callback_port": 0})
    for service in listeners:
        service.start()
    try:
        set_setting(db, "tripwire.base_url", f"http://127.0.0.1:{listeners[1].port}")
        quiet = cli("doctor")  # a cron job runs this: nobody is paged
        result = cli("doctor", "--send-test")
    finally:
        for service in reversed(listeners):
            service.stop()
    assert quiet.exit_code == 0, quiet.output
    assert "notification: 1 destination(s), none failing (no test sent" in quiet.output
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 12 and all(line.startswith("ok    ") for line in lines), lines
    assert lines[-2] == "ok    restore: never restored from a backup"
    assert lines[-1].startswith("ok    descriptors: ")
    assert "dns zone: docs.example.fr delegated to ns1.docs.example.fr (127.0.0.1): this host" in lines[0]
    assert "notification: 1 destination(s) accepted a test alert" in lines[6]
    assert len(receiver.received) == 1 and next(iter(receiver.received.values()))["test"] is True
    assert list_events(db) == []  # the callback probe used a token no canary has: nothing recorded


def test_an_unanswering_resolver_is_one_failing_line(cli, db, add_hand_canaries):
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        set_setting(db, "doctor.resolver", f"127.0.0.1:{silent.getsockname()[1]}")
        set_setting(db, "doctor.timeout", "0.5")
        set_setting(db, "tripwire.dns_zone", "docs.example.fr")
        result = cli("doctor")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == ("FAIL  dns zone: docs.example.fr: no NS record (the resolver did not "
                                             "answer in time): delegate the zone to this host")


def test_bad_doctor_settings_are_one_clear_failing_line(cli, db, loopback_dns):
    set_setting(db, "tripwire.dns_zone", "docs.example.fr")
    set_setting(db, "doctor.host_addresses", "not-an-ip")
    assert cli("doctor").output.splitlines()[0] == (
        "FAIL  dns zone: doctor.host_addresses: 'not-an-ip' does not appear to be an IPv4 or IPv6 address")
    set_setting(db, "doctor.resolver", "resolver.example.fr:53")
    result = cli("doctor")
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        "FAIL  dns zone: doctor.resolver 'resolver.example.fr:53': expected an IP address, optionally with :port")


def test_too_few_file_descriptors_fail_the_doctor(db, db_path) -> None:
    """The default 1,024 descriptors of a service without LimitNOFILE: a flood blinds every listener."""
    import resource
    import subprocess
    import sys

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), "doctor"],
                          cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
                          preexec_fn=low_limit)
    [line] = [line for line in done.stdout.splitlines() if "descriptors:" in line]
    assert line.startswith("FAIL  descriptors: this process (no serve running here): 1024 open files at most")
    assert "LimitNOFILE=65536" in line
    assert done.returncode != 0
