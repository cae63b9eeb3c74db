"""An ICAP service (RFC 3507) that a web proxy asks about each upload (REQMOD) or response (RESPMOD).

Monitor only by default: the answer is ``204`` (unchanged) when the proxy allows it, else the message
echoed back as it came; with ``egress.block`` a body carrying a canary is answered with a 403 page the
proxy shows instead of sending the upload. The body is read as it streams (chunked, with the preview
the proxy sends first), spooled up to ``egress.max_body_bytes`` and matched by
:class:`canary.watch.egress.inspect.Inspector`; a larger body is passed through and counted, never held.

Whatever the peer sends, it gets a valid ICAP answer or a closed connection, one line is logged, and
the service goes on: a malformed request is answered 400, silence mid-request 408, a connection that
drops mid-body is counted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import os
import socket
import socketserver
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from canary.socket_caps import PacedAcceptMixin, ServedListener
from canary.watch.egress.inspect import BodyFile, Context, Inspector

log = logging.getLogger("canary.egress.icap")

CHANNEL = "egress-web"
PREVIEW_BYTES = 4096
MAX_CONNECTIONS = 256
MAX_LINE = 8192
MAX_HEADERS = 64 * 1024  # ICAP headers, and the encapsulated HTTP headers, each
PIECE = 256 * 1024
SERVICE_NAME = "canary egress watch"
_STATUS = {100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 404: "ICAP Service Not Found",
           405: "Method Not Allowed For Service", 408: "Request Timeout", 500: "Server Error",
           501: "Method Not Implemented", 503: "Service Overloaded", 505: "ICAP Version Not Supported"}
BLOCK_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>Envoi bloqu\u00e9</title></head>
<body><h1>Envoi bloqu\u00e9</h1>
<p>Cet envoi contient des donn\u00e9es de patients et a \u00e9t\u00e9 bloqu\u00e9 par la politique
de s\u00e9curit\u00e9 de l'\u00e9tablissement. Contactez le service informatique si vous pensez qu'il
s'agit d'une erreur.</p>
<p>This upload holds patient data and was blocked by the security policy.</p>
</body></html>
"""


class BadRequest(Exception):
    """The peer broke the protocol: answered 400 and the connection closed."""


class PeerGone(Exception):
    """The connection ended in the middle of a request."""


@dataclass
class IcapRequest:
    method: str
    service: str  # the path of the ICAP URI: /reqmod, /respmod
    headers: dict[str, str]
    sections: dict[str, bytes] = field(default_factory=dict)  # req-hdr / res-hdr raw bytes
    body_kind: str | None = None  # req-body / res-body, None for null-body

    @property
    def allow_204(self) -> bool:
        return "204" in [v.strip() for v in self.headers.get("allow", "").split(",")]

    @property
    def preview(self) -> int | None:
        value = self.headers.get("preview")
        if value is None:
            return None
        try:
            size = int(value)
        except ValueError as exc:
            raise BadRequest(f"bad Preview header {value!r}") from exc
        if size < 0:
            raise BadRequest(f"bad Preview header {value!r}")
        return size


