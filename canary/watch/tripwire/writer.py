"""One writer thread per listener process: hits are batched into a single transaction.

SQLite takes one writer at a time; many request threads each committing on their own would queue on
the lock and fsync once each. Here request threads hand a job to the writer and wait for its Future,
which resolves only after the batch holding the job is committed: the peer gets its answer after the
hit is durable ("commit before response"), and a burst costs one commit per batch, not per hit.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import sqlite_utils

from canary.store import open_db

log = logging.getLogger("canary.tripwire.writer")

T = TypeVar("T")
Job = Callable[[sqlite_utils.Database], Any]

_STOP = object()


class WriterStopped(RuntimeError):
    """A job was submitted to a writer that is not running."""


class EventWriter:
    """Runs ``job(db)`` callables in batches on one connection, one commit per batch."""

    def __init__(self, db_path: str | os.PathLike[str], *, max_batch: int = 500, name: str = "tripwire-writer"):
        self.db_path = db_path
        self.max_batch = max_batch
        self.name = name
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
        """Submit ``job`` and wait until its batch is committed; return its result."""
        return self.submit(job).result(timeout)

    # --- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            db = open_db(self.db_path, migrate_schema=False)
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
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
                self._run_batch(db, batch)
                if stop_after:
                    break
            # Jobs submitted while stopping still get an answer.
            self._drain(db)
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

    def _run_batch(self, db: sqlite_utils.Database, batch: list[tuple[Job, Future]]) -> None:
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
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
                    outcomes.append((future, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except Exception as exc:
            log.exception("batch of %d hits could not be committed", len(batch))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _job, future in batch:
                future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
