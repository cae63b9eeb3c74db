"""A milter (the Sendmail/Postfix mail filter protocol, version 6) that matches outbound mail.

The gateway hands each message over as it receives it (envelope, headers, body in pieces); at the end
of the body the message is parsed (MIME parts decoded, attachments by file name) and matched by
:class:`canary.watch.egress.inspect.Inspector`, the same readers as ``canary scan`` (csv, zip, xlsx,
gzip...). The answer is ``continue`` by default (monitor only); with ``egress.block`` a mail carrying
a canary is rejected with a 5xx (``egress.mail_block_action = reject``) or held in the gateway's
quarantine (``quarantine``). A sighting is an event on channel ``egress-mail`` naming the envelope
sender, the recipients, the subject and the SASL user.

The protocol is small and stable (commands of one letter in length-prefixed packets); it is written
here rather than bound to libmilter, whose Python binding registers one global filter per process.
"""

from __future__ import annotations

import binascii
import contextlib
import email.errors
import email.header
import email.parser
import email.policy
import logging
import os
import socket
import socketserver
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

from canary.socket_caps import PacedAcceptMixin, ServedListener
from canary.watch.egress.decoding import decode_transfer, transfer_encoding
from canary.watch.egress.inspect import BodyFile, Context, Inspector

log = logging.getLogger("canary.egress.milter")

CHANNEL = "egress-mail"
MILTER_VERSION = 6
MAX_PACKET = 1024 * 1024  # Postfix sends body pieces of at most 64 KiB; anything far larger is not a milter
SMFIF_QUARANTINE = 0x20
REJECT_REPLY = b"550 5.7.1 Message refused by the security policy (patient data)\0"

# Commands the MTA sends (one letter) and the replies used here.
SMFIC_ABORT, SMFIC_BODY, SMFIC_CONNECT, SMFIC_MACRO, SMFIC_BODYEOB = b"A", b"B", b"C", b"D", b"E"
SMFIC_HELO, SMFIC_QUIT_NC, SMFIC_HEADER, SMFIC_MAIL, SMFIC_EOH = b"H", b"K", b"L", b"M", b"N"
SMFIC_OPTNEG, SMFIC_QUIT, SMFIC_RCPT, SMFIC_DATA, SMFIC_UNKNOWN = b"O", b"Q", b"R", b"T", b"U"
SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_QUARANTINE, SMFIR_REPLYCODE = b"c", b"a", b"q", b"y"


class ProtocolError(Exception):
    """The peer does not speak the milter protocol: logged, connection closed."""


@dataclass
class MessageState:
    """What one SMTP session has said so far about the message under way."""

    client_address: str | None = None
    client_name: str | None = None
    helo: str | None = None
    macros: dict[str, str] = field(default_factory=dict)
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    spool_path: str | None = None
    size: int = 0
    over: bool = False

    def reset_message(self) -> None:
        self.sender = None
        self.recipients = []
        self.headers = []
        self.size = 0
        self.over = False
        self.drop_spool()

    def drop_spool(self) -> None:
        if self.spool_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.spool_path)
            self.spool_path = None


class MilterServer(PacedAcceptMixin, socketserver.ThreadingTCPServer):
    # An accept error (Errno 24) is counted, logged once a minute and paced (canary.socket_caps).
    cap_log = log
    cap_name = "milter"
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], inspector: Inspector) -> None:
        self.inspector = inspector
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, MilterHandler)


