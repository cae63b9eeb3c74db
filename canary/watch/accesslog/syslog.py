"""Syslog receiver: RFC 5424 and RFC 3164 messages over UDP and TCP (octet-counted or newline framing).

Network threads only queue raw messages; one writer thread parses them and stores their events in
batches, so a burst of datagrams never waits on the database. UDP gives no delivery guarantee (a
datagram dropped by the network or a full socket buffer is lost unseen); over TCP the sender only
knows the kernel received the bytes, not that the event was stored, so nothing TCP brought is dropped
here: a full queue stops reading the connection (the sender's buffer holds the rest), and a batch the
registry refuses (locked past ``journal.wait_ms``, disk full) goes to the source's journal beside the
registry and is stored, exactly once, when the registry takes writes again (canary.store.journal).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import queue
import re
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import sqlite_utils

from canary.errors import CanaryError
from canary.store import open_db
from canary.store.journal import (
    Degradation,
    Journal,
    JournalError,
    journal_path,
    journal_settings,
    record_degradation,
    registry_refused,
)
from canary.store.tx import write_transaction
from canary.throttled_log import OncePerMinute
from canary.watch.accesslog.endpoint_kind import EndpointKind, check_live_request
from canary.watch.accesslog.engine import Processor
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.state import record_error

log = logging.getLogger("canary.accesslog")

MAX_MESSAGE = 64 * 1024
MAX_QUEUED_BYTES = 64 << 20  # messages waiting for the writer; beyond, new ones are counted as lost
MAX_CONNECTIONS = 256
_PRI = re.compile(rb"^<(\d{1,3})>")
_BSD_HEADER = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) (.*)$", re.S)
_TAG = re.compile(r"^([^\s:\[]{1,48})(?:\[[^\]]*\])?: ?(.*)$", re.S)
# The three above in one, for the common frame (RFC 3164 with a tag): one match instead of three and
# no copy of the message body; any other frame takes the general path, with the same result.
_BSD_TAGGED = re.compile(r"<[0-9]{1,3}>([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (\S+) ([^\s:\[]{1,48})"
                         r"(?:\[[^\]]*\])?: ?")


_NEWLINE_DIGIT = re.compile(rb"\n[0-9]")  # a frame that may open with an octet count (RFC 6587)


# --from scheme -> the transports listened on.
TRANSPORTS = {"syslog": ("udp", "tcp"), "syslog+udp": ("udp",), "syslog+tcp": ("tcp",)}


@dataclass(frozen=True)
class SyslogAddress:
    host: str
    port: int
    transports: tuple[str, ...]


def claims(url: str) -> bool:
    return urlsplit(url).scheme in TRANSPORTS


def parse_url(url: str) -> SyslogAddress:
    """syslog://HOST:PORT (UDP and TCP), syslog+udp:// or syslog+tcp:// (one transport)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise CanaryError(f"invalid --from {url!r}: expected syslog://HOST:PORT, e.g. syslog://0.0.0.0:5514")
    return SyslogAddress(parts.hostname, port, TRANSPORTS[parts.scheme])


def check_url(url: str) -> None:
    parse_url(url)


def check_conflict(url: str, others: list[dict[str, Any]]) -> None:
    """Two receivers cannot share a port and a transport (port 0: the system picks one each)."""
    address = parse_url(url)
    for other in others:
        taken = parse_url(other["url"])
        if taken.port == address.port and taken.port != 0 and set(taken.transports) & set(address.transports):
            raise CanaryError(f"port {address.port} already used by source {other['name']!r}")


class SyslogMessage(NamedTuple):
    # A named tuple, not a dataclass: one is made per message, 100,000 a second in a burst.
    msg: str
    timestamp: str | None = None  # as written in the header
    hostname: str | None = None
    app: str | None = None


def parse_syslog(frame: bytes) -> SyslogMessage:
    """Split a syslog frame into header fields and MSG; anything unrecognised is all MSG."""
    return header_of(message_texts([frame])[1][0])


def message_texts(frames: list[bytes]) -> tuple[list[str], list[re.Match[str] | SyslogMessage]]:
    """The MSG of each frame, as :func:`parse_syslog` gives it, and what :func:`header_of` turns into
    the frame's header fields: those are read for a canary read only, so the common frame costs one
    match and one slice."""
    texts: list[str] = []
    heads: list[re.Match[str] | SyslogMessage] = []
    for frame in frames:
        frame = frame.rstrip(b"\x00\r\n")
        if frame[:1] == b"<" and (fast := _BSD_TAGGED.match(text := frame.decode("utf-8", "replace"))):
            texts.append(text[fast.end():])
            heads.append(fast)
        else:
            message = parse_syslog_general(frame)
            texts.append(message.msg)
            heads.append(message)
    return texts, heads


