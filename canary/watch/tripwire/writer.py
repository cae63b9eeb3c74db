"""One writer thread per listener process: hits are batched into a single transaction.

SQLite takes one writer at a time; many request threads each committing on their own would queue on
the lock and fsync once each. Here request threads hand a job to the writer and wait for its Future,
which resolves only after the batch holding the job is durable: the peer gets its answer after the
hit is durable ("commit before response"), and a burst costs one commit per batch, not per hit.

Durable means committed to the registry or, when the registry refuses the write (locked for longer
than ``journal.wait_ms``, disk full, read-only), written to the local journal (canary.store.journal):
jobs that are sightings (they have ``journal_entry()``) go there and are replayed into the registry,
exactly once, as soon as it accepts writes again. A sighting that neither could keep is lost: that is
logged as CRITICAL, fails ``healthy``, and is counted in the ``watch-degraded`` event written once the
registry is back (the alerting domain turns it into an alert and delivers it).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar, runtime_checkable

import sqlite_utils

from canary.store import open_db
from canary.store.journal import Degradation, Entry, Journal, JournalError, record_degradation, registry_refused

log = logging.getLogger("canary.tripwire.writer")

T = TypeVar("T")
Job = Callable[[sqlite_utils.Database], Any]
Replay = Callable[[sqlite_utils.Database, Entry], Any]

_STOP = object()
_RETRY_SECONDS = 1.0  # while the registry refuses, go straight to the journal; try it again after this


class WriterStopped(RuntimeError):
    """A job was submitted to a writer that is not running."""


@runtime_checkable
class Durable(Protocol):
    """A job that can wait in the journal: ``journal_entry()`` is replayed through the writer's ``replay``."""

    def journal_entry(self) -> Entry: ...

    def __call__(self, db: sqlite_utils.Database) -> Any: ...


