"""Following a log file: survives rotation (rename + new file) and truncation, resumes at its offset.

The reading position (inode and byte offset after the last complete line) is stored in the same
transaction as the events of the lines before it. A line is only read once it ends with a newline,
except the tail of a file that was rotated away (it will never be completed).

A file renamed away (logrotate ``create``) may still be written by a process that has not reopened
the path yet: it is followed until no other process holds it open (seen in ``/proc/*/fd``), or for
``accesslog.rotation_grace`` seconds, and only then finished and left for the new file.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import sqlite_utils

from canary.errors import CanaryError
from canary.settings import get_float
from canary.store import open_db
from canary.watch.accesslog.endpoint_kind import EndpointKind, check_live_request, no_conflict
from canary.watch.accesslog.engine import Processor
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.state import clear_error, get_position, record_error, save_position, source_exists

log = logging.getLogger("canary.accesslog")

CHUNK_SIZE = 4 << 20  # bytes per transaction at most; a longer line is cut and counted
# Canary reads per transaction at most: a bulk export's first reads are stored (and paged) at once.
HITS_PER_TRANSACTION = 500
HEAD_BYTES = 256  # the first bytes of the file, kept to recognise its rotated copy and a truncation
HOLDERS_EVERY = 1.0  # seconds between two looks for the writers of a renamed file
_COMPRESSED = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".z", ".Z", ".zip"}


def claims(url: str) -> bool:
    return urlsplit(url).scheme == "file"


def parse_url(url: str) -> Path:
    """file:///absolute/path (or file://localhost/...)."""
    parts = urlsplit(url.strip())
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise CanaryError(f"invalid --from {url!r}: expected file:///absolute/path")
    return Path(parts.path)


def check_url(url: str) -> None:
    parse_url(url)