def header_of(head: re.Match[str] | SyslogMessage) -> SyslogMessage:
    """The header fields and MSG of a frame, from what :func:`message_texts` kept of it."""
    if isinstance(head, SyslogMessage):
        return head
    return SyslogMessage(head.string[head.end():], head.group(1), head.group(2), head.group(3))


def parse_syslog_general(frame: bytes) -> SyslogMessage:
    """:func:`parse_syslog` without its shortcut for the common frame (kept apart to check the two agree)."""
    frame = frame.rstrip(b"\x00\r\n")
    match = _PRI.match(frame)
    rest = frame[match.end():] if match else frame
    text = rest.decode("utf-8", "replace")
    if match and text.startswith("1 "):
        return _parse_5424(text[2:])
    if match and (bsd := _BSD_HEADER.match(text)):
        stamp, host, tail = bsd.groups()
        if tag := _TAG.match(tail):
            return SyslogMessage(tag.group(2), stamp, host, tag.group(1))
        return SyslogMessage(tail, stamp, host)
    return SyslogMessage(text)


def _nil(value: str | None) -> str | None:
    return None if value == "-" else value


def _parse_5424(text: str) -> SyslogMessage:
    parts = text.split(" ", 5)  # TIMESTAMP HOSTNAME APP-NAME PROCID MSGID rest
    if len(parts) < 6:
        return SyslogMessage(text)
    stamp, host, app, _procid, _msgid, rest = parts
    # STRUCTURED-DATA: "-" or [..][..] where "]" may be escaped inside quoted values.
    if rest.startswith("-"):
        msg = rest[2:] if len(rest) > 1 else ""
    else:
        i, depth, quoted, escaped = 0, 0, False, False
        while i < len(rest):
            ch = rest[i]
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = not quoted
            elif ch == "[" and not quoted:
                depth += 1
            elif ch == "]" and not quoted:
                depth -= 1
                if depth == 0 and (i + 1 >= len(rest) or rest[i + 1] != "["):
                    i += 1
                    break
            i += 1
        msg = rest[i + 1:] if i < len(rest) else ""
    msg = msg.removeprefix("\ufeff")
    return SyslogMessage(msg, _nil(stamp), _nil(host), _nil(app))


class TcpFramer:
    """RFC 6587 framing: ``LEN SP MSG`` (octet counting) or a trailer (LF, or NUL as Python's
    SysLogHandler sends), chosen per frame by its first byte.

    Any read boundary is survived: bytes of an unfinished frame (even a lone octet count) wait in the
    buffer for the next read. A read of newline-framed messages only is split in one call; any other is
    scanned once from a moving offset (no copy per frame), so a 64 KiB read of short lines costs what
    its lines cost. An oversized octet-counted frame is skipped
    to the end of its line, as a frame without a count would be."""

    def __init__(self) -> None:
        self.buffer = b""
        self.cut_short = 0  # octet-counted frames the peer closed in the middle of

    def feed(self, data: bytes) -> tuple[list[bytes], int]:
        """Frames completed by ``data`` and the number of unusable (oversized) frames skipped."""
        buf = self.buffer + data if self.buffer else data
        if b"\x00" not in buf and not buf[:1].isdigit() and not _NEWLINE_DIGIT.search(buf):
            # The common read: newline-framed messages only (no octet count, no NUL trailer); one
            # split in C gives what the loop below would, frame by frame.
            *lines, rest = buf.split(b"\n")
            bad = 0
            if len(rest) > MAX_MESSAGE:
                bad, rest = 1, b""
            self.buffer = rest
            return [f for f in lines if f.strip(b"\r\n\x00 ")], bad
        frames: list[bytes] = []
        bad = 0
        pos, size = 0, len(buf)
        while pos < size:
            first = buf[pos]
            if 48 <= first <= 57:  # a digit: maybe an octet count
                space = buf.find(b" ", pos, pos + 12)
                if space < 0:
                    if size - pos < 12 and buf[pos:].isdigit():
                        break  # the start of an octet count: wait for more bytes
                elif buf[pos:space].isdigit():
                    length = int(buf[pos:space])
                    body = space + 1
                    if length > MAX_MESSAGE:  # not a frame we keep: skip to the end of its line
                        bad += 1
                        end = buf.find(b"\n", body)
                        pos = size if end < 0 else end + 1
                        continue
                    if size - body < length:
                        break
                    frames.append(buf[body:body + length])
                    pos = body + length
                    continue
            end = buf.find(b"\n", pos)
            nul = buf.find(b"\x00", pos, end if end >= 0 else size)
            if nul >= 0:
                end = nul
            if end < 0:
                if size - pos > MAX_MESSAGE:
                    bad += 1
                    pos = size
                break
            if end > pos:
                frames.append(buf[pos:end])
            pos = end + 1
        self.buffer = buf[pos:] if pos < size else b""
        return [f for f in frames if f.strip(b"\r\n\x00 ")], bad

    def close(self) -> list[bytes]:
        """What is left when the peer closes: a last frame without its trailer. An octet-counted frame
        cut short is counted in ``cut_short`` (the caller reports it), never silently dropped."""
        rest, self.buffer = self.buffer.strip(b"\r\n\x00 "), b""
        if not rest:
            return []
        space = rest.find(b" ", 0, 12)
        if rest.isdigit() or (space > 0 and rest[:space].isdigit()):
            self.cut_short += 1
            return []
        return [rest]


