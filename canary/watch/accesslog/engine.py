"""From lines to events: parse, match by dictionary lookup, then store a batch in one transaction.

The hot path (``feed_lines``) does no I/O and no per-line query: ids are looked up in the in-memory
CanaryIndex and only lines touching a canary are kept. ``flush`` stores their events, the source's
counters and the caller's reading position in ONE transaction, so a crash either keeps all of a
batch or none of it, and a restart resumes exactly after the last stored line.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_int, get_list, get_str
from canary.store.events import record_event, utcnow
from canary.store.tx import write_transaction
from canary.watch.accesslog.allow import RuleCache
from canary.watch.accesslog.burst import BurstWindows
from canary.watch.accesslog.index import CanaryIndex
from canary.watch.accesslog.model import AccessEntry, Malformed
from canary.watch.accesslog.parsers import Parser
from canary.watch.accesslog.timeparse import parse_duration, parse_log_time, zone

log = logging.getLogger("canary.accesslog")

CHANNEL = "access-log"
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Policy:
    """What turns a canary read into an exfiltration, read once from the settings."""

    burst_canaries: int
    burst_window: timedelta
    export_words: frozenset[str]
    local_zone: tzinfo

    @classmethod
    def from_settings(cls, db: sqlite_utils.Database) -> Policy:
        return cls(
            burst_canaries=max(1, get_int(db, "accesslog.burst_canaries")),
            burst_window=parse_duration(get_str(db, "accesslog.burst_window"), "accesslog.burst_window"),
            export_words=frozenset(w.lower() for w in get_list(db, "accesslog.export_actions")),
            local_zone=zone(get_str(db, "accesslog.timezone")),
        )

    def is_export(self, action: str | None) -> bool:
        if not action:
            return False
        return not self.export_words.isdisjoint(_WORDS.findall(action.lower()))


@dataclass(slots=True)
class Hit:
    entry: AccessEntry
    canary_id: str
    how: str
    key_base: str
    ref_name: str
    ref_value: Any
    raw: bytes
    extra: dict[str, Any] | None
    fallback_time: str | None
    fallback_stamp: str | None = None  # a header time as written, read only for a hit (it is costly)


@dataclass
class BatchResult:
    lines: int = 0
    malformed: int = 0
    matched: int = 0
    events: int = 0
    critical: int = 0
    last_malformed: str | None = None
    bytes_received: int = 0  # what reached the reader (network or file), against lines parsed
    lines_received: int = 0

    def add(self, other: BatchResult) -> None:
        self.lines += other.lines
        self.malformed += other.malformed
        self.matched += other.matched
        self.events += other.events
        self.critical += other.critical
        self.bytes_received += other.bytes_received
        self.lines_received += other.lines_received
        self.last_malformed = other.last_malformed or self.last_malformed

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "malformed": self.malformed, "matched": self.matched,
                "events": self.events, "critical": self.critical}


@dataclass
class Processor:
    """One trail of one system. ``source_name`` None means a replay (counters not kept on a source)."""

    db: sqlite_utils.Database
    system: str
    parser: Parser
    source_name: str | None = None
    label: str = ""
    policy: Policy | None = None
    index: CanaryIndex = field(init=False)
    pending: list[Hit] = field(default_factory=list)
    batch: BatchResult = field(default_factory=BatchResult)
    windows: BurstWindows | None = field(default=None, init=False)  # burst counts, kept across batches

    def __post_init__(self) -> None:
        self.index = CanaryIndex(self.db, self.system)
        self.policy = self.policy or Policy.from_settings(self.db)
        self.label = self.label or self.source_name or self.system

    # --- hot path ------------------------------------------------------------------------------

    def feed_lines(self, lines: list[bytes], first: int, key_base: str, *, ref_name: str = "offset",
                   extra: dict[str, Any] | None = None, hit_budget: int | None = None) -> int:
        """Parse byte lines (without newline). ``first`` is the byte offset (ref_name "offset") or
        line number ("line_no") of the first one; returns the position after the last one read. With
        ``hit_budget``, stops after the line that brings the pending hits to it (the caller stores them
        and goes on from the returned position: a bulk export pages before the whole chunk is stored)."""
        self.index.refresh(self.db)
        parse = self.parser
        lookup = self.index.lookup
        batch = self.batch
        by_offset = ref_name == "offset"
        position = first
        for raw in lines:
            ref = position
            position += len(raw) + 1 if by_offset else 1
            if not raw or raw.isspace():
                continue
            batch.lines += 1
            try:
                entry = parse(raw.decode("utf-8", "replace").rstrip("\r"))
            except Malformed as exc:
                batch.malformed += 1
                batch.last_malformed = f"{ref_name} {ref}: {exc}"
                continue
            except Exception as exc:  # a parser surprise is one bad line, never a dead watcher
                batch.malformed += 1
                batch.last_malformed = f"{ref_name} {ref}: unreadable ({type(exc).__name__})"
                continue
            if entry is None:
                continue
            for patient in entry.patients:
                if lookup(patient) is not None:
                    self._collect(entry, raw, key_base, ref_name, ref, extra, None)
                    if hit_budget is not None and len(self.pending) >= hit_budget:
                        return position
                    break
        return position

    def feed_messages(self, raws: list[bytes], texts: list[str], key_base: str,
                      details: Callable[[int], tuple[dict[str, Any] | None, str | None]]) -> None:
        """Messages without a file position (syslog), ``texts[i]`` the access text of ``raws[i]``; a hit
        is deduplicated by the hash of its raw bytes. ``details(i)`` gives, for a hit only, its extra
        details and a header time as written (read in the local zone if the text has none).

        One call per read, not per message: the names used per message are bound once, and the index
        is checked for changes once (a burst brings 100,000 messages a second)."""
        parse = self.parser
        lookup = self.index.lookup
        batch = self.batch
        misses = 0
        for i, text in enumerate(texts):
            if not text or text.isspace():
                continue
            try:
                entry = parse(text)
            except Exception as exc:  # Malformed, or a parser surprise: one bad message, never fatal
                batch.lines += 1
                batch.malformed += 1
                reason = exc if isinstance(exc, Malformed) else f"unreadable ({type(exc).__name__})"
                batch.last_malformed = f"message: {reason}"
                continue
            if entry is not None:
                for patient in entry.patients:
                    if lookup(patient) is not None:
                        break
                else:
                    entry = None
            if entry is None:
                misses += 1  # the common case: no canary named, nothing to hash or date
                continue
            extra, stamp = details(i)
            digest = hashlib.sha256(raws[i]).hexdigest()[:20]
            self.feed_entry(entry, raws[i], key_base, "sha", digest, extra=extra, fallback_stamp=stamp)
        batch.lines += misses
        self.index.refresh(self.db)

    def feed_entry(self, entry: AccessEntry | None, raw: bytes, key_base: str, ref_name: str, ref_value: Any, *,
                   extra: dict[str, Any] | None = None, fallback_time: str | None = None,
                   fallback_stamp: str | None = None) -> None:
        """One already parsed access (FHIR resource, syslog message)."""
        self.batch.lines += 1
        if entry is None:
            return
        self.index.refresh(self.db)
        self._collect(entry, raw, key_base, ref_name, ref_value, extra, fallback_time, fallback_stamp)

    def _collect(self, entry: AccessEntry, raw: bytes, key_base: str, ref_name: str, ref_value: Any,
                 extra: dict[str, Any] | None, fallback_time: str | None,
                 fallback_stamp: str | None = None) -> None:
        """Queue one hit per distinct canary the entry names (an IPP and a NIR of one canary: one event)."""
        canaries: set[str] = set()
        for patient in entry.patients:
            found = self.index.lookup(patient)
            if found is not None and found[0] not in canaries:
                canaries.add(found[0])
                self.pending.append(Hit(entry, found[0], found[1], key_base, ref_name, ref_value, raw, extra,
                                        fallback_time, fallback_stamp))
        if canaries:
            self.batch.matched += 1

    # --- storing -------------------------------------------------------------------------------

    def flush(self, position: Callable[[sqlite_utils.Database], None] | None = None) -> BatchResult:
        """Store pending events, counters and the position together; return what this batch did."""
        db = self.db
        batch, pending = self.batch, self.pending
        if not pending and position is None and not batch.lines and not batch.bytes_received:
            return BatchResult()
        try:
            return self._store(db, batch, pending, position)
        except BaseException:
            self.windows = None  # it counted reads that were not committed
            raise

    def _store(self, db: sqlite_utils.Database, batch: BatchResult, pending: list[Hit],
               position: Callable[[sqlite_utils.Database], None] | None) -> BatchResult:
        with write_transaction(db):
            assert self.policy is not None
            # One query per account, not one per hit (bulk exports); what others stored is taken in first.
            if self.windows is None:
                self.windows = BurstWindows(db, CHANNEL, self.policy.burst_window)
            else:
                self.windows.catch_up()
            windows = self.windows
            rules = RuleCache(db, self.system)
            for hit in pending:
                try:
                    event_id, severity = self._record(db, hit, windows, rules)
                except CanaryError as exc:  # e.g. the canary was deleted since the index was loaded
                    log.warning("%s: event not stored: %s", self.label, exc)
                    continue
                if event_id is not None:
                    batch.events += 1
                    batch.critical += severity == "critical"
            if self.source_name is not None and (batch.lines or batch.bytes_received):
                db.execute(
                    """UPDATE accesslog_sources SET lines = lines + ?, malformed = malformed + ?,
                           matched = matched + ?, events = events + ?,
                           last_line_at = CASE WHEN ? THEN ? ELSE last_line_at END,
                           last_malformed = COALESCE(?, last_malformed),
                           bytes_received = bytes_received + ?, lines_received = lines_received + ?
                       WHERE name = ?""",
                    [batch.lines, batch.malformed, batch.matched, batch.events, batch.lines, utcnow(),
                     batch.last_malformed, batch.bytes_received, batch.lines_received, self.source_name],
                )
            if position is not None:
                position(db)
            windows.stored()
        self.batch, self.pending = BatchResult(), []
        return batch

    def discard(self) -> None:
        """Forget what was fed but not flushed (the caller will read those lines again)."""
        self.batch, self.pending = BatchResult(), []

    def _record(self, db: sqlite_utils.Database, hit: Hit, windows: BurstWindows,
                rules: RuleCache) -> tuple[int | None, str]:
        entry, policy = hit.entry, self.policy
        assert policy is not None
        when = parse_log_time(entry.time, policy.local_zone) or hit.fallback_time
        if when is None and hit.fallback_stamp is not None:
            when = parse_log_time(hit.fallback_stamp, policy.local_zone)
        details: dict[str, Any] = {}
        if when is None:
            when = utcnow()
            details["time_source"] = "received"
        account = entry.account.strip() if entry.account else None
        group = f"access:{self.system}:{account or '-'}"
        details.update({"group": group, hit.ref_name: hit.ref_value, "source_name": self.label,
                        "log_system": self.system, "id_kind": hit.how})
        if hit.extra:
            details.update(hit.extra)
        home = self.index.home.get(hit.canary_id)
        if home != self.system:
            # A canary planted elsewhere, read here: patient data moved between systems.
            details["cross_system"] = True
            details["canary_system"] = home
        rule = rules.matching(account, when)
        if rule is not None:
            severity = "info"
            details["allowed_by"] = {"rule": rule["id"], "owner": rule["owner"], "reason": rule["reason"],
                                     "expires_at": rule["expires_at"]}
        else:
            severity = "high"
            in_window = windows.canaries_in_window(group, account, when, hit.canary_id)
            export = policy.is_export(entry.action)
            if export or in_window >= policy.burst_canaries:
                severity = "critical"
                details["exfiltration"] = True
                details["exfiltration_reason"] = "bulk-export" if export else "burst"
                details["canaries_in_window"] = in_window
        digest = hashlib.sha256(hit.raw).hexdigest()[:16] if hit.ref_name != "sha" else hit.ref_value
        dedup_key = f"{hit.key_base}:{hit.ref_name}={hit.ref_value}:{digest}:{hit.canary_id}"
        event_id = record_event(
            db, channel=CHANNEL, canary_id=hit.canary_id, account=account, action=entry.action,
            source=entry.ip, time=when, severity=severity, details=details, dedup_key=dedup_key,
        )
        return event_id, severity
