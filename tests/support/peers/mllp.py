"""An MLLP receiver on 127.0.0.1 as an integration engine runs one: it parses every message (hl7
package), answers as the test decides, and can sit behind a TLS terminator (``TlsFront``)."""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import hl7
import hl7.mllp

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
        ready: list[socket.socket]
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