@dataclass
class ReceivedCounts:
    """What the network threads received since the writer last stored its counters."""

    bytes: int = 0
    frames: int = 0


_SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # Linux value; Python names it only on recent builds


def _enable_drop_count(sock: socket.socket) -> bool:
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RXQ_OVFL, 1)
    except OSError:
        return False
    return True


class SyslogService:
    """``canary serve`` service for one syslog source: UDP and/or TCP listeners plus a writer."""

    def __init__(self, db_path: Path, source: dict[str, Any], *, host: str | None = None, port: int | None = None,
                 flush_interval: float = 0.1, batch_size: int = 5000,
                 max_queued_bytes: int = MAX_QUEUED_BYTES) -> None:
        endpoint = parse_url(source["url"])
        self.name = f"access-log syslog {source['name']}"
        self.db_path = db_path
        self.source = source
        self.host = host or endpoint.host or "127.0.0.1"
        self.port = endpoint.port if port is None else port
        self.transports = endpoint.transports
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_queued_bytes = max_queued_bytes
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        # Each item is the frames of one read (or one datagram) and their peer: one queue operation per
        # read, not per message, keeps a 100,000 messages/s burst cheap.
        self.queue: queue.Queue[tuple[list[bytes], str] | None] = queue.Queue()
        self.dropped = 0  # UDP queue full, kernel drops, refused connections: counted as malformed
        self._received = ReceivedCounts()
        self._queued_bytes = 0
        self._connections = 0
        self._counter_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._bad_frames = 0
        self._writer: threading.Thread | None = None
        self.journal: Journal | None = None
        self.degradation = Degradation()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        # Built here so a bad configuration fails the start (and is reported), not the writer thread.
        db = open_db(self.db_path)
        try:
            processor = Processor(db, self.source["system"], build_parser(
                self.source["format"], self.source.get("pattern"), self.source.get("fields")),
                source_name=self.source["name"])
            safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", self.source["name"])
            max_bytes, wait_ms = journal_settings(db)
            self.journal = Journal(journal_path(self.db_path, f"syslog-{safe_name}"), max_bytes)
            # A busy registry is waited for this long, then the batch goes to the journal.
            db.execute(f"PRAGMA busy_timeout={wait_ms}")
        except BaseException:
            db.close()
            raise
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            if "udp" in self.transports:
                udp = socket.socket(family, socket.SOCK_DGRAM)
                udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
                udp.bind((self.host, self.port))
                udp.settimeout(0.2)
                self.udp_port = udp.getsockname()[1]
                self._sockets.append(udp)
                self._spawn(self._udp_loop, udp)
            if "tcp" in self.transports:
                tcp = socket.socket(family, socket.SOCK_STREAM)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((self.host, self.port))
                tcp.listen(64)
                tcp.settimeout(0.2)
                self.tcp_port = tcp.getsockname()[1]
                self._sockets.append(tcp)
                self._spawn(self._accept_loop, tcp)
        except OSError:
            self._stop.set()
            for sock in self._sockets:
                sock.close()
            db.close()
            raise
        self._writer = threading.Thread(target=self._write_loop, args=(db, processor), name=f"{self.name} writer",
                                        daemon=True)
        self._writer.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in self._sockets:
            sock.close()
        if self._writer is not None:
            self.queue.put(None)
            self._writer.join(timeout=30)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=self.name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # --- network ------------------------------------------------------------------------------

    def _enqueue(self, frames: list[bytes], peer: str, *, wait: bool = False) -> None:
        """Queue messages for the writer. When the queue is full, UDP messages are counted lost; a TCP
        connection (``wait``) stops reading until there is room, so the sender's own buffer holds them
        (the kernel's window closes: back-pressure, not loss)."""
        size = sum(map(len, frames))
        while True:
            with self._counter_lock:
                # One read larger than the whole cap is still taken once the queue is empty.
                if self._queued_bytes + size <= self.max_queued_bytes or (wait and self._queued_bytes == 0):
                    self._queued_bytes += size
                    self._received.frames += len(frames)
                    break
                if not wait or self._stop.is_set():
                    self.dropped += len(frames)
                    self._received.frames += len(frames)
                    return
            time.sleep(0.005)
        self.queue.put_nowait((frames, peer))

    def _dequeued(self, size: int) -> None:
        with self._counter_lock:
            self._queued_bytes -= size

    def _udp_loop(self, sock: socket.socket) -> None:
        # Linux tells how many datagrams the kernel dropped on this socket (buffer full) with each
        # datagram: those losses are counted too, not only the ones of the queue.
        overflow = _enable_drop_count(sock)
        kernel_dropped = 0
        ancillary = socket.CMSG_SPACE(4) if overflow else 0
        while not self._stop.is_set():
            try:
                data, cmsgs, _flags, addr = sock.recvmsg(MAX_MESSAGE + 1024, ancillary)
            except TimeoutError:
                continue
            except OSError:
                return
            for level, kind, value in cmsgs:
                if level == socket.SOL_SOCKET and kind == _SO_RXQ_OVFL and len(value) >= 4:
                    total = int.from_bytes(value[:4], sys.byteorder)
                    if total > kernel_dropped:
                        with self._counter_lock:
                            self.dropped += total - kernel_dropped
                            self._received.frames += total - kernel_dropped
                        kernel_dropped = total
            with self._counter_lock:
                self._received.bytes += len(data)
            if data.strip(b"\r\n\x00 "):
                self._enqueue([data], addr[0])

    def _accept_loop(self, sock: socket.socket) -> None:
        accept_errors = OncePerMinute(log, f"{self.name}: TCP connections not accepted")
        while not self._stop.is_set():
            try:
                conn, addr = sock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set() or exc.errno in (errno.EBADF, errno.EINVAL):
                    return  # the socket was closed: stopping
                # Out of descriptors (EMFILE, ENFILE), of memory, or a connection reset before it was
                # taken: the connection waits in the backlog; one line a minute, and accept again.
                accept_errors.note(f"{exc.strerror or exc} (errno {exc.errno})")
                self._stop.wait(0.05)
                continue
            with self._counter_lock:
                refused = self._connections >= MAX_CONNECTIONS
                if refused:
                    self.dropped += 1
                    self._received.frames += 1
                else:
                    self._connections += 1
            if refused:  # a flood of connections must not exhaust threads
                conn.close()
                continue
            threading.Thread(target=self._tcp_connection, args=(conn, addr[0]), daemon=True,
                             name=f"{self.name} {addr[0]}").start()

    def _tcp_connection(self, conn: socket.socket, peer: str) -> None:
        framer = TcpFramer()
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                frames, bad = framer.feed(data)
                with self._counter_lock:
                    self._received.bytes += len(data)
                    self._bad_frames += bad
                    self._received.frames += bad
                if frames:
                    self._enqueue(frames, peer, wait=True)
            if last := framer.close():
                self._enqueue(last, peer, wait=True)
        with self._counter_lock:
            self._connections -= 1
            self._bad_frames += framer.cut_short
            self._received.frames += framer.cut_short

    # --- storing ------------------------------------------------------------------------------

    def _write_loop(self, db: sqlite_utils.Database, processor: Processor) -> None:
        source = self.source
        key_base = f"al:{source['name']}:syslog"

        # The details a hit carries, one dict per peer and header host (only read): bounded, as the
        # hosts are what the senders write.
        extras: dict[tuple[str, str | None], dict[str, str]] = {}

        def extra_for(peer: str, host: str | None) -> dict[str, str]:
            extra = extras.get((peer, host))
            if extra is None:
                extra = {"peer": peer, **({"syslog_host": host} if host else {})}
                if len(extras) < 4096:
                    extras[(peer, host)] = extra
            return extra

        def feed(frames: list[bytes], peer: str) -> None:
            texts, heads = message_texts(frames)

            def details(i: int) -> tuple[dict[str, str], str | None]:
                header = header_of(heads[i])
                return extra_for(peer, header.hostname), header.timestamp

            processor.feed_messages(frames, texts, key_base, details)

        def replay(_db: sqlite_utils.Database, entry: dict[str, Any]) -> None:
            feed([base64.b64decode(entry["frame"])], entry["peer"])
            processor.flush()  # joins the replay's transaction: the events and the replayed id commit together

        finished = False
        try:
            while not finished:
                try:
                    item = self.queue.get(timeout=self.flush_interval)
                except queue.Empty:
                    item = ()  # type: ignore[assignment]  # falsy marker: "nothing yet", unlike None "stop"
                taken: list[tuple[list[bytes], str]] = []  # the reads fed into this batch
                fed = 0
                # Every item taken from the queue is fed before the batch is stored: a batch ends
                # between two items, never after one taken but not fed.
                while True:
                    if item is None:
                        finished = True
                        break
                    if item:
                        frames, peer = item
                        self._dequeued(sum(map(len, frames)))
                        feed(frames, peer)
                        taken.append(item)
                        fed += len(frames)
                    if fed >= self.batch_size:
                        break
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                with self._counter_lock:
                    lost = self.dropped + self._bad_frames
                    self.dropped = self._bad_frames = 0
                    received, self._received = self._received, ReceivedCounts()
                if lost:
                    processor.batch.lines += lost
                    processor.batch.malformed += lost
                    processor.batch.last_malformed = f"{lost} message(s) lost (queue full, kernel buffer "
                    processor.batch.last_malformed += "full, too many connections or bad TCP frame)"
                processor.batch.bytes_received += received.bytes
                processor.batch.lines_received += received.frames
                try:
                    processor.flush()
                except Exception as exc:
                    log.exception("%s: storing a batch failed", self.name)
                    processor.discard()
                    with self._counter_lock:  # received is still true: counted with the next batch
                        self._received.bytes += received.bytes
                        self._received.frames += received.frames
                        self.dropped += lost
                    if registry_refused(exc):
                        self._journal([(frame, peer) for frames, peer in taken for frame in frames], exc)
                    with contextlib.suppress(Exception):
                        record_error(db, source["name"], f"{type(exc).__name__}: {exc}")
                self._catch_up(db, replay)
        finally:
            db.close()
            if self.journal is not None:
                self.journal.close()

    # --- the journal ----------------------------------------------------------------------------

    def _journal(self, frames: list[tuple[bytes, str]], reason: BaseException) -> None:
        """Messages the registry refused wait beside it, to be stored when it takes writes again."""
        if not frames:
            return
        entries = [{"id": secrets.token_hex(10), "frame": base64.b64encode(frame).decode("ascii"), "peer": peer}
                   for frame, peer in frames]
        try:
            if self.journal is None:
                raise JournalError("no journal")
            self.journal.append(entries)
        except JournalError as exc:
            self.degradation.note(reason, lost=len(frames))
            log.critical("%s: %d syslog message(s) LOST: the registry refused them (%s) and the journal "
                         "could not keep them (%s)", self.name, len(frames), reason, exc)
            return
        self.degradation.note(reason, journalled=len(frames))

    def problem(self) -> str | None:
        """For readiness: set while messages are being lost (neither registry nor journal took them)."""
        state = self.degradation
        if not state.lost:
            return None
        return f"{state.lost} syslog message(s) lost since {state.since}: registry and journal refuse writes"

    def _catch_up(self, db: sqlite_utils.Database, replay: Any) -> None:
        pending = self.journal is not None and self.journal.has_entries()
        if not pending and not self.degradation.any:
            return
        try:
            if self.journal is not None and pending:
                self.journal.replay(db, replay, before_commit=lambda d, n, held: record_degradation(
                    d, self.name, self.degradation, n, held))
            else:
                with write_transaction(db):
                    record_degradation(db, self.name, self.degradation, 0)
        except Exception as exc:
            if not registry_refused(exc):
                log.exception("%s: replaying the journal failed", self.name)
            return
        self.degradation = Degradation()


def _service(db_path: Path, source: dict[str, Any], _scheduler: Any, _poll_interval: float) -> SyslogService:
    return SyslogService(db_path, source)


ENDPOINT = EndpointKind(name="syslog", usage="syslog://HOST:PORT", claims=claims, check_url=check_url,
                        check_request=check_live_request, check_conflict=check_conflict, service=_service)
