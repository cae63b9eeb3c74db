"""The local journal: where a watcher puts a sighting it acknowledged but the registry refused.

A listener answers its peer (HTTP 200, DNS answer, SMTP 250, webhook 200) only once the sighting is
durable. Normally that is the registry commit; when the registry refuses the write (locked past the
wait, disk full, read-only), the sighting goes here instead, and is replayed into the registry when it
accepts writes again.

The file sits beside the registry (``<registry>.journal-<name>``), mode 0600 (it names canaries),
one JSON object per line, each line fsync'd before the peer is answered. Its space is reserved when it
is opened (``posix_fallocate`` of ``max_bytes``), so a full disk that stops the registry does not stop
the journal: the end of the entries is the first NUL byte. A torn last line (a crash mid-write, never
acknowledged) is ignored.

Replay is exactly once: each entry's id is written to ``journal_replayed`` in the same transaction as
what the entry stores, so a crash between that commit and the clearing of the file replays nothing
twice. Appends and replays of one file are serialised across threads and processes (``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.files import open_private
from canary.store.events import record_event, utcnow
from canary.store.tx import write_transaction

Entry = dict[str, Any]
log = logging.getLogger("canary.journal")
_CHUNK = 1 << 20


class JournalError(Exception):
    """The journal could not take an entry (full, unwritable): the sighting is lost."""


def _days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def registry_refused(exc: BaseException) -> bool:
    """The registry could not take the write (locked, full, read-only, I/O): worth journalling."""
    return isinstance(exc, sqlite3.OperationalError)


def journal_settings(db: sqlite_utils.Database) -> tuple[int, int]:
    """``journal.max_bytes`` and ``journal.wait_ms``, checked (an operator error is one line)."""
    from canary.settings import get_int

    max_bytes, wait_ms = get_int(db, "journal.max_bytes"), get_int(db, "journal.wait_ms")
    if max_bytes < 0 or wait_ms < 0:
        raise CanaryError(f"journal.max_bytes ({max_bytes}) and journal.wait_ms ({wait_ms}) must not be negative")
    return max_bytes, wait_ms


def journal_path(db_path: str | os.PathLike[str], name: str) -> Path:
    return Path(f"{os.fspath(db_path)}.journal-{name}")


class Journal:
    """An append-only, bounded, fsync'd file of JSON entries with a unique ``id`` each."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 16 << 20):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd = open_private(self.path)
        with contextlib.suppress(PermissionError):
            os.chmod(self.path, 0o600)
        self.reserved = self._reserve()
        self._end: int | None = None  # offset past the last entry, as last seen under the lock

    def _reserve(self) -> bool:
        """Reserve the whole bound now, while there is room; False if the filesystem refused."""
        try:
            if os.fstat(self._fd).st_size < self.max_bytes:
                os.posix_fallocate(self._fd, 0, self.max_bytes)
            return True
        except OSError:
            return False

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    # --- reading -------------------------------------------------------------------------------

    def _scan(self) -> tuple[list[Entry], int]:
        """The complete entries and the offset just past the last one."""
        data = bytearray()
        offset = 0
        while True:
            chunk = os.pread(self._fd, _CHUNK, offset)
            if not chunk:
                break
            nul = chunk.find(b"\0")
            if nul >= 0:
                data += chunk[:nul]
                break
            data += chunk
            offset += len(chunk)
        entries: list[Entry] = []
        end = 0
        for line in bytes(data).split(b"\n")[:-1]:  # the part after the last newline is torn
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a damaged line: nothing after it was acknowledged through it
            if not isinstance(entry, dict) or "id" not in entry:
                break
            entries.append(entry)
            end += len(line) + 1
        return entries, end

    def _end_offset(self) -> int:
        """Where the next entry goes; rescans when another process changed the file since we looked."""
        end = self._end
        if end is not None:
            before = os.pread(self._fd, 1, end - 1) if end else b"\n"
            at = os.pread(self._fd, 1, end)
            if before == b"\n" and at in (b"", b"\0"):
                return end
        self._end = self._scan()[1]
        return self._end

    def entries(self) -> list[Entry]:
        with self._locked():
            return self._scan()[0]

    def has_entries(self) -> bool:
        """Cheap check (one byte): is anything waiting to be replayed?"""
        with self._lock:
            return os.pread(self._fd, 1, 0) not in (b"", b"\0")

    # --- writing -------------------------------------------------------------------------------

    def append(self, entries: list[Entry]) -> None:
        """Write ``entries`` and fsync; raise JournalError when they cannot all be kept."""
        if not entries:
            return
        blob = b"".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                        for e in entries)
        with self._locked():
            end = self._end_offset()
            if end + len(blob) > self.max_bytes:
                raise JournalError(f"journal {self.path} is full ({self.max_bytes} bytes)")
            try:
                written = os.pwrite(self._fd, blob, end)
                if written != len(blob):
                    raise OSError(f"short write ({written} of {len(blob)} bytes)")
                os.fsync(self._fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # a partial line must not be read back as an entry
                    os.pwrite(self._fd, b"\0" * len(blob), end)
                raise JournalError(f"journal {self.path} cannot be written: {exc}") from exc
            self._end = end + len(blob)

    def replay(self, db: sqlite_utils.Database, apply: Callable[[sqlite_utils.Database, Entry], Any],
               *, before_commit: Callable[[sqlite_utils.Database, int, int], None] | None = None,
               batch: int = 500) -> int:
        """Store every entry through ``apply``, ``batch`` per registry transaction, then empty the file.

        Returns how many entries were applied (those already replayed are skipped). ``before_commit``
        runs in the last transaction with that count and the number of entries the file held (those
        stored by a replay cut short by a crash included: what was really journalled). Raises
        whatever the registry raises; the file is then left as it was, and what was already committed
        is skipped next time.
        """
        with self._locked():
            entries, end = self._scan()
            if not entries:
                return 0
            applied = 0
            for start in range(0, len(entries), batch):
                with write_transaction(db):
                    for entry in entries[start:start + batch]:
                        done = db.execute("INSERT INTO journal_replayed (id, replayed_at) VALUES (?, ?) "
                                          "ON CONFLICT DO NOTHING", [str(entry["id"]), utcnow()])
                        if done.rowcount == 0:
                            continue
                        try:
                            with db.atomic():  # a savepoint: an entry that cannot be stored takes nothing with it
                                apply(db, entry)
                        except Exception as exc:
                            if registry_refused(exc):
                                raise
                            # Never stored however often it is replayed (e.g. its canary was deleted since):
                            # said once with the entry, instead of blocking every entry behind it.
                            log.error("journal %s: entry cannot be stored (%s: %s), dropped: %s", self.path,
                                      type(exc).__name__, exc, json.dumps(entry, ensure_ascii=False)[:2000])
                            continue
                        applied += 1
                    if start + batch >= len(entries):
                        # Ids only matter until their file is cleared (just below); a month is ample.
                        db.execute("DELETE FROM journal_replayed WHERE replayed_at < ?", [_days_ago(30)])
                        if before_commit is not None:
                            before_commit(db, applied, len(entries))
            self._clear(end)
            return applied

    def _clear(self, end: int) -> None:
        offset = 0
        while offset < end:
            size = min(_CHUNK, end - offset)
            os.pwrite(self._fd, b"\0" * size, offset)
            offset += size
        os.fsync(self._fd)
        self._end = 0


@dataclass
class Degradation:
    """What a watcher had to journal or lose since the registry last accepted its writes."""

    journalled: int = 0
    lost: int = 0
    since: str | None = None
    reason: str = ""

    def note(self, reason: BaseException, *, journalled: int = 0, lost: int = 0) -> None:
        self.since = self.since or utcnow()
        self.reason = f"{type(reason).__name__}: {reason}"[:300]
        self.journalled += journalled
        self.lost += lost

    @property
    def any(self) -> bool:
        return bool(self.journalled or self.lost)


def record_degradation(db: sqlite_utils.Database, watcher: str, state: Degradation, replayed: int,
                       in_journal: int = 0) -> None:
    """The ``watch-degraded`` event (channel ``watch``): the alerting domain pages on-call with it.

    Written in the replay's transaction, once the registry takes writes again: a watcher that could
    not store is itself an incident, even when nothing was lost. ``in_journal`` is what the journal
    file held: after a crash in the middle of a replay, part of it was stored before this run, and
    this run's own counters (``state``) know nothing of what an earlier run journalled.
    """
    if not state.any and not replayed and not in_journal:
        return
    journalled = max(state.journalled, replayed, in_journal)
    details = {"group": f"watch-degraded:{watcher}", "watcher": watcher,
               "journalled": journalled, "replayed": replayed, "lost": state.lost,
               "stored_before_a_restart": max(0, in_journal - replayed),
               "since": state.since, "until": utcnow(),
               "reason": state.reason or "registry refused writes (journal left by an earlier run)"}
    # The counts go into the source too: it is what the alert's text shows on-call.
    record_event(db, channel="watch", source=f"{watcher}: {journalled} journalled, {state.lost} lost",
                 severity="high", action="watch-degraded", details=details)
