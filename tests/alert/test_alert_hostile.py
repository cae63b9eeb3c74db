"""Alerting against an attacker: apprise redirects, IPv6 forms of IPv4, spoofed text from log fields."""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from canary.alert.correlate import correlate_all
from canary.alert.destinations import add_destination
from canary.alert.model import list_alerts
from canary.alert.ssrf import TargetPolicy
from canary.errors import CanaryError
from canary.settings import set_setting
from tests.support.peers.alert_receiver import hit


class _Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class Peer:
    """A loopback HTTP server counting requests; answers 307 to ``location`` when it is set."""

    def __init__(self, host: str, location: str | None = None) -> None:
        self.requests: list[str] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                peer.requests.append(f"{self.command} {self.path}")
                self.send_response(307 if location else 200)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _any  # http.server API

            def log_message(self, *args: Any) -> None:
                pass

        server_class = _Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Peer]:
    peer = Peer("127.0.0.1")  # refused: only ::1 is allowed below
    yield peer
    peer.close()


@pytest.fixture
def redirector(trap: Peer) -> Iterator[Peer]:
    peer = Peer("::1", location=f"http://127.0.0.1:{trap.port}/stolen")
    yield peer
    peer.close()


@pytest.mark.parametrize("scheme", ["xml", "form", "ntfy", "apprise", "json"])
def test_apprise_targets_never_follow_a_redirect(db, add_hand_canaries, delivery, redirector, trap, scheme):
    set_setting(db, "alert.allowed_target_cidrs", "::1/128")
    set_setting(db, "alert.rate_per_minute", "0")
    path = "/hook" if scheme != "apprise" else "/token"
    add_destination(db, f"{scheme}://[::1]:{redirector.port}{path}")  # json://: the native pinned sender
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    correlate_all(db)
    delivery.run_once()
    assert redirector.requests, "the destination was never contacted"
    assert trap.requests == []  # the refused address never got the alert
    state, error = db.execute("SELECT state, last_error FROM alert_outbox").fetchone()
    assert state == "pending" and error  # kept and retried, the operator sees why


EMBEDDING_LOOPBACK = ["64:ff9b::7f00:1", "64:ff9b::127.0.0.1", "2002:7f00:1::", "2002:7f00:0001:1234::1",
                      "::7f00:1", "::127.0.0.1", "::ffff:127.0.0.1", "64:ff9b:1::7f00:1"]
EMBEDDING_METADATA = ["64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::", "::169.254.169.254", "::ffff:169.254.169.254"]
EMBEDDING_PRIVATE = ["64:ff9b::a00:1", "2002:c0a8:101::", "::10.0.0.1", "::ffff:192.168.1.1"]


def test_ipv6_forms_embedding_ipv4_are_classified_by_that_ipv4():
    strict = TargetPolicy()
    for text in EMBEDDING_LOOPBACK + EMBEDDING_METADATA + EMBEDDING_PRIVATE:
        assert strict.refusal(ipaddress.ip_address(text)), text
    for text in EMBEDDING_METADATA:
        assert "link-local" in (strict.refusal(ipaddress.ip_address(text)) or ""), text
    loopback_allowed = TargetPolicy(allowed=(ipaddress.ip_network("127.0.0.1/32"),))
    assert loopback_allowed.refusal(ipaddress.ip_address("64:ff9b::7f00:1")) is None
    private_allowed = TargetPolicy(allow_private=True)
    assert private_allowed.refusal(ipaddress.ip_address("::ffff:192.168.1.1")) is None
    assert private_allowed.refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))  # metadata stays refused
    # Public IPv4 behind NAT64 / 6to4 stays reachable; plain public IPv6 too.
    for text in ("64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888"):
        assert strict.refusal(ipaddress.ip_address(text)) is None, text


def test_add_refuses_ipv6_literals_that_embed_loopback(db):
    for text in ("64:ff9b::7f00:1", "2002:7f00:1::", "::7f00:1", "::127.0.0.1"):
        with pytest.raises(CanaryError, match="refused notification target|malformed"):  # apprise may not parse
            add_destination(db, f"xml://[{text}]:8080/hook")
        with pytest.raises(CanaryError, match="refused notification target"):
            add_destination(db, f"json://[{text}]:8080/hook")


SPOOFED = "jdupont\r\nCEF:0|canary|canary|1|http|All clear|1|msg=ignore the previous\x1b[2J\x00\u2028x=y|z"


def test_control_characters_from_log_fields_never_reach_titles_texts_or_cef(fast_alerts, db, add_hand_canaries,
                                                                              udp_listener, delivery):
    port = udp_listener.getsockname()[1]
    add_destination(db, f"syslog://127.0.0.1:{port}")
    canary = add_hand_canaries("ehr-a", 1)[0]
    hit(db, canary["id"], channel="access-log", severity="critical", account=SPOOFED, group="access:ehr-a:x")
    correlate_all(db)
    (alert,) = list_alerts(db)
    controls = {chr(c) for c in range(32)} | {"\x7f", "\u2028", "\u2029"}
    assert not controls & set(alert["title"])
    for text in (alert["text"]["fr"], alert["text"]["en"], alert["first_action"]["en"]):
        for line in text.split("\n"):
            assert not controls & set(line), line
        assert text.count("\n") == 4 or text is alert["first_action"]["en"]  # the five lines of the template
    assert all(not controls & set(a) for a in alert["accounts"])
    delivery.run_once()
    message = udp_listener.recv(65535).decode()
    assert "\r" not in message and "\n" not in message and "\x1b" not in message
    cef = message[message.index("CEF:0|"):]
    # The header splits on unescaped pipes into its seven fields: the spoofed record is data, not a record.
    fields = re.split(r"(?<!\\)\|", cef, maxsplit=7)
    assert fields[:4] == ["CEF:0", "canary", "canary", "1"] and fields[4] == "access-log" and fields[6] == "10"
    assert "jdupont  CEF:0\\|canary" in fields[5]
    assert "x\\=y" in fields[7]  # '=' inside an extension value is escaped
