"""The two background loops (correlation, delivery), shared by ``canary serve`` and ``canary notify run``.

Each loop opens its own registry connection and survives any error of one pass: it logs, waits and
tries again, since the durable cursor and outbox make a retried pass safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from canary.alert.correlate import correlate_once
from canary.alert.delivery import DeliveryWorker
from canary.settings import get_float
from canary.store import open_db

log = logging.getLogger("canary.alert.worker")


# Events per correlation pass: the first pass is small so the first page leaves at once; while a backlog
# remains (a bulk export: tens of thousands of reads) each pass takes twice as many, so an incident's
# theft window and counts are worked out a few times, not once per 500 events.
FIRST_PASS, LARGEST_PASS = 500, 16_000


def correlation_loop(db_path: Path, stop: threading.Event, wake: threading.Event | None = None) -> None:
    db = open_db(db_path)
    limit = FIRST_PASS
    try:
        while not stop.is_set():
            poll = 1.0
            try:
                poll = max(0.01, get_float(db, "alert.poll_seconds"))
                result = correlate_once(db, limit=limit)
                if result.queued and wake is not None:
                    wake.set()
                limit = min(limit * 2, LARGEST_PASS) if result.events >= limit else FIRST_PASS
                if result.events:
                    continue
            except Exception:
                log.exception("correlation pass failed; retrying")
            stop.wait(poll)
    finally:
        db.close()


def delivery_loop(db_path: Path, stop: threading.Event, wake: threading.Event | None = None) -> None:
    db = open_db(db_path)
    worker = DeliveryWorker(db)
    try:
        while not stop.is_set():
            poll = 1.0
            try:
                poll = max(0.01, get_float(db, "alert.poll_seconds"))
                if worker.run_once():
                    continue
            except Exception:
                log.exception("delivery pass failed; retrying")
            if wake is not None:
                wake.wait(poll)
                wake.clear()
            else:
                stop.wait(poll)
    finally:
        worker.close()
        db.close()


class LoopService:
    """A ``canary.serve.Service`` running one loop in a thread."""

    def __init__(self, name: str, target: Callable[[Path, threading.Event, threading.Event], None], db_path: Path,
                 wake: threading.Event) -> None:
        self.name = name
        self._target = target
        self._db_path = db_path
        self._wake = wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._target, args=(self._db_path, self._stop, self._wake),
                                        name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def alert_services(db_path: Path) -> list[LoopService]:
    wake = threading.Event()  # correlation wakes delivery as soon as it queued something
    return [LoopService("alert-correlation", correlation_loop, db_path, wake),
            LoopService("alert-delivery", delivery_loop, db_path, wake)]
