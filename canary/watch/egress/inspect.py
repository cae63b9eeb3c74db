"""Matching one outgoing body (an upload, a response, a mail) against the canaries, under a deadline.

Both protocol services (ICAP, milter) hand a finished body here as one or more spooled files with
what they know of the sender and destination. The files are read by the sweep scanner, with the same
readers and limits as ``canary scan`` (gzip, zip, xlsx, 7z, csv, json, cp1252...). A match runs in a
small pool so that the service can answer its peer when the deadline passes: the traffic is then let
through, the timeout is counted, and the match goes on and still records what it finds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import python_multipart
from python_multipart.exceptions import FormParserError

from canary.settings import get_bool, get_float, get_int, get_str
from canary.store import open_db
from canary.store.events import record_event, utcnow
from canary.watch.egress.decoding import (
    DecodingError,
    content_codings,
    decode_content,
    decode_transfer,
    transfer_encoding,
)
from canary.watch.sweep.index import build_index
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.matcher import CONFIDENCE_RANK, Finding
from canary.watch.sweep.scanner import UnitScanner
from canary.watch.sweep.sources import Unit

log = logging.getLogger("canary.egress")

INDEX_REFRESH_SECONDS = 60.0  # a canary added while serving is matched within a minute
RATIO_FLOOR = 1024 * 1024  # a small body may decode to this much whatever its ratio (sweep.max_ratio above it)


@dataclass(frozen=True)
class EgressConfig:
    block: bool = False
    max_body_bytes: int = 64 * 1024**2
    deadline: float = 10.0
    io_timeout: float = 30.0
    mail_block_action: str = "reject"
    fail_closed: bool = True  # in block mode, a body the deadline cannot finish is refused

    @classmethod
    def from_db(cls, db: Any) -> EgressConfig:
        action = get_str(db, "egress.mail_block_action").strip().lower()
        if action not in ("reject", "quarantine"):
            from canary.errors import CanaryError

            raise CanaryError(f"setting egress.mail_block_action: {action!r} is neither 'reject' nor 'quarantine'")
        return cls(block=get_bool(db, "egress.block"),
                   max_body_bytes=get_int(db, "egress.max_body_bytes"),
                   deadline=get_float(db, "egress.deadline"),
                   io_timeout=get_float(db, "egress.io_timeout"),
                   mail_block_action=action,
                   fail_closed=get_bool(db, "egress.fail_closed"))

    @property
    def block_unfinished(self) -> bool:
        """A body whose match the deadline cut is refused (block mode, fail closed), not let through."""
        return self.block and self.fail_closed


@dataclass
class BodyFile:
    """One spooled piece of an outgoing body: ``name`` is what findings call it (a file name, a form field)."""

    name: str
    path: str
    content_type: str = ""
    content_encoding: str = ""  # HTTP Content-Encoding (gzip, deflate, br, zstd; a list when nested)


@dataclass
class Context:
    """Who sends what where: the parts of the event that do not depend on the findings."""

    channel: str  # egress-web | egress-mail
    source: str | None = None  # the client address
    account: str | None = None  # the authenticated user (proxy user, SASL login)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    findings: list[Finding]
    timed_out: bool = False
    group: str | None = None
    refused: bool = False  # blocked without a finding: the deadline cut the match (fail closed)

    @property
    def block(self) -> bool:
        """What the service answers in block mode: refuse (a canary, or an unfinished match failing closed)."""
        return bool(self.findings) and not self.timed_out or self.refused

    @property
    def systems(self) -> list[str]:
        return sorted({f.system for f in self.findings})


class _Answer:
    """Whether the peer was already answered when a late match finishes (it then says 'passed')."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered = False  # the peer got its answer without this match (deadline passed, or no wait)
        self.matched = False  # the match finished first: the peer's answer follows its findings
        self.refused = False  # the peer was refused at the deadline (fail closed): late events say blocked


