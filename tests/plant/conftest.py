"""Fixtures of the planting tests: the real peers of tests.support.peers (MLLP, FHIR, TLS fronts) started
and stopped per test, and short timeouts so error paths stay fast."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.certs import self_signed_certificate
from tests.support.peers.fhir import FhirServer, RunningServer
from tests.support.peers.mllp import MllpPeer, RunningMllp, TlsFront
from tests.support.pki import Pki, make_pki


@pytest.fixture(autouse=True)
def fast_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and backoff so error paths stay fast."""
    monkeypatch.setenv("CANARY_PLANT_TIMEOUT", "2")
    monkeypatch.setenv("CANARY_PLANT_FHIR_BACKOFF", "0.01")
    monkeypatch.setenv("CANARY_PLANT_FHIR_RETRIES", "3")
    monkeypatch.setenv("CANARY_PLANT_SEND_SPACING", "0")


# --- MLLP ----------------------------------------------------------------------------------------

@pytest.fixture
def mllp_peer(request: pytest.FixtureRequest) -> Iterator[MllpPeer]:
    """The peer decodes UTF-8, or the encoding given by indirect parametrisation."""
    peer = MllpPeer()
    running = RunningMllp(peer, getattr(request, "param", "utf-8"))
    yield peer
    running.stop()


# --- FHIR ----------------------------------------------------------------------------------------

@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    fhir = FhirServer()
    running = RunningServer(fhir)
    fhir.running = running  # type: ignore[attr-defined]
    yield fhir
    fhir.running.stop()  # type: ignore[attr-defined]


@pytest.fixture
def fhir_tls_server(tmp_path: Path) -> Iterator[FhirServer]:
    fhir = FhirServer()
    running = RunningServer(fhir, ssl_context=self_signed_certificate(tmp_path))
    yield fhir
    running.stop()


# --- MLLP over TLS -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_tls_peer() -> Iterator[Callable[[ssl.SSLContext], MllpPeer]]:
    """Start MLLP peers wrapped in the given server contexts; all stopped at the end of the test."""
    running: list[RunningMllp] = []

    def start(context: ssl.SSLContext) -> MllpPeer:
        peer = MllpPeer()
        running.append(RunningMllp(peer, ssl_context=context))
        return peer

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def start_tls_front(mllp_peer: MllpPeer) -> Iterator[Callable[[ssl.SSLContext], TlsFront]]:
    """TLS terminators in front of ``mllp_peer`` (what they pass on lands in its ``messages``)."""
    fronts: list[TlsFront] = []

    def start(context: ssl.SSLContext) -> TlsFront:
        fronts.append(TlsFront(context, mllp_peer.port))
        return fronts[-1]

    yield start
    for front in fronts:
        front.stop()