class IcapServer(PacedAcceptMixin, socketserver.ThreadingTCPServer):
    # An accept error (Errno 24) is counted, logged once a minute and paced (canary.socket_caps).
    cap_log = log
    cap_name = "icap"
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], inspector: Inspector, max_connections: int = MAX_CONNECTIONS) -> None:
        self.inspector = inspector
        self.max_connections = max_connections
        self.slots = threading.BoundedSemaphore(max_connections)
        # One client holds three quarters of the connections at most: a flood from one address is
        # refused to that address alone, the proxy keeps the rest (503 to everyone made Squid fail open).
        self.max_per_client = max(1, max_connections - max_connections // 4)
        self._per_client: dict[str, int] = {}
        self._per_client_lock = threading.Lock()
        self.istag = f'"canary-{"block" if inspector.config.block else "monitor"}-1"'
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, IcapHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, at most the Max-Connections told in OPTIONS: past it a proxy
        # (or anything else) gets 503 at once instead of a thread.
        client = client_address[0]
        with self._per_client_lock:
            mine = self._per_client.get(client, 0)
            over_share = mine >= self.max_per_client
            if not over_share:
                self._per_client[client] = mine + 1
        if over_share or not self.slots.acquire(blocking=False):
            if not over_share:
                self._client_done(client)
            why = f"{client} over its {self.max_per_client}" if over_share else f"over {self.max_connections}"
            self.tally.refusal(f"{why} connections, answered 503")
            with contextlib.suppress(OSError):
                request.sendall(b"ICAP/1.0 503 Service Overloaded\r\nISTag: " + self.istag.encode() +
                                b"\r\nEncapsulated: null-body=0\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()
            self._client_done(client_address[0])

    def _client_done(self, client: str) -> None:
        with self._per_client_lock:
            left = self._per_client.get(client, 1) - 1
            if left > 0:
                self._per_client[client] = left
            else:
                self._per_client.pop(client, None)


class IcapHandler(socketserver.StreamRequestHandler):
    server: IcapServer
    disable_nagle_algorithm = True  # small answers (204, the last chunk) must not wait for the proxy's ACK

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.inspector.config.io_timeout)
        self.peer = f"{self.client_address[0]}:{self.client_address[1]}"

    def handle(self) -> None:
        while True:
            try:
                if not self._one_request():
                    return
            except BadRequest as exc:
                log.warning("icap %s: bad request, answered 400: %s", self.peer, exc)
                self.server.inspector.count_passed(CHANNEL, "protocol_error", 0)
                self._answer_error(400)
                return
            except TimeoutError:
                log.warning("icap %s: no data for %.0f s in the middle of a request, answered 408", self.peer,
                            self.server.inspector.config.io_timeout)
                self.server.inspector.count_passed(CHANNEL, "protocol_error", 0)
                self._answer_error(408)
                return
            except PeerGone as exc:
                log.warning("icap %s: connection ended mid-request (%s)", self.peer, exc)
                self.server.inspector.count_passed(CHANNEL, "protocol_error", 0)
                return
            except OSError as exc:
                log.warning("icap %s: connection error: %s", self.peer, exc)
                return

    # --- one request ---------------------------------------------------------------------------------

    def _one_request(self) -> bool:
        """Read and answer one request; False when the connection should close."""
        line = self.rfile.readline(MAX_LINE)
        while line in (b"\r\n", b"\n"):  # tolerate blank lines between requests
            line = self.rfile.readline(MAX_LINE)
        if not line:
            return False  # the peer closed between requests: the normal end
        request = self._read_head(line)
        if request.method not in ("OPTIONS", "REQMOD", "RESPMOD"):
            # What follows its headers is unknown, so the connection cannot be reused.
            log.warning("icap %s: method %r not implemented, answered 501", self.peer, request.method[:20])
            self._answer_error(501)
            return False
        if request.method == "OPTIONS":
            self._answer_options(request)
        else:
            self._answer_modification(request)
        return request.headers.get("connection", "").lower() != "close"

    def _read_head(self, line: bytes) -> IcapRequest:
        if not line.endswith(b"\n"):
            raise BadRequest("request line too long")
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            raise BadRequest(f"malformed request line {line[:80]!r}")
        method, uri, version = parts
        if version.upper() != "ICAP/1.0":
            raise BadRequest(f"unsupported version {version[:20]!r}")
        headers = _read_headers(self.rfile, "ICAP")
        service = urllib.parse.urlsplit(uri).path or "/"
        request = IcapRequest(method.upper(), service, headers)
        if request.method not in ("OPTIONS", "REQMOD", "RESPMOD"):
            return request
        encapsulated = _encapsulated(headers.get("encapsulated", "null-body=0" if method == "OPTIONS" else ""))
        offset = 0
        names = list(encapsulated)
        for i, name in enumerate(names):
            start = encapsulated[name]
            if start != offset and name not in ("null-body", "req-body", "res-body", "opt-body"):
                raise BadRequest("Encapsulated offsets out of order")
            if name in ("req-hdr", "res-hdr"):
                end = encapsulated[names[i + 1]] if i + 1 < len(names) else None
                if end is None or end < start or end - start > MAX_HEADERS:
                    raise BadRequest(f"bad Encapsulated length for {name}")
                data = self.rfile.read(end - start)
                if len(data) < end - start:
                    raise PeerGone(f"{name} cut short")
                request.sections[name] = data
                offset = end
            elif name in ("req-body", "res-body", "opt-body"):
                request.body_kind = name
        return request

    def _answer_options(self, request: IcapRequest) -> None:
        if request.body_kind:
            for _ in _chunks(self.rfile):  # an opt-body is allowed; nothing in it matters here
                pass
        method = "RESPMOD" if "resp" in request.service.lower() else "REQMOD"
        self._send(200, [("Methods", method), ("Service", SERVICE_NAME),
                         ("Max-Connections", str(self.server.max_connections)), ("Options-TTL", "300"),
                         ("Allow", "204"), ("Preview", str(PREVIEW_BYTES)),
                         ("Transfer-Preview", "*"), ("X-Include", "X-Client-IP, X-Authenticated-User"),
                         ("Encapsulated", "null-body=0")])

    def _answer_modification(self, request: IcapRequest) -> None:
        wanted = "RESPMOD" if "resp" in request.service.lower() else "REQMOD"
        if request.method != wanted:
            for _ in _chunks(self.rfile) if request.body_kind else ():
                pass
            self._send(405, [("Encapsulated", "null-body=0")])
            return
        if request.body_kind is None:
            self._pass_through(request, None, may_204=request.allow_204)  # a GET: nothing leaves
            return
        self._inspect_body(request)

    def _inspect_body(self, request: IcapRequest) -> None:
        inspector = self.server.inspector
        config = inspector.config
        context = _context(request, self.client_address[0])
        http_headers = _http_headers(request.sections.get("res-hdr" if request.method == "RESPMOD" else "req-hdr", b""))
        preview = request.preview
        handle, spool_path = tempfile.mkstemp(prefix="canary-icap-")
        spool = os.fdopen(handle, "w+b")
        owned = True
        try:
            size = 0
            over = False
            echoing = False
            chunks = _chunks(self.rfile)
            complete = False
            if preview is not None:
                for data in chunks:
                    size += len(data)
                    if size > preview:  # a preview longer than announced is not spooled on and on
                        raise BadRequest(f"preview longer than its Preview: {preview}")
                    spool.write(data)
                complete = chunks.ieof
                if not complete:
                    self._write(b"ICAP/1.0 100 Continue\r\n\r\n")
                    chunks = _chunks(self.rfile)
            allow_204 = request.allow_204 or complete
            # Monitor mode without 204: the answer is the message itself, so it flows back at once and
            # the match runs beside it; blocking needs the whole body first (within the limit).
            stream_back = not config.block and not allow_204
            if stream_back:
                echoing = True
                self._begin_echo(request, spool, size)
            held = b""  # the last piece echoed, kept back until the match is done (see below)
            if not complete:
                for data in chunks:
                    size += len(data)
                    if not over and size > config.max_body_bytes:
                        over = True
                        if not allow_204 and not echoing:
                            echoing = True
                            self._begin_echo(request, spool, size - len(data))
                    if not over:
                        spool.write(data)
                    if echoing:
                        self._write_chunk(held)
                        held = data
            if over:
                inspector.count_passed(CHANNEL, "over_limit", size)  # counted before the proxy hears
                if echoing:
                    self._write_chunk(held)
                    self._write(b"0\r\n\r\n")
                else:
                    self._send(204, [("Encapsulated", "null-body=0")])
                log.info("icap %s: body of %d bytes over egress.max_body_bytes, passed unmatched (%s)",
                         self.peer, size, context.details.get("url"))
                return
            spool.close()
            name = _body_name(context, http_headers)
            if allow_204 or echoing:
                match_path = spool_path
                owned = False  # the inspector deletes the spool
            else:  # the spool is echoed after the match: the inspector gets (and deletes) a second name
                match_path = spool_path + ".match"
                os.link(spool_path, match_path)
            files = [BodyFile(name, match_path, http_headers.get("content-type", ""),
                              http_headers.get("content-encoding", ""))]
            if echoing:
                # The body has flowed back already but for its last piece, which waits for the match
                # (within the deadline): a sighting is stored before the upload can complete.
                inspector.inspect(files, context, size)
                self._write_chunk(held)
                self._write(b"0\r\n\r\n")
                return
            verdict = inspector.inspect(files, context, size)
            if config.block and verdict.block:
                self._answer_block()
            else:
                self._pass_through(request, spool_path, may_204=allow_204)
        finally:
            if not spool.closed:
                spool.close()
            if owned:
                with contextlib.suppress(OSError):
                    os.unlink(spool_path)

    # --- answers -------------------------------------------------------------------------------------

    def _pass_through(self, request: IcapRequest, spool_path: str | None, may_204: bool) -> None:
        """204 when allowed (the proxy keeps its copy); else the message echoed unchanged."""
        if may_204:
            self._send(204, [("Encapsulated", "null-body=0")])
            return
        head, encapsulated = _echo_head(request)
        self._send(200, [("Encapsulated", encapsulated)], head)
        if request.body_kind is None:
            return
        if spool_path is not None:
            with open(spool_path, "rb") as spool:
                while data := spool.read(PIECE):
                    self._write_chunk(data)
        self._write(b"0\r\n\r\n")

    def _begin_echo(self, request: IcapRequest, spool: BinaryIO, spooled: int) -> None:
        head, encapsulated = _echo_head(request)
        self._send(200, [("Encapsulated", encapsulated)], head)
        spool.flush()
        spool.seek(0)
        left = spooled
        while left > 0 and (data := spool.read(min(PIECE, left))):
            self._write_chunk(data)
            left -= len(data)
        spool.seek(0, os.SEEK_END)

    def _answer_block(self) -> None:
        body = BLOCK_PAGE.encode("utf-8")
        http = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html; charset=utf-8\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\nCache-Control: no-store\r\n"
                b"Connection: close\r\n\r\n")
        self._send(200, [("Encapsulated", f"res-hdr=0, res-body={len(http)}")], http)
        self._write_chunk(body)
        self._write(b"0\r\n\r\n")

    def _answer_error(self, status: int) -> None:
        with contextlib.suppress(OSError):
            self._send(status, [("Encapsulated", "null-body=0"), ("Connection", "close")])

    def _send(self, status: int, headers: list[tuple[str, str]], encapsulated: bytes = b"") -> None:
        lines = [f"ICAP/1.0 {status} {_STATUS[status]}", f"ISTag: {self.server.istag}", f"Server: {SERVICE_NAME}"]
        lines += [f"{name}: {value}" for name, value in headers]
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + encapsulated)

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self._write(b"%x\r\n" % len(data) + data + b"\r\n")

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()