class Inspector:
    """Shared by every connection of a service: the index, the scanner and a bounded pool of matches."""

    def __init__(self, db_path: Path, config: EgressConfig | None = None, limits: Limits | None = None,
                 workers: int = 2) -> None:
        self.db_path = Path(db_path)
        db = open_db(self.db_path)
        try:
            self.config = config or EgressConfig.from_db(db)
            self.limits = limits or Limits.from_settings(db)
        finally:
            db.close()
        self._lock = threading.Lock()
        self._scanner: UnitScanner | None = None
        self._loaded_at = 0.0
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="egress-match")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def scanner(self) -> UnitScanner:
        with self._lock:
            if self._scanner is None or time.monotonic() - self._loaded_at > INDEX_REFRESH_SECONDS:
                db = open_db(self.db_path)
                try:
                    self._scanner = UnitScanner(build_index(db), self.limits)
                finally:
                    db.close()
                self._loaded_at = time.monotonic()
            return self._scanner

    def inspect(self, files: list[BodyFile], context: Context, size: int, wait: bool = True) -> Verdict:
        """Match ``files`` and record the sightings; past the deadline, return an empty timed-out verdict.

        The files become the inspector's: they are deleted when the match ends (which may be after the
        deadline). With ``wait=False`` the match runs in the background (the peer already has its answer).
        """
        group = f"{context.channel}:{uuid.uuid4().hex}"
        answer = _Answer()
        if not wait:
            answer.answered = True
        try:
            future = self._pool.submit(self._match_and_record, files, context, group, answer)
        except RuntimeError:  # the service is stopping
            _unlink(files)
            return Verdict([], timed_out=True)
        if not wait:
            return Verdict([])
        try:
            findings = future.result(timeout=self.config.deadline)
        except FutureTimeout:
            # One decision under the lock: either the match finished first (its findings decide the
            # answer, and its events say so) or the peer is answered now and the events say "late".
            with answer.lock:
                in_time = answer.matched
                answer.answered = not in_time
            if in_time:
                findings = future.result()
                return Verdict(findings, group=group if findings else None)
            if self.config.block_unfinished:
                answer.refused = True
                self.count_passed(context.channel, "timeout_blocked", size)
                log.warning("%s: no answer from the match of %s bytes within %.1f s; refused (egress.fail_closed, %s)",
                            context.channel, size, self.config.deadline, _describe(context))
                return Verdict([], timed_out=True, group=group, refused=True)
            self.count_passed(context.channel, "timeout", size)
            log.warning("%s: no answer from the match of %s bytes within %.1f s; let through (%s)",
                        context.channel, size, self.config.deadline, _describe(context))
            return Verdict([], timed_out=True, group=group)
        return Verdict(findings, group=group if findings else None)

    def _match_and_record(self, files: list[BodyFile], context: Context, group: str, answer: _Answer) -> list[Finding]:
        try:
            return self._match(files, context, group, answer)
        except Exception:  # a body that breaks a reader is logged, the service goes on
            log.exception("%s: match failed (%s)", context.channel, _describe(context))
            return []
        finally:
            _unlink(files)

    def _match(self, files: list[BodyFile], context: Context, group: str, answer: _Answer) -> list[Finding]:
        scanner = self.scanner()
        best: dict[str, Finding] = {}
        skipped: list[dict[str, Any]] = []
        with _pieces(files, self.limits) as pieces:
            for piece in pieces:
                result = scanner.scan(Unit(name=piece.name, path=piece.path, size=os.path.getsize(piece.path)))
                skipped.extend(result.skipped)
                for finding in result.findings:
                    kept = best.get(finding.canary_id)
                    if kept is None or CONFIDENCE_RANK[finding.confidence] > CONFIDENCE_RANK[kept.confidence]:
                        best[finding.canary_id] = finding
        if skipped:
            log.info("%s: parts not read: %s", context.channel,
                     "; ".join(f"{s.get('file')}: {s.get('reason')}" for s in skipped[:5]))
        findings = sorted(best.values(), key=lambda f: (f.system, f.canary_id))
        if findings:
            with answer.lock:
                late = answer.answered
                answer.matched = not late
            self._record(findings, context, group, late, answer.refused)
        return findings

    def _record(self, findings: list[Finding], context: Context, group: str, late: bool, refused: bool = False) -> None:
        systems = sorted({f.system for f in findings})
        action = "blocked" if refused or (self.config.block and not late) else "passed"
        db = open_db(self.db_path)
        try:
            for finding in findings:
                details = dict(context.details)
                details.update({"group": group, "systems": systems, "canaries": len(findings), "file": finding.file,
                                "fields": finding.fields, "confidence": finding.confidence,
                                "evidence": finding.evidence, "late": late})
                record_event(db, channel=context.channel, canary_id=finding.canary_id, severity=finding.severity,
                             source=context.source, account=context.account, action=action, details=details,
                             dedup_key=f"{group}:{finding.canary_id}")
        finally:
            db.close()
        log.warning("%s: %d canar%s of %s leaving (%s), %s", context.channel, len(findings),
                    "y" if len(findings) == 1 else "ies", ", ".join(systems), _describe(context), action)

    def count_passed(self, channel: str, reason: str, size: int) -> None:
        """Count a body let through unmatched (over the limit, past the deadline, broken protocol)."""
        now = utcnow()
        try:
            db = open_db(self.db_path)
            try:
                with db.conn:
                    db.execute(
                        """INSERT INTO egress_passed (day, channel, reason, count, bytes, last_at)
                           VALUES (?, ?, ?, 1, ?, ?)
                           ON CONFLICT (day, channel, reason)
                           DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes,
                                         last_at = excluded.last_at""",
                        [now[:10], channel, reason, max(0, size), now])
            finally:
                db.close()
        except Exception:  # a busy registry never delays the proxy's answer
            log.exception("%s: could not count a body passed (%s)", channel, reason)


def _unlink(files: list[BodyFile]) -> None:
    for body in files:
        with contextlib.suppress(OSError):
            os.unlink(body.path)