class MilterHandler(socketserver.StreamRequestHandler):
    server: MilterServer
    disable_nagle_algorithm = True  # one small reply per command: no waiting for the MTA's ACK

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.inspector.config.io_timeout)
        self.peer = f"{self.client_address[0]}:{self.client_address[1]}"
        self.state = MessageState()

    def handle(self) -> None:
        try:
            while True:
                packet = self._read_packet()
                if packet is None:
                    return
                command, data = packet[:1], packet[1:]
                if not self._dispatch(command, data):
                    return
        except ProtocolError as exc:
            log.warning("milter %s: not the milter protocol, connection closed: %s", self.peer, exc)
            self.server.inspector.count_passed(CHANNEL, "protocol_error", self.state.size)
        except TimeoutError:
            log.warning("milter %s: no data for %.0f s, connection closed", self.peer,
                        self.server.inspector.config.io_timeout)
            self.server.inspector.count_passed(CHANNEL, "protocol_error", self.state.size)
        except OSError as exc:
            log.warning("milter %s: connection error: %s", self.peer, exc)
        finally:
            self.state.drop_spool()

    def _read_packet(self) -> bytes | None:
        head = self.rfile.read(4)
        if not head:
            return None
        if len(head) < 4:
            raise ProtocolError("packet length cut short")
        (length,) = struct.unpack("!I", head)
        if length == 0 or length > MAX_PACKET:
            raise ProtocolError(f"packet of {length} bytes")
        packet = self.rfile.read(length)
        if len(packet) < length:
            raise ProtocolError("packet cut short")
        return packet

    def _reply(self, command: bytes, data: bytes = b"") -> None:
        self.wfile.write(struct.pack("!I", len(data) + 1) + command + data)
        self.wfile.flush()

    def _dispatch(self, command: bytes, data: bytes) -> bool:
        """Answer one command; False ends the connection."""
        state = self.state
        if command == SMFIC_OPTNEG:
            if len(data) < 12:
                raise ProtocolError("option negotiation too short")
            version, actions, _protocol = struct.unpack("!III", data[:12])
            if version < 2:
                raise ProtocolError(f"milter protocol version {version}")
            # Every step is wanted and answered (protocol flags 0); the only action asked is quarantine.
            self._reply(SMFIC_OPTNEG, struct.pack("!III", min(version, MILTER_VERSION), actions & SMFIF_QUARANTINE, 0))
        elif command == SMFIC_MACRO:
            for name, value in _pairs(data[1:]):
                state.macros[name.strip("{}")] = value
        elif command == SMFIC_CONNECT:
            host, _, rest = data.partition(b"\0")
            state.client_name = host.decode("utf-8", "replace")
            if rest[:1] in (b"4", b"6") and len(rest) > 3:
                state.client_address = rest[3:].rstrip(b"\0").decode("ascii", "replace")
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_HELO:
            state.helo = data.rstrip(b"\0").decode("utf-8", "replace")
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_MAIL:
            state.reset_message()
            state.sender = _address(data)
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_RCPT:
            if len(state.recipients) < 1000:
                state.recipients.append(_address(data))
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_HEADER:
            pairs = _pairs(data)
            if pairs and len(state.headers) < 1000:
                state.headers.append(pairs[0])
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_BODY:
            self._spool(data)
            self._reply(SMFIR_CONTINUE)
        elif command == SMFIC_BODYEOB:
            if data:
                self._spool(data)
            self._end_of_message()
        elif command == SMFIC_ABORT:
            state.reset_message()
        elif command == SMFIC_QUIT:
            return False
        elif command == SMFIC_QUIT_NC:
            self.state = MessageState()
        elif command in (SMFIC_DATA, SMFIC_EOH, SMFIC_UNKNOWN):
            self._reply(SMFIR_CONTINUE)
        else:
            raise ProtocolError(f"unknown command {command!r}")
        return True

    def _spool(self, data: bytes) -> None:
        state = self.state
        state.size += len(data)
        if state.over:
            return
        if state.size > self.server.inspector.config.max_body_bytes:
            state.over = True
            state.drop_spool()
            return
        if state.spool_path is None:
            handle, state.spool_path = tempfile.mkstemp(prefix="canary-milter-")
            os.close(handle)
        with open(state.spool_path, "ab") as spool:
            spool.write(data)

    def _end_of_message(self) -> None:
        state = self.state
        inspector = self.server.inspector
        config = inspector.config
        context = self._context()
        if state.over:
            inspector.count_passed(CHANNEL, "over_limit", state.size)
            log.info("milter %s: mail of %d bytes over egress.max_body_bytes, passed unmatched", self.peer, state.size)
            self._reply(SMFIR_CONTINUE)
            return
        files = _mail_parts(state.headers, state.spool_path)
        state.drop_spool()
        verdict = inspector.inspect(files, context, state.size)
        if config.block and verdict.block:
            if config.mail_block_action == "quarantine":
                self._reply(SMFIR_QUARANTINE, b"canary: patient data in outbound mail\0")
                self._reply(SMFIR_CONTINUE)
            else:
                self._reply(SMFIR_REPLYCODE, REJECT_REPLY)
        else:
            self._reply(SMFIR_CONTINUE)

    def _context(self) -> Context:
        state = self.state
        subject = next((value for name, value in state.headers if name.lower() == "subject"), None)
        details = {"sender": state.sender, "recipients": state.recipients,
                   "destination": ", ".join(sorted({r.rpartition("@")[2].lower() for r in state.recipients if r})),
                   "subject": (subject or "")[:500], "queue_id": state.macros.get("i"),
                   "helo": state.helo, "client_name": state.client_name, "gateway": self.client_address[0]}
        client = state.client_address or state.macros.get("client_addr")
        return Context(channel=CHANNEL, source=client, account=state.macros.get("auth_authen") or None,
                       details=details)


