"""An MLLP client that sends one message at a time and waits for its acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from types import TracebackType

import hl7
import hl7.mllp

from canary.errors import CanaryError
from canary.plant.channels.mllp.hl7v2 import Ack, read_ack
from canary.plant.channels.mllp.tls import TlsConfig, client_context, describe_failure, is_client_cert_refusal

# Longest wait for a TLS 1.3 server to confirm it accepted us (see MllpClient._tls_acceptance).
TLS13_CONFIRM_WAIT = 1.0


class MllpError(CanaryError):
    """The link failed. ``delivered_maybe``: the message left us, the peer may have stored it.
    ``link_refused``: the peer refused the link itself (TLS), so no message could have been taken."""

    def __init__(self, message: str, *, delivered_maybe: bool, link_refused: bool = False) -> None:
        super().__init__(message)
        self.delivered_maybe = delivered_maybe
        self.link_refused = link_refused


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    return getattr(exc, "strerror", None) or str(exc)


class MllpClient:
    """One connection for a run of messages (``with MllpClient(host, port) as link: link.send(msg)``).
    With ``tls``, the link is MLLP inside TLS (``mllps://``), the server's certificate always verified."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0, encoding: str = "utf-8",
                 tls: TlsConfig | None = None) -> None:
        self.host, self.port, self.timeout, self.encoding, self.tls = host, port, timeout, encoding, tls
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: hl7.mllp.HL7StreamReader | None = None
        self._writer: hl7.mllp.HL7StreamWriter | None = None

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mllps' if self.tls else 'mllp'}://{host}:{self.port}"

    def __enter__(self) -> MllpClient:
        return self.connect()

    def connect(self) -> MllpClient:
        """Open the connection; an unreachable peer is an MllpError with nothing delivered."""
        if self.tls is not None:
            return self._connect_tls(self.tls)
        self._loop = asyncio.new_event_loop()
        try:
            self._reader, self._writer = self._loop.run_until_complete(asyncio.wait_for(
                hl7.mllp.open_hl7_connection(self.host, self.port, encoding=self.encoding), self.timeout))
        except (TimeoutError, OSError) as exc:
            self._close_loop()
            reason = _connect_reason(exc)
            raise MllpError(f"cannot connect to {self.where}: {reason} / connexion impossible",
                            delivered_maybe=False) from exc
        return self

    def _connect_tls(self, tls: TlsConfig) -> MllpClient:
        """TCP first, then the handshake, so that each failure says which of the two went wrong."""
        try:
            context = client_context(tls)
        except CanaryError as exc:  # a file gone since the options were checked: nothing can be sent
            raise MllpError(f"{self.where}: {exc}", delivered_maybe=False, link_refused=True) from exc
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise MllpError(f"cannot connect to {self.where}: {_connect_reason(exc)} / connexion impossible",
                            delivered_maybe=False) from exc
        self._loop = asyncio.new_event_loop()
        try:
            self._reader, self._writer = self._loop.run_until_complete(asyncio.wait_for(
                hl7.mllp.open_hl7_connection(sock=sock, ssl=context, server_hostname=tls.server_name or self.host,
                                             encoding=self.encoding),
                self.timeout))
            refusal = self._loop.run_until_complete(self._tls_acceptance())
        except (TimeoutError, OSError) as exc:
            refusal = exc
        if refusal is not None:
            self.close()
            sock.close()
            raise MllpError(f"{self.where}: {self._handshake_reason(refusal, tls)}", delivered_maybe=False,
                            link_refused=True) from refusal
        return self

    async def _tls_acceptance(self) -> BaseException | None:
        """In TLS 1.3 the server checks our certificate only after our side of the handshake is done. Wait
        for the session ticket it sends once it accepts us, or for its refusal, before any message leaves.
        A server that sends no ticket costs at most TLS13_CONFIRM_WAIT once per connection."""
        assert self._reader is not None and self._writer is not None
        ssl_object = self._writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.version() != "TLSv1.3":
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(self.timeout, TLS13_CONFIRM_WAIT)
        while loop.time() < deadline:
            failure: BaseException | None = self._reader.exception()
            if failure is not None:
                return failure
            if self._reader.at_eof():
                return ConnectionResetError("connection closed after the handshake")
            session = ssl_object.session
            if session is not None and session.has_ticket:
                return None
            await asyncio.sleep(0.002)
        return None

    def _handshake_reason(self, exc: BaseException, tls: TlsConfig) -> str:
        reason = describe_failure(exc, tls, self.host)
        if reason is not None:
            return reason
        if isinstance(exc, TimeoutError):
            return (f"TLS handshake: no answer within {self.timeout:g}s; is the port MLLP over TLS? "
                    "/ négociation TLS sans réponse")
        if isinstance(exc, ConnectionError):
            # Some servers (asyncio's among them) drop the connection on a certificate they refuse, without
            # the alert that would say so.
            hint = ("; it may require a client certificate: give one with tls_cert and tls_key"
                    if not tls.has_client_cert else "; it may not accept our client certificate")
            return f"TLS handshake failed: the server closed the connection{hint} / échec de la négociation TLS"
        return f"TLS handshake failed ({_connect_reason(exc)}) / échec de la négociation TLS"

    def _link_failure(self, exc: BaseException, what: str) -> MllpError:
        """An error after the handshake. In TLS 1.3 a server refuses our client certificate only once the
        client has finished its side, so the refusal shows up here: nothing was taken, say so."""
        if self.tls is not None and is_client_cert_refusal(exc):
            return MllpError(f"{self.where}: {describe_failure(exc, self.tls, self.host)}", delivered_maybe=False,
                             link_refused=True)
        if isinstance(exc, ConnectionResetError):
            return MllpError(f"{self.where}: connection reset by the peer {what} / connexion réinitialisée",
                             delivered_maybe=True)
        if isinstance(exc, ssl.SSLError):
            return MllpError(f"{self.where}: TLS error {what} ({exc.reason or exc}) / erreur TLS",
                             delivered_maybe=True)
        return MllpError(f"{self.where}: connection closed {what} / connexion fermée", delivered_maybe=True)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None and self._loop is not None:
            self._writer.close()
            with contextlib.suppress(TimeoutError, OSError):
                self._loop.run_until_complete(asyncio.wait_for(self._writer.wait_closed(), 2))
            self._writer = self._reader = None
        self._close_loop()

    def _close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def send(self, message: str, control_id: str) -> Ack:
        """Send and wait for the ACK whose MSA-2 names ``control_id``."""
        if self._loop is None:
            raise RuntimeError("MllpClient used outside its 'with' block")
        return self._loop.run_until_complete(self._send(message, control_id))

    async def _send(self, message: str, control_id: str) -> Ack:
        assert self._reader is not None and self._writer is not None
        try:
            payload = message.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise MllpError(f"a value cannot be sent in {self.encoding}: {exc.object[exc.start:exc.end]!r}",
                            delivered_maybe=False) from exc
        try:
            self._writer.writeblock(payload)
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except TimeoutError as exc:
            raise MllpError(f"{self.where}: sending failed: timeout", delivered_maybe=True) from exc
        except OSError as exc:
            if self.tls is not None:
                raise self._link_failure(exc, "while sending") from exc
            raise MllpError(f"{self.where}: sending failed: {exc}", delivered_maybe=True) from exc
        try:
            answer = await asyncio.wait_for(self._reader.readmessage(), self.timeout)
        except TimeoutError as exc:
            raise MllpError(f"{self.where}: no acknowledgement within {self.timeout:g}s / pas d'acquittement",
                            delivered_maybe=True) from exc
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise self._link_failure(exc, "before the acknowledgement") from exc
        except (ValueError, hl7.ParseException, hl7.mllp.InvalidBlockError) as exc:
            raise MllpError(f"{self.where}: unreadable acknowledgement: {exc}", delivered_maybe=True) from exc
        try:
            ack = read_ack(answer)
        except (IndexError, KeyError, ValueError, TypeError) as exc:
            # The hl7 package fails inside its segment lookup on an empty segment (IndexError): an ACK we
            # cannot read is an unknown outcome, never a crash of the run.
            empty = any(not str(segment).strip() for segment in answer)
            reason = "it holds an empty segment" if empty else f"{type(exc).__name__}: {exc}"
            raise MllpError(f"{self.where}: unreadable acknowledgement ({reason}) / acquittement illisible",
                            delivered_maybe=True) from exc
        if ack.control_id and ack.control_id != control_id:
            raise MllpError(f"{self.where}: acknowledgement for message {ack.control_id}, expected {control_id}",
                            delivered_maybe=True)
        return ack