class FileFollower:
    """One poll at a time (``poll``); the service calls it in a loop, tests call it directly."""

    def __init__(self, db: sqlite_utils.Database, source: dict[str, Any], *, chunk_size: int = CHUNK_SIZE) -> None:
        self.db = db
        self.name = source["name"]
        self.path: Path = parse_url(source["url"])
        self.chunk_size = chunk_size
        self.processor = Processor(db, source["system"], build_parser(source["format"], source.get("pattern"),
                                                                      source.get("fields")),
                                   source_name=self.name)
        self.handle: IO[bytes] | None = None
        self.inode = 0
        self.device = 0
        self.offset = 0
        self.head = b""  # the file's first bytes as read (HEAD_BYTES at most)
        self._missing_noted = False
        self.grace = get_float(db, "accesslog.rotation_grace")
        self.renamed_since: float | None = None  # the open file was renamed away; still followed
        self._notice: str | None = None
        self._holders_checked = float("-inf")

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.renamed_since = None
        self._holders_checked = float("-inf")

    def _renamed_file_done(self) -> bool:
        """True once no other process holds the renamed file open, or the grace is over (then said in
        ``last_error``: what its writer adds later is not read)."""
        assert self.renamed_since is not None
        now = time.monotonic()
        if now - self._holders_checked < HOLDERS_EVERY and now - self.renamed_since < self.grace:
            return False  # looking through /proc costs a few ms: once a second is enough
        self._holders_checked = now
        holders = other_holders(self.device, self.inode)
        if holders == 0:
            return True
        if now - self.renamed_since < self.grace:
            return False
        held = "still open by its writer" if holders else "maybe still open (other processes not visible)"
        where = _path_of(self.handle) or f"inode {self.inode}"
        log.warning("%s: %s renamed away and %s after %.0f s; moving to the new file", self.name, where, held,
                    self.grace)
        self._notice = (f"{where} (renamed from {self.path}) {held} after the {self.grace:g} s grace "
                        f"(accesslog.rotation_grace): lines written to it from now on are not read; the writer "
                        f"should reopen the path after a rotation")
        return True

    def poll(self) -> int:
        """Read every complete new line; handle rotation and truncation. Returns lines read."""
        if self.handle is None and not self._open():
            return 0
        assert self.handle is not None
        count = 0
        if self._truncated(self.handle):
            count += self._after_truncation()
        count += self._drain(self.handle, self.inode, final=False)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or (st.st_ino, st.st_dev) != (self.inode, self.device):
            # Rotated: its writer may still write to it until it reopens the path; once it has let go
            # (or the grace is over), the old file's last line, never to be ended, is read too.
            if self.renamed_since is None:
                self.renamed_since = time.monotonic()
            if not self._renamed_file_done():
                return count
            count += self._drain(self.handle, self.inode, final=True)
            self.close()
            if st is not None and self._open(old_file_done=True):
                count += self._drain(self.handle, self.inode, final=False)
            if self._notice:  # after the new file's opening, which clears the previous error
                record_error(self.db, self.name, self._notice)
                self._notice = None
        elif self._truncated(self.handle):
            count += self._after_truncation()
            count += self._drain(self.handle, self.inode, final=False)
        return count

    def _after_truncation(self) -> int:
        """Truncated in place (copytruncate): finish the rotated copy, then start again from the top.

        logrotate copies the file and then truncates it; what was written after our last read is in
        the copy. Without a copy to read, those lines may be lost, and ``logs list`` says so.
        """
        count = 0
        copy = self._rotated_copy()
        if copy is not None:
            log.info("%s: %s truncated; reading the rest of its copy %s", self.name, self.path, copy)
            with open(copy, "rb") as old:
                count = self._drain(old, self.inode, final=True)
        else:
            log.warning("%s: %s truncated and no rotated copy found beside it", self.name, self.path)
            record_error(self.db, self.name,
                         f"{self.path} was truncated (copytruncate?) and no rotated copy matching what was read "
                         f"was found beside it: lines written after byte {self.offset} may have been lost")
        self.offset = 0
        self.head = b""
        self._save(self.db)
        return count

    def _rotated_copy(self) -> Path | None:
        """The copy logrotate made (``PATH.1``, ``PATH-20261204``...): it starts with the bytes we read
        and holds at least as many; the most recently modified such file, if any."""
        found: list[tuple[float, Path]] = []
        for candidate in self.path.parent.glob(self.path.name + "[.-]*"):
            if candidate.suffix in _COMPRESSED:
                continue
            try:
                st = candidate.stat()
                if not candidate.is_file() or st.st_size < self.offset:
                    continue
                with open(candidate, "rb") as handle:
                    if handle.read(len(self.head)) != self.head:
                        continue
            except OSError:
                continue
            found.append((st.st_mtime, candidate))
        return max(found)[1] if found else None

    def _truncated(self, handle: IO[bytes]) -> bool:
        """Shorter than where we were, or no longer starting with the bytes we read there (a file
        truncated and already written past our offset again)."""
        if os.fstat(handle.fileno()).st_size < self.offset:
            return True
        if not self.head:
            return False
        handle.seek(0)
        return handle.read(len(self.head)) != self.head

    # --- internals -----------------------------------------------------------------------------

    def _open(self, *, old_file_done: bool = False) -> bool:
        position = get_position(self.db, self.name)
        if (not old_file_done and position and position["inode"]
                and (old := self._rotated_while_stopped(position)) is not None):
            try:
                st = os.stat(self.path)
            except OSError:
                st = None
            if st is None or (st.st_ino, st.st_dev) != (position["inode"], position["device"]):
                # Rotated while we were stopped: follow the old file first, as if it had just been
                # renamed (its writer may still be writing to it), then the new one.
                log.info("%s: reading the end of rotated %s", self.name, old)
                handle = open(old, "rb", buffering=0)  # noqa: SIM115 - kept open across polls, closed in close()
                self.handle, self.inode, self.device = handle, position["inode"], position["device"]
                self.offset = position["offset"]
                self.head = handle.read(min(self.offset, HEAD_BYTES))
                self.renamed_since = time.monotonic()
                return True
        try:
            # Unbuffered: a buffered reader answers a seek back into its buffer with bytes the file no
            # longer holds (after a truncation), instead of reading the file again.
            handle = open(self.path, "rb", buffering=0)  # noqa: SIM115 - kept open across polls, closed in close()
        except OSError as exc:  # missing or unreadable: say so once, keep looking
            if not self._missing_noted:
                reason = "not found" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc.strerror})"
                record_error(self.db, self.name, f"file {self.path} {reason} (waiting for it)")
                self._missing_noted = True
            return False
        st = os.fstat(handle.fileno())
        offset = 0
        if position and position["inode"] == st.st_ino and position["device"] == st.st_dev:
            offset = position["offset"] if position["offset"] <= st.st_size else 0
        elif position and position["inode"] and not old_file_done:
            log.warning("%s: rotated file (inode %s) gone; lines after offset %s of it cannot be read",
                        self.name, position["inode"], position["offset"])
        self.handle, self.inode, self.device, self.offset = handle, st.st_ino, st.st_dev, offset
        self.head = handle.read(min(offset, HEAD_BYTES))  # already read, in an earlier run
        self._missing_noted = False
        clear_error(self.db, self.name)
        self._save(self.db)
        return True

    def _rotated_while_stopped(self, position: dict[str, Any]) -> Path | None:
        """We were stopped while the file rotated: the old file, if it is still there."""
        for candidate in sorted(self.path.parent.glob(self.path.name + "*")):
            try:
                st = candidate.stat()
            except OSError:
                continue
            if (st.st_ino, st.st_dev) == (position["inode"], position["device"]) and candidate.is_file():
                return candidate
        return None

    def _drain(self, handle: IO[bytes], inode: int, *, final: bool) -> int:
        count = 0
        key_base = f"al:{self.name}:{inode}"
        while True:
            handle.seek(self.offset)
            data = handle.read(self.chunk_size)
            if not data:
                return count
            cut = data.rfind(b"\n")
            if cut >= 0:
                lines, end = data[:cut].split(b"\n"), self.offset + cut + 1
            elif final or len(data) >= self.chunk_size:
                lines, end = [data], self.offset + len(data)  # an unfinished or oversized line
            else:
                return count  # wait for the writer to end the line
            try:
                fed = self.processor.feed_lines(lines, self.offset, key_base, extra={"file": str(self.path)},
                                                hit_budget=HITS_PER_TRANSACTION)
                if fed < end:  # many canary reads in this chunk: store those first, read on from there
                    lines_fed = data[:fed - self.offset].count(b"\n")
                    end = fed
                else:
                    lines_fed = len(lines)
                self.processor.batch.bytes_received += end - self.offset
                self.processor.batch.lines_received += lines_fed
                self.processor.flush(position=functools.partial(self._save, offset=end))
            except BaseException:
                self.processor.discard()
                raise
            if self.offset < HEAD_BYTES and handle is self.handle:
                handle.seek(0)
                self.head = handle.read(min(end, HEAD_BYTES))
            self.offset = end
            count += lines_fed

    def _save(self, db: sqlite_utils.Database, offset: int | None = None) -> None:
        save_position(db, self.name, path=str(self.path), inode=self.inode, device=self.device,
                      offset=self.offset if offset is None else offset)