class _chunks:  # used like a generator, with the ieof flag it saw
    """The chunks of an ICAP chunked body, up to its last chunk; ``ieof`` tells a preview held it all."""

    def __init__(self, rfile: io.BufferedIOBase) -> None:
        self.rfile = rfile
        self.ieof = False
        self._left = 0
        self._done = False

    def __iter__(self) -> _chunks:
        return self

    def __next__(self) -> bytes:
        if self._done:
            raise StopIteration
        if self._left == 0:
            line = self.rfile.readline(MAX_LINE)
            if not line:
                raise PeerGone("body cut before its last chunk")
            if not line.endswith(b"\n"):
                raise BadRequest("chunk size line too long")
            size_text, _, extension = line.strip().partition(b";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError as exc:
                raise BadRequest(f"bad chunk size {line[:40]!r}") from exc
            if size < 0:
                raise BadRequest(f"bad chunk size {line[:40]!r}")
            if size == 0:
                self.ieof = extension.strip().lower() == b"ieof"
                _read_headers(self.rfile, "trailer")  # the blank line (and any trailers)
                self._done = True
                raise StopIteration
            self._left = size
        data = self.rfile.read(min(PIECE, self._left))
        if not data:
            raise PeerGone("chunk cut short")
        self._left -= len(data)
        if self._left == 0:
            end = self.rfile.readline(MAX_LINE)
            if not end:
                raise PeerGone("chunk cut short")
            if end.strip():
                raise BadRequest("chunk longer than its size")
        return data


def _read_headers(rfile: io.BufferedIOBase, what: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    total = 0
    last = ""
    while True:
        line = rfile.readline(MAX_LINE)
        if not line:
            raise PeerGone(f"{what} headers cut short")
        if not line.endswith(b"\n"):
            raise BadRequest(f"{what} header line too long")
        total += len(line)
        if total > MAX_HEADERS:
            raise BadRequest(f"{what} headers too long")
        if line in (b"\r\n", b"\n"):
            return headers
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and last:  # a folded continuation line
            headers[last] += " " + text.strip()
            continue
        name, sep, value = text.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise BadRequest(f"malformed {what} header {text[:60]!r}")
        last = name.strip().lower()
        headers[last] = value.strip()


def _encapsulated(value: str) -> dict[str, int]:
    """``req-hdr=0, req-body=412`` -> {"req-hdr": 0, "req-body": 412}, in order."""
    known = ("req-hdr", "res-hdr", "req-body", "res-body", "null-body", "opt-body")
    out: dict[str, int] = {}
    for item in value.split(","):
        name, sep, number = item.strip().partition("=")
        name = name.strip().lower()
        if not sep or name not in known or name in out:
            raise BadRequest(f"malformed Encapsulated header {value[:80]!r}")
        try:
            out[name] = int(number)
        except ValueError as exc:
            raise BadRequest(f"malformed Encapsulated header {value[:80]!r}") from exc
        if out[name] < 0:
            raise BadRequest(f"malformed Encapsulated header {value[:80]!r}")
    if not out:
        raise BadRequest("missing Encapsulated header")
    if sum(1 for name in out if name.endswith("-body")) != 1 or not list(out)[-1].endswith("-body"):
        raise BadRequest(f"Encapsulated header must end with one body: {value[:80]!r}")
    return out


def _http_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def _context(request: IcapRequest, peer: str) -> Context:
    """Client, user and destination, from what the proxy passes and the encapsulated request."""
    req = request.sections.get("req-hdr", b"")
    first = req.split(b"\r\n", 1)[0].decode("latin-1").split()
    method, target = (first[0], first[1]) if len(first) >= 2 else ("", "")
    host = _http_headers(req).get("host", "")
    split = urllib.parse.urlsplit(target)
    if split.netloc:
        host = split.netloc
        url = target
    else:
        url = f"http://{host}{target}" if host else target
    destination = urllib.parse.urlsplit(f"//{host}").hostname or host
    client = request.headers.get("x-client-ip") or None
    details = {"destination": destination, "url": url[:2048], "method": method, "icap": request.method,
               "proxy": peer}
    return Context(channel=CHANNEL, source=client, account=_user(request.headers), details=details)


def _user(headers: dict[str, str]) -> str | None:
    """X-Authenticated-User is base64 of ``scheme://user`` (Squid: of the bare name); X-Client-Username too."""
    raw = headers.get("x-authenticated-user") or headers.get("x-client-username")
    if not raw:
        return None
    try:
        decoded = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return raw[:256]
    return (decoded if decoded.isprintable() and decoded else raw)[:256]


def _body_name(context: Context, http_headers: dict[str, str]) -> str:
    _, _, params = http_headers.get("content-disposition", "").partition("filename=")
    name = params.strip().strip('"') if params else ""
    return name or str(context.details.get("url") or "body")


def _echo_head(request: IcapRequest) -> tuple[bytes, str]:
    """The encapsulated headers of an unchanged message and their Encapsulated value."""
    if request.method == "RESPMOD" and "res-hdr" in request.sections:
        head = request.sections["res-hdr"]
        body = "res-body" if request.body_kind else "null-body"
        return head, f"res-hdr=0, {body}={len(head)}"
    head = request.sections.get("req-hdr", b"")
    body = "req-body" if request.body_kind else "null-body"
    return head, f"req-hdr=0, {body}={len(head)}"


class IcapService(ServedListener):
    """``canary serve --icap``: the server in its own thread, with its inspector."""

    name = "egress icap service"

    def __init__(self, db_path: Path, host: str, port: int, inspector: Inspector | None = None,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.db_path = db_path
        self.host = host
        self.port = port
        self.inspector = inspector
        self.max_connections = max_connections
        self._server: IcapServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.inspector = self.inspector or Inspector(self.db_path)
        self.inspector.scanner()  # load the index now: the first upload is not the one that waits
        self._server = IcapServer((self.host, self.port), self.inspector, self.max_connections)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="egress-icap",
                                        daemon=True)
        self._thread.start()
        log.info("ICAP service on icap://%s:%s/reqmod and /respmod (%s)", self.host, self.port,
                 "blocking" if self.inspector.config.block else "monitor only")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.inspector is not None:
            self.inspector.close()
        self._server = self._thread = None
