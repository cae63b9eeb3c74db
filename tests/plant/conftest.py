"""Real peers on 127.0.0.1 for planting tests: an MLLP server from the hl7 package and a FHIR endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hl7
import hl7.mllp
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from flask import Flask, request
from pydantic import ValidationError
from werkzeug.serving import make_server

from tests.support.pki import Pki, make_pki


@pytest.fixture(autouse=True)
def fast_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and backoff so error paths stay fast."""
    monkeypatch.setenv("CANARY_PLANT_TIMEOUT", "2")
    monkeypatch.setenv("CANARY_PLANT_FHIR_BACKOFF", "0.01")
    monkeypatch.setenv("CANARY_PLANT_FHIR_RETRIES", "3")
    monkeypatch.setenv("CANARY_PLANT_SEND_SPACING", "0")


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- MLLP ----------------------------------------------------------------------------------------

RECEIVER = "app=DPI&facility=CHUX"

@dataclass
class MllpPeer:
    """Parses every message it receives and answers as ``decide(message)`` says: "AA", "AE", "AR",
    "silent" (no answer), "close" (drop the connection without answering), "reset" (drop it with a
    TCP reset) or "empty-segment" (an AA whose ACK holds an empty segment between MSH and MSA)."""

    port: int = 0
    messages: list[hl7.Message] = field(default_factory=list)
    decide: Callable[[hl7.Message], str] = lambda message: "AA"
    error_text: str = "PID-7 date de naissance invalide"
    received: threading.Event = field(default_factory=threading.Event)
    scheme: str = "mllp"
    # A receiver that allocates IPPs: an accepted message without one gets this one back in the ACK's PID-3.
    allocate_ipp: Callable[[], str] | None = None

    @property
    def address(self) -> str:
        """The target as stored: scheme, host and port."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The target as an operator writes it, with the receiving application and facility (MSH-5/6)."""
        return f"{self.address}?{RECEIVER}"

    async def handle(self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not reader.at_eof():
                message = await reader.readmessage()
                self.messages.append(message)
                self.received.set()
                verdict = self.decide(message)
                if verdict == "close":
                    writer.close()
                    return
                if verdict == "reset":
                    # SO_LINGER 0 makes the close a RST: the sender sees "connection reset", not an end of file.
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                if verdict == "silent":
                    continue
                if verdict == "empty-segment":
                    control_id = str(message.segment("MSH")(10))
                    writer.writemessage(hl7.parse(f"{message.create_ack('AA').segment('MSH')}\r\rMSA|AA|{control_id}"))
                    await writer.drain()
                    continue
                ack = message.create_ack(verdict)
                if verdict == "AA" and self.allocate_ipp is not None and "^PI" not in str(message.segment("PID")(3)):
                    ack = hl7.parse(str(ack).rstrip("\r") + f"\rPID|1||{self.allocate_ipp()}^^^DPI^PI")
                if verdict != "AA":
                    control_id = str(message.segment("MSH")(10))
                    ack = hl7.parse(f"{ack.segment('MSH')}\rMSA|{verdict}|{control_id}|{self.error_text}\r"
                                    f"ERR|||102^Data type error^HL70357|E||||{self.error_text}")
                writer.writemessage(ack)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    def pids(self) -> list[hl7.Segment]:
        return [m.segment("PID") for m in self.messages]

    def events(self) -> list[str]:
        return [str(m.segment("MSH")(9)(1)(2)) for m in self.messages]


class RunningMllp:
    """An hl7 MLLP server on 127.0.0.1 in its own thread and loop; with ``ssl_context`` it talks TLS."""

    def __init__(self, peer: MllpPeer, encoding: str = "utf-8", ssl_context: ssl.SSLContext | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.stop_event: asyncio.Event | None = None
        if ssl_context is not None:
            peer.scheme = "mllps"

        async def main() -> None:
            self.stop_event = asyncio.Event()
            server = await hl7.mllp.start_hl7_server(peer.handle, "127.0.0.1", 0, encoding=encoding,
                                                     ssl=ssl_context)
            peer.port = server.sockets[0].getsockname()[1]
            started.set()
            async with server:
                await self.stop_event.wait()

        self.thread = threading.Thread(target=lambda: self.loop.run_until_complete(main()), daemon=True)
        self.thread.start()
        assert started.wait(5)

    def stop(self) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def mllp_peer(request: pytest.FixtureRequest) -> Iterator[MllpPeer]:
    """The peer decodes UTF-8, or the encoding given by indirect parametrisation."""
    peer = MllpPeer()
    running = RunningMllp(peer, getattr(request, "param", "utf-8"))
    yield peer
    running.stop()


# --- FHIR ----------------------------------------------------------------------------------------

def outcome(status: int, text: str, code: str = "invalid") -> tuple[dict[str, Any], int]:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}, status


@dataclass
class FhirServer:
    """A small FHIR endpoint: validates transaction Bundles with fhir.resources (R4B), stores resources,
    answers transaction-response Bundles; honours ifNoneExist on identifier; can fail on demand."""

    token: str | None = None
    store: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundles: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before behaving
    reject_with: str | None = None  # answer 400 with this OperationOutcome text
    deletes: list[str] = field(default_factory=list)
    # Answer 204 to DELETE and 200 to PUT but keep the resource unchanged: an engine that acknowledges and drops.
    ignore_writes: bool = False
    user_agents: list[str] = field(default_factory=list)  # the User-Agent of every request
    # A server that allocates IPPs: a Patient created without an identifier in this system gets one.
    allocate_ipp_system: str | None = None
    port: int = 0
    scheme: str = "http"
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/fhir"

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for key, r in self.store.items() if key.startswith(kind + "/")]

    def app(self) -> Flask:
        app = Flask("fhir-test-server")

        @app.before_request
        def auth():
            self.user_agents.append(request.headers.get("User-Agent", ""))
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                return outcome(401, "missing or wrong bearer token", "login")
            if self.fail_next:
                status = self.fail_next.pop(0)
                body, _ = outcome(status, f"temporary failure {status}", "transient")
                return body, status, {"Retry-After": "0"} if status == 429 else {}
            return None

        @app.post("/fhir")
        def transaction():
            body = request.get_json(force=True)
            try:
                Bundle.model_validate(body)
                for entry in body.get("entry", []):
                    get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
            except (ValidationError, KeyError, ValueError) as exc:
                return outcome(400, f"invalid bundle: {exc}")
            if body.get("type") != "transaction":
                return outcome(400, "expected a transaction Bundle")
            if self.reject_with:
                return outcome(422, self.reject_with, "business-rule")
            self.bundles.append(body)
            return self._apply(body), 200

        @app.get("/fhir/<kind>/<rid>")
        def read(kind: str, rid: str):
            resource = self.store.get(f"{kind}/{rid}")
            return (resource, 200) if resource else outcome(404, "not found", "not-found")

        @app.delete("/fhir/<kind>/<rid>")
        def delete(kind: str, rid: str):
            self.deletes.append(f"{kind}/{rid}")
            if not self.ignore_writes:
                self.store.pop(f"{kind}/{rid}", None)
            return "", 204

        @app.put("/fhir/<kind>/<rid>")
        def update(kind: str, rid: str):
            body = request.get_json(force=True)
            try:
                get_fhir_model_class(kind).model_validate(body)
            except (ValidationError, KeyError, ValueError) as exc:
                return outcome(400, f"invalid {kind}: {exc}")
            if f"{kind}/{rid}" not in self.store:
                return outcome(404, "not found", "not-found")
            if not self.ignore_writes:
                self.store[f"{kind}/{rid}"] = {**body, "id": rid}
            return self.store[f"{kind}/{rid}"], 200

        return app

    def _apply(self, bundle: dict[str, Any]) -> dict[str, Any]:
        assigned: dict[str, str] = {}
        answers = []
        for entry in bundle["entry"]:
            resource, req = entry["resource"], entry["request"]
            existing = self._find(resource["resourceType"], req.get("ifNoneExist"))
            if existing:
                assigned[entry["fullUrl"]] = existing
                answers.append({"response": {"status": "200 OK", "location": f"{existing}/_history/1"}})
                continue
            key = f"{resource['resourceType']}/{next(self._ids)}"
            assigned[entry["fullUrl"]] = key
            answers.append({"response": {"status": "201 Created", "location": f"{key}/_history/1"}})
            self.store[key] = {**resource, "id": key.split("/")[1]}
            system = self.allocate_ipp_system
            if (system and resource["resourceType"] == "Patient"
                    and not any(i.get("system") == system for i in resource.get("identifier", []))):
                self.store[key].setdefault("identifier", []).append(
                    {"system": system, "value": f"77{key.split('/')[1].zfill(6)}",
                     "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI"}]}})
        for key in assigned.values():
            _resolve(self.store.get(key), assigned)
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": answers}

    def _find(self, kind: str, query: str | None) -> str | None:
        if not query or not query.startswith("identifier="):
            return None
        system, _, value = query[len("identifier="):].partition("|")
        for key, resource in self.store.items():
            if key.startswith(kind + "/") and any(i.get("system") == system and i.get("value") == value
                                                  for i in resource.get("identifier", [])):
                return key
        return None


