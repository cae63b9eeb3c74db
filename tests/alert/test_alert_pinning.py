"""DNS rebinding: webhooks and syslog connect to the very addresses the SSRF check accepted.

Names under ``.test`` are answered by resolvers written here and handed to the production code (its
``resolver`` parameter); the system resolver does not know them, so a request that resolved the name
again by itself could not even connect. ``127.0.0.1`` is the allowed address (``fast_alerts``), and
``127.0.0.2`` plays the refused one (loopback, outside the allow-list): a trap receiver listens there.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest

from canary.alert.correlate import correlate_all
from canary.alert.delivery import DeliveryWorker
from canary.alert.destinations import add_destination
from canary.alert.ssrf import TargetPolicy, check_target
from canary.errors import CanaryError
from tests.support.certs import self_signed_certificate
from tests.support.peers.alert_receiver import Receiver, hit


class RebindingResolver:
    """A hostile DNS server: the first answer passes the check, every later one points elsewhere."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first, then]
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        return [self.answers[0] if len(self.calls) == 1 else self.answers[1]]


def fixed(answer: str):
    return lambda host, port: [answer]


def _deliver(db, resolver) -> None:
    """Correlate, then one delivery pass of a worker resolving names with ``resolver``."""
    correlate_all(db)
    worker = DeliveryWorker(db, resolver=resolver)
    try:
        worker.run_once()
    finally:
        worker.close()


def _pending(db) -> int:
    return db.execute("SELECT COUNT(*) FROM alert_outbox WHERE state = 'pending'").fetchone()[0]


def _last_error(db) -> str:
    return db.execute("SELECT last_error FROM alert_outbox WHERE state = 'pending'").fetchone()[0]


@pytest.fixture
def trap(receiver: Receiver) -> Iterator[Receiver]:
    """A receiver on the refused address, same port as ``receiver``: where a rebound request would land."""
    r = Receiver(host="127.0.0.2", port=receiver.port)
    yield r
    r.down()


def test_the_second_answer_of_a_rebinding_dns_is_never_used(fast_alerts, db, add_hand_canaries, receiver, trap):
    rebinding = RebindingResolver("127.0.0.1", "127.0.0.2")
    add_destination(db, receiver.url_for("siem.rebind.test"), resolver=fixed("127.0.0.1"))
    worker = DeliveryWorker(db, resolver=rebinding)
    try:
        canaries = add_hand_canaries("ehr-a", 2)
        hit(db, canaries[0]["id"])
        correlate_all(db)
        assert worker.run_once() == 1
        assert rebinding.calls == ["siem.rebind.test"]  # one resolution per send: the checked one
        (key,) = receiver.received
        assert receiver.headers[key]["Host"] == f"siem.rebind.test:{receiver.port}"
        assert trap.total == 0 and _pending(db) == 0

        hit(db, canaries[1]["id"])  # the next send asks again: now the answer is refused, nothing is sent
        correlate_all(db)
        assert worker.run_once() == 1
        assert len(rebinding.calls) == 2 and trap.total == 0 and receiver.total == 1
        assert "refused notification target siem.rebind.test (127.0.0.2)" in _last_error(db)
    finally:
        worker.close()


def test_a_redirect_is_refused_not_followed(fast_alerts, db, add_hand_canaries, receiver, trap, delivery):
    receiver.status, receiver.location = 307, trap.url
    add_destination(db, receiver.url)
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    correlate_all(db)
    delivery.run_once()
    assert receiver.total == 1 and trap.total == 0
    assert _pending(db) == 1 and "redirect refused" in _last_error(db)  # kept, retried later


def test_resolver_answers_are_all_checked(fast_alerts, db):
    policy = TargetPolicy.from_settings(fast_alerts)
    both = lambda host, port: ["127.0.0.1", "169.254.169.254"]  # noqa: E731
    with pytest.raises(CanaryError, match="link-local"):
        check_target(policy, "mixed.test", 80, resolver=both)
    with pytest.raises(CanaryError, match="no address"):
        check_target(policy, "empty.test", 80, resolver=lambda host, port: [])
    with pytest.raises(CanaryError, match="refused"):
        add_destination(db, "json://meta.test/hook", resolver=fixed("169.254.169.254"))
    assert check_target(policy, "ok.test", 80, resolver=fixed("127.0.0.1")) == ["127.0.0.1"]


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch) -> Iterator[tuple[Receiver, list[str | None]]]:
    """HTTPS receiver whose self-signed certificate names ``siem.test``, trusted as an operator would."""
    cert, key = self_signed_certificate(tmp_path, names=("siem.test",))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    tls.sni_callback = lambda sock, name, context: server_names.append(name)  # type: ignore[assignment]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    secure = Receiver(tls=tls)
    yield secure, server_names
    secure.down()


def test_https_pinned_keeps_sni_host_and_certificate_name(fast_alerts, db, add_hand_canaries, tls_receiver):
    secure, server_names = tls_receiver
    add_destination(db, secure.url_for("siem.test"), resolver=fixed("127.0.0.1"))
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    _deliver(db, RebindingResolver("127.0.0.1", "127.0.0.2"))
    (key,) = secure.received
    assert secure.headers[key]["Host"] == f"siem.test:{secure.port}"
    assert server_names == ["siem.test"]  # SNI: the URL's name, not the address connected to
    assert _pending(db) == 0


def test_https_certificate_is_checked_against_the_url_name(fast_alerts, db, add_hand_canaries, tls_receiver):
    """Same server, same trusted certificate, same address: a name the certificate lacks is refused."""
    secure, server_names = tls_receiver
    add_destination(db, secure.url_for("other.test"), resolver=fixed("127.0.0.1"))
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"])
    _deliver(db, fixed("127.0.0.1"))
    assert secure.received == {} and server_names == ["other.test"]
    error = _last_error(db)
    assert "TLS certificate" in error and "other.test" in error


def test_syslog_goes_to_the_checked_address(fast_alerts, db, add_hand_canaries, udp_listener):
    port = udp_listener.getsockname()[1]
    add_destination(db, f"syslog://logs.test:{port}", resolver=fixed("127.0.0.1"))
    hit(db, add_hand_canaries("ehr-a", 1)[0]["id"], channel="dns")
    _deliver(db, RebindingResolver("127.0.0.1", "127.0.0.2"))
    assert "CEF:0|canary|canary|1|dns|" in udp_listener.recv(65535).decode()
    assert _pending(db) == 0