class EventWriter:
    """Runs ``job(db)`` callables in batches on one connection, one commit per batch."""

    def __init__(self, db_path: str | os.PathLike[str], *, max_batch: int = 500, name: str = "tripwire-writer",
                 journal: Journal | None = None, replay: Replay | None = None, wait_ms: int = 30000):
        self.db_path = db_path
        self.max_batch = max_batch
        self.name = name
        self.journal = journal
        self.replay = replay
        self.wait_ms = wait_ms
        self.degradation = Degradation()
        self.healthy = True  # False while a sighting could be kept neither in the registry nor the journal
        self._refused_until = 0.0
        self._last_refusal: BaseException = RuntimeError("the registry refused writes")
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise self._start_error

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    def problem(self) -> str | None:
        """For readiness: set while sightings are being lost (neither registry nor journal took them)."""
        if self.healthy:
            return None
        state = self.degradation
        return (f"{state.lost} sighting(s) lost since {state.since}: the registry and the journal both "
                f"refuse writes ({state.reason})")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Callable[[sqlite_utils.Database], T]) -> Future[T]:
        if not self.running:
            raise WriterStopped(f"{self.name} is not running")
        future: Future[T] = Future()
        self._queue.put((job, future))
        return future

    def run(self, job: Callable[[sqlite_utils.Database], T], timeout: float = 15.0) -> T:
        """Submit ``job`` and wait until it is durable; return its result (None when journalled)."""
        return self.submit(job).result(timeout)

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            db = open_db(self.db_path, migrate_schema=False)
            # Wait this long for a busy registry, then journal: the peer is waiting for its answer.
            db.execute(f"PRAGMA busy_timeout={int(self.wait_ms)}")
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._catch_up(db)  # what a previous run left in the journal
            while True:
                try:
                    item = self._queue.get(timeout=_RETRY_SECONDS)
                except queue.Empty:
                    self._catch_up(db)
                    continue
                if item is _STOP:
                    break
                batch = [item]
                stop_after = False
                while len(batch) < self.max_batch:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop_after = True
                        break
                    batch.append(more)
                self._catch_up(db)
                self._run_batch(db, batch)
                if stop_after:
                    break
            # Jobs submitted while stopping still get an answer.
            self._drain(db)
            self._catch_up(db)
        finally:
            db.close()

    def _drain(self, db: sqlite_utils.Database) -> None:
        rest = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)
        if rest:
            self._run_batch(db, rest)

    def _registry_resting(self) -> bool:
        return time.monotonic() < self._refused_until

    def _refused(self, exc: BaseException) -> None:
        self._refused_until = time.monotonic() + _RETRY_SECONDS
        self._last_refusal = exc
        log.warning("%s: the registry refuses writes (%s); sightings go to the journal", self.name, exc)

    def _catch_up(self, db: sqlite_utils.Database) -> None:
        """Replay the journal and report a degradation, once the registry takes writes again."""
        if self._registry_resting():
            return
        pending = self.journal is not None and self.replay is not None and self.journal.has_entries()
        if not pending and not self.degradation.any:
            return
        try:
            if pending:
                assert self.journal is not None and self.replay is not None
                replayed = self.journal.replay(db, self.replay, before_commit=self._report_degradation)
                log.warning("%s: %d journalled sighting(s) stored in the registry", self.name, replayed)
            else:
                with db.atomic():
                    self._report_degradation(db, 0)
        except Exception as exc:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            if not registry_refused(exc):
                log.exception("%s: replaying the journal failed", self.name)
            self._refused(exc)
            return
        self.degradation = Degradation()
        self.healthy = True

    def _report_degradation(self, db: sqlite_utils.Database, replayed: int, in_journal: int = 0) -> None:
        record_degradation(db, self.name, self.degradation, replayed, in_journal)

    def _run_batch(self, db: sqlite_utils.Database, batch: list[tuple[Job, Future[Any]]]) -> None:
        if self._registry_resting():
            self._journal_or_fail(batch, self._last_refusal)
            return
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        refused: list[tuple[Job, Future[Any]]] = []
        refusal: BaseException | None = None
        conn = db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job, future in batch:
                # A savepoint per job: one bad hit never takes the rest of the batch down with it.
                conn.execute("SAVEPOINT job")
                try:
                    result = job(db)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    if registry_refused(exc) and isinstance(job, Durable):
                        refused.append((job, future))
                        refusal = exc
                    else:
                        outcomes.append((future, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if registry_refused(exc):
                self._refused(exc)
                self._journal_or_fail(batch, exc)
                return
            log.exception("batch of %d hits could not be committed", len(batch))
            for _job, future in batch:
                future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
        if refused:
            assert refusal is not None
            self._refused(refusal)
            self._journal_or_fail(refused, refusal)

    def _journal_or_fail(self, batch: list[tuple[Job, Future[Any]]], reason: BaseException) -> None:
        """Keep the sightings of ``batch`` in the journal; other jobs, or all if that fails, get ``reason``."""
        durable = [(job, future) for job, future in batch if isinstance(job, Durable)]
        others = [(job, future) for job, future in batch if not isinstance(job, Durable)]
        for _job, future in others:
            future.set_exception(reason)
        if not durable:
            return
        if self.journal is None:
            self._lost(durable, reason, reason)
            return
        try:
            self.journal.append([job.journal_entry() for job, _future in durable])
        except JournalError as exc:
            self._lost(durable, reason, exc)
            return
        self.degradation.note(reason, journalled=len(durable))
        for _job, future in durable:
            future.set_result(None)

    def _lost(self, durable: list[tuple[Durable, Future[Any]]], reason: BaseException, error: BaseException) -> None:
        self.healthy = False
        self.degradation.note(reason, lost=len(durable))
        log.critical("%s: %d sighting(s) LOST: the registry refused them (%s) and the journal could not "
                     "keep them (%s)", self.name, len(durable), reason, error)
        for _job, future in durable:
            future.set_exception(error)
