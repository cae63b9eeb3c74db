"""An MLLP client that sends one message at a time and waits for its acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from types import TracebackType

import hl7
import hl7.mllp

from canary.errors import CanaryError
from canary.plant.hl7v2 import Ack, read_ack


class MllpError(CanaryError):
    """The link failed. ``delivered_maybe``: the message left us, the peer may have stored it."""

    def __init__(self, message: str, *, delivered_maybe: bool) -> None:
        super().__init__(message)
        self.delivered_maybe = delivered_maybe


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    return getattr(exc, "strerror", None) or str(exc)


class MllpClient:
    """One connection for a run of messages (``with MllpClient(host, port) as link: link.send(msg)``)."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0, encoding: str = "utf-8") -> None:
        self.host, self.port, self.timeout, self.encoding = host, port, timeout, encoding
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reader: hl7.mllp.HL7StreamReader | None = None
        self._writer: hl7.mllp.HL7StreamWriter | None = None

    @property
    def where(self) -> str:
        return f"mllp://{self.host}:{self.port}"

    def __enter__(self) -> MllpClient:
        return self.connect()

    def connect(self) -> MllpClient:
        """Open the connection; an unreachable peer is an MllpError with nothing delivered."""
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
        except (TimeoutError, OSError) as exc:
            raise MllpError(f"{self.where}: sending failed: {exc or 'timeout'}", delivered_maybe=True) from exc
        try:
            answer = await asyncio.wait_for(self._reader.readmessage(), self.timeout)
        except TimeoutError as exc:
            raise MllpError(f"{self.where}: no acknowledgement within {self.timeout:g}s / pas d'acquittement",
                            delivered_maybe=True) from exc
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise MllpError(f"{self.where}: connection closed before the acknowledgement / connexion fermée",
                            delivered_maybe=True) from exc
        except (ValueError, hl7.ParseException, hl7.mllp.InvalidBlockError) as exc:
            raise MllpError(f"{self.where}: unreadable acknowledgement: {exc}", delivered_maybe=True) from exc
        ack = read_ack(answer)
        if ack.control_id and ack.control_id != control_id:
            raise MllpError(f"{self.where}: acknowledgement for message {ack.control_id}, expected {control_id}",
                            delivered_maybe=True)
        return ack
