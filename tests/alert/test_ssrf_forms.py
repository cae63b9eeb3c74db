"""The SSRF guard sees every endpoint a notification URL names, and every IPv6 form of an internal address."""

from __future__ import annotations

import ipaddress
import secrets
import socket

import pytest

from canary.alert.destinations import Destination, add_destination
from canary.alert.senders import DeliveryError, send
from canary.alert.ssrf import TargetPolicy
from canary.errors import CanaryError

# IPv6 spellings of loopback and private IPv4, and IPv6 ranges that are not the Internet.
INTERNAL_IPV6 = {
    "::ffff:0:7f00:1": "loopback",          # IPv4-translated (RFC 2765) 127.0.0.1
    "::ffff:0:a00:1": "private",            # IPv4-translated 10.0.0.1
    "fec0::1": "site-local",                # deprecated site-local, still routed inside sites
    "fed0:1::2": "site-local",
    "fd12:3456::1": "private",              # unique local (ULA)
    "fc00::1": "private",
    "2002:a00:1::1": "private",             # 6to4 carrying 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe": "private",  # Teredo, client 10.0.0.1
    "::ffff:7f00:1": "loopback",            # IPv4-mapped
    "64:ff9b::c0a8:1": "private",           # NAT64 192.168.0.1
    "::1": "loopback",
    "fe80::1": "link-local",
    "100::1": "",                           # discard-only: reserved or private
}


def test_every_ipv6_form_of_an_internal_address_is_refused():
    strict = TargetPolicy()
    for text, reason in INTERNAL_IPV6.items():
        refusal = strict.refusal(ipaddress.ip_address(text))
        assert refusal and reason in refusal, (text, refusal)
    for text in ("2001:4860:4860::8888", "::ffff:0:808:808", "2606:4700:4700::1111"):
        assert strict.refusal(ipaddress.ip_address(text)) is None, text


@pytest.mark.parametrize("literal", ["::ffff:0:7f00:1", "fec0::1", "fd00::1"])
def test_webhooks_to_those_literals_are_refused(db, literal):
    with pytest.raises(CanaryError, match="refused notification target"):
        add_destination(db, f"json://[{literal}]:8080/hook")


@pytest.fixture
def listener():
    """A TCP port on loopback that records whether anybody connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    yield server
    server.close()


def _connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_an_apprise_plugin_carrying_its_endpoint_in_another_field_is_refused(db, listener):
    port = listener.getsockname()[1]
    url = f"nostr://{secrets.token_hex(32)}?relay=ws://127.0.0.1:{port}/"
    with pytest.raises(CanaryError, match="nostr"):
        add_destination(db, url)
    # A destination stored before this check (or written into the registry by hand) is refused at send time.
    stored = Destination(id=1, url=url, kind="apprise", min_severity="low")
    with pytest.raises(DeliveryError, match="nostr"):
        send(stored, {"title": "test", "idempotency_key": "k"}, policy=TargetPolicy(), timeout=2)
    assert not _connected(listener)


def test_an_endpoint_field_of_a_vetted_plugin_is_checked_too(db):
    # ntfy names its server as the URL's host: a loopback one is refused like a webhook's.
    with pytest.raises(CanaryError, match="refused notification target"):
        add_destination(db, "ntfy://127.0.0.1:8080/topic")
    with pytest.raises(CanaryError, match="refused notification target"):
        add_destination(db, "ntfys://[::ffff:0:7f00:1]/topic")