def other_holders(device: int, inode: int) -> int | None:
    """How many other processes hold the file open (0: none), from ``/proc/*/fd``; None when some
    processes cannot be looked at (another user's, without privileges) and none of the visible ones
    holds it, so the caller waits for its grace instead of guessing."""
    me = str(os.getpid())
    hidden = False
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit() and entry != me]
    except OSError:
        return None
    holders = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except PermissionError:
            hidden = True
            continue
        except OSError:
            continue  # the process ended meanwhile
        for fd in fds:
            try:
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if st.st_ino == inode and st.st_dev == device:
                holders += 1
                break
    if holders:
        return holders
    return None if hidden else 0


def _path_of(handle: IO[bytes] | None) -> str | None:
    """Where an open file is now (after a rename), as the kernel knows it."""
    if handle is None:
        return None
    try:
        return os.readlink(f"/proc/self/fd/{handle.fileno()}")
    except OSError:
        return None


class FileTailService:
    """``canary serve`` service: a thread polling one file source."""

    def __init__(self, db_path: Path, source: dict[str, Any], poll_interval: float = 0.2) -> None:
        self.name = f"access-log file {source['name']}"
        self.db_path = db_path
        self.source = source
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    def start(self) -> None:
        # Built here so a bad configuration fails the start (and is reported), not a thread.
        db = open_db(self.db_path)
        try:
            follower = FileFollower(db, self.source)
        except BaseException:
            db.close()
            raise
        self._thread = threading.Thread(target=self._run, args=(db, follower), name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, db: sqlite_utils.Database, follower: FileFollower) -> None:
        try:
            while not self._stop.is_set():
                try:
                    follower.poll()
                except Exception as exc:  # keep watching: the next poll retries from the stored offset
                    if not source_exists(db, self.source["name"]):
                        log.info("%s: source removed, stopping", self.name)
                        return
                    log.exception("%s: poll failed", self.name)
                    try:
                        record_error(db, self.source["name"], f"{type(exc).__name__}: {exc}")
                    except Exception:
                        log.exception("%s: cannot record the error", self.name)
                self.ready.set()
                self._stop.wait(self.poll_interval)
        finally:
            follower.close()
            db.close()


def _service(db_path: Path, source: dict[str, Any], _scheduler: Any, poll_interval: float) -> FileTailService:
    return FileTailService(db_path, source, poll_interval=poll_interval)


ENDPOINT = EndpointKind(name="file", usage="file:///path", claims=claims, check_url=check_url,
                        check_request=check_live_request, check_conflict=no_conflict, service=_service)