def _pairs(data: bytes) -> list[tuple[str, str]]:
    """NUL-separated name/value pairs."""
    items = data.split(b"\0")
    if items and items[-1] == b"":
        items.pop()
    text = [item.decode("utf-8", "replace") for item in items]
    return list(zip(text[0::2], text[1::2], strict=False))


def _address(data: bytes) -> str:
    """The address of MAIL FROM / RCPT TO (the first argument), without its angle brackets."""
    first = data.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return first[1:-1] if first.startswith("<") and first.endswith(">") else first


def _mail_parts(headers: list[tuple[str, str]], spool_path: str | None) -> list[BodyFile]:
    """What a mail client would show: the headers with their encoded words decoded, each leaf part decoded
    (its transfer encoding read leniently, nested messages walked), and the message as sent (a boundary
    given twice or a part a parser skips is still read there; base64 inside is the scanner's, regions.py)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("utf-8", "replace") + b"\r\n"
    body = b""
    if spool_path is not None:
        with open(spool_path, "rb") as spool:
            body = spool.read()
    files = [_written("headers", "".join(f"{name}: {_words(value)}\n" for name, value in headers).encode("utf-8"))]
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + body)
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        payload = _payload(part)
        if not payload:
            continue
        name = part.get_filename() or ("body" if index == 0 else f"part {index}")
        files.append(_written(name, payload, part.get_content_type()))
    if body:
        files.append(_written("message", head + body, "message/rfc822"))
    return files


def _written(name: str, data: bytes, content_type: str = "") -> BodyFile:
    handle, path = tempfile.mkstemp(prefix="canary-milter-part-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    return BodyFile(name, path, content_type)


def _words(value: str) -> str:
    """A header with its encoded words (=?utf-8?b?...?=, =?iso-8859-1?q?...?=) decoded, as clients show it."""
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return value


def _payload(part: Message) -> bytes:
    raw = part.get_payload()
    data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    encoding = transfer_encoding(part.get("content-transfer-encoding"))
    try:
        decoded = decode_transfer(data, encoding)
    except (ValueError, binascii.Error):
        decoded = None
    return decoded if decoded is not None else data


class MilterService(ServedListener):
    """``canary serve --milter``: the milter in its own thread, with its inspector."""

    name = "egress milter"

    def __init__(self, db_path: Path, host: str, port: int, inspector: Inspector | None = None) -> None:
        self.db_path = db_path
        self.host = host
        self.port = port
        self.inspector = inspector
        self._server: MilterServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.inspector = self.inspector or Inspector(self.db_path)
        self.inspector.scanner()
        self._server = MilterServer((self.host, self.port), self.inspector)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="egress-milter",
                                        daemon=True)
        self._thread.start()
        config = self.inspector.config
        log.info("milter on inet:%s:%s (%s)", self.host, self.port,
                 f"blocking: {config.mail_block_action}" if config.block else "monitor only")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.inspector is not None:
            self.inspector.close()
        self._server = self._thread = None