def _describe(context: Context) -> str:
    parts = [f"client {context.source or '?'}"]
    if context.account:
        parts.append(f"user {context.account}")
    for key in ("destination", "sender"):
        if context.details.get(key):
            parts.append(f"{key} {context.details[key]}")
    return ", ".join(parts)


# --- splitting a body into what the scanner reads ------------------------------------------------------

@contextmanager
def _pieces(files: list[BodyFile], limits: Limits) -> Iterator[list[BodyFile]]:
    """What the receiver reads: content codings undone, form uploads split into their fields and files
    (each with its own transfer encoding undone), url-encoded forms decoded; base64, JSON escapes and other
    re-encodings inside are the sweep scanner's (regions.py).

    The pieces made here are deleted on exit; the caller's files are not.
    """
    made: list[str] = []
    pieces: list[BodyFile] = []
    try:
        for body in files:
            pieces.extend(_split(_content_decoded(body, made, limits), made))
        yield pieces
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _content_decoded(body: BodyFile, made: list[str], limits: Limits) -> BodyFile:
    """The body as the web server stores it: every Content-Encoding undone (nested ones in reverse order)."""
    codings = content_codings(body.content_encoding)
    if not codings:
        return body
    decoded = _new_spool(made)
    size = os.path.getsize(body.path)
    limit = min(limits.max_expanded_bytes, max(RATIO_FLOOR, limits.max_ratio * size))
    try:
        with open(body.path, "rb") as source, open(decoded, "wb") as out:
            if not decode_content(source, out, codings, limit):
                return body  # an unknown coding: read as sent (gzip and archives inside are still opened)
    except DecodingError as exc:
        log.info("body %s not decoded (%s); read as sent", body.name, exc)
        return body
    return BodyFile(body.name, decoded, body.content_type)


def _split(body: BodyFile, made: list[str]) -> list[BodyFile]:
    media, params = _media_type(body.content_type)
    if media == "multipart/form-data" and params.get("boundary"):
        try:
            return _form_parts(body, params["boundary"], made) or [body]
        except (FormParserError, ValueError) as exc:
            log.info("form upload %s not split (%s); read as one body", body.name, exc)
            return [body]
    if media == "application/x-www-form-urlencoded":
        decoded = _new_spool(made)
        with open(body.path, "rb") as raw, open(decoded, "wb") as out:
            # Field by field: a value is written decoded, one per line, as a CSV row would be.
            for line in raw.read().split(b"&"):
                name, _, value = line.partition(b"=")
                out.write(urllib.parse.unquote_to_bytes(value.replace(b"+", b" ")) + b"\n")
        return [body, BodyFile(f"{body.name} (form fields)", decoded)]
    return [body]


def _form_parts(body: BodyFile, boundary: str, made: list[str]) -> list[BodyFile]:
    """Each field and file of a multipart/form-data body, streamed into its own spool file."""
    parts: list[BodyFile] = []
    state: dict[str, Any] = {"out": None, "headers": {}, "header": b""}

    def on_part_begin() -> None:
        state["headers"] = {}
        path = _new_spool(made)
        state["out"] = open(path, "wb")  # noqa: SIM115 - closed in on_part_end
        state["path"] = path

    def on_part_data(data: bytes, start: int, end: int) -> None:
        state["out"].write(data[start:end])

    def on_part_end() -> None:
        out: BinaryIO = state["out"]
        out.close()
        encoding = transfer_encoding(state["headers"].get(b"content-transfer-encoding", b"").decode("latin-1"))
        if encoding in ("base64", "quoted-printable"):  # a part's own encoding, as the server's parser undoes it
            with open(state["path"], "rb") as raw:
                data = decode_transfer(raw.read(), encoding)
            if data is not None:
                with open(state["path"], "wb") as decoded:
                    decoded.write(data)
        disposition = state["headers"].get(b"content-disposition", b"").decode("latin-1")
        _, params = _media_type(disposition)
        name = params.get("filename") or params.get("name") or f"part {len(parts) + 1}"
        parts.append(BodyFile(f"{body.name}/{name}", state["path"],
                              state["headers"].get(b"content-type", b"").decode("latin-1")))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        key = state["header"].lower()
        state["headers"][key] = state["headers"].get(key, b"") + data[start:end]

    def on_header_end() -> None:
        state["header"] = b""

    parser = python_multipart.MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value, "on_header_end": on_header_end})
    try:
        with open(body.path, "rb") as handle:
            while block := handle.read(1024 * 1024):
                parser.write(block)
        parser.finalize()
    finally:
        if state["out"] is not None and not state["out"].closed:
            state["out"].close()
    return parts


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    """``text/csv; charset=utf-8`` -> ("text/csv", {"charset": "utf-8"}) (also reads Content-Disposition)."""
    head, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return head.strip().lower(), params


def _new_spool(made: list[str]) -> str:
    handle, path = tempfile.mkstemp(prefix="canary-egress-")
    os.close(handle)
    made.append(path)
    return path