def _resolve(value: Any, assigned: dict[str, str]) -> None:
    """Rewrite urn:uuid references to the ids the server gave."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "reference" and inner in assigned:
                value[key] = assigned[inner]
            else:
                _resolve(inner, assigned)
    elif isinstance(value, list):
        for inner in value:
            _resolve(inner, assigned)


class RunningServer:
    def __init__(self, fhir: FhirServer, port: int = 0, ssl_context: Any = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        self.server = make_server("127.0.0.1", port, fhir.app(), threaded=True, ssl_context=ssl_context)
        fhir.scheme = "https" if ssl_context else "http"
        fhir.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fhir_server() -> Iterator[FhirServer]:
    fhir = FhirServer()
    running = RunningServer(fhir)
    fhir.running = running  # type: ignore[attr-defined]
    yield fhir
    fhir.running.stop()  # type: ignore[attr-defined]


def self_signed_certificate(folder: Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 that no trust store knows."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


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


class TlsFront:
    """A TLS terminator in front of a plain MLLP peer, as stunnel or an integration engine's TLS listener:
    a blocking ``ssl`` server socket, which (unlike asyncio's) sends the TLS alert when it refuses a
    handshake, so the client learns why."""

    def __init__(self, context: ssl.SSLContext, backend_port: int) -> None:
        self.context, self.backend_port = context, backend_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"mllps://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.address}?{RECEIVER}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # listener closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        # One thread per connection reads and writes the TLS side: OpenSSL does not allow a read and a
        # write of one connection at the same time (two threads doing so reset it now and then).
        with contextlib.suppress(OSError), backend, tls:
            self._pump(tls, backend)

    @staticmethod
    def _pump(tls: ssl.SSLSocket, backend: socket.socket) -> None:
        client_open = True
        while True:
            if client_open and tls.pending():
                ready = [tls]  # already decrypted bytes: select would not see them
            else:
                ready, _, _ = select.select([backend, tls] if client_open else [backend], [], [], 10)
                if not ready:
                    return
            if tls in ready:
                if data := tls.recv(65536):
                    backend.sendall(data)
                else:
                    # Half-close: the peer sees the end, closes its side, and that ends the TLS side.
                    client_open = False
                    backend.shutdown(socket.SHUT_WR)
            if backend in ready:
                if not (data := backend.recv(65536)):
                    return
                tls.sendall(data)

    def stop(self) -> None:
        self.listener.close()


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
