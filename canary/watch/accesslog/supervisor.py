"""Keeps one running service per configured source, following ``canary logs add/remove`` live.

``canary serve`` starts the supervisor; it starts every source's service, then every few seconds
starts the services of new sources, stops those of removed (or redefined) ones, and retries those
that failed to start (a syslog port already taken, say). A source that cannot start never stops the
others: its error is shown by ``canary logs list``.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from canary.store import open_db
from canary.watch.accesslog.endpoint_kind import Service
from canary.watch.accesslog.endpoints import endpoint_named
from canary.watch.accesslog.sources import list_sources
from canary.watch.accesslog.state import record_error

log = logging.getLogger("canary.accesslog")

SYNC_SECONDS = 5.0
_SIGNATURE_KEYS = ("kind", "url", "format", "pattern", "fields", "every", "created_at", "options")


def build_service(db_path: Path, source: dict[str, Any], scheduler: Any, poll_interval: float) -> Service:
    return endpoint_named(source["kind"]).service(db_path, source, scheduler, poll_interval)


class AccessLogSupervisor:
    def __init__(self, db_path: Path, scheduler: Any, *, poll_interval: float = 0.2,
                 sync_seconds: float = SYNC_SECONDS) -> None:
        self.name = "access-log sources"
        self.db_path = db_path
        self.scheduler = scheduler
        self.poll_interval = poll_interval
        self.sync_seconds = sync_seconds
        self.running: dict[str, tuple[tuple[str, ...], Any]] = {}
        self._failed: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.sync()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            for name in list(self.running):
                self._stop_one(name)

    def ready(self) -> str | None:
        """For /readyz: None while every configured source runs, else which could not start."""
        with self._lock:
            failed = sorted(self._failed)
        return f"not started: {', '.join(failed)}" if failed else None

    def service(self, name: str) -> Any:
        """The running service of source ``name`` (None if not running)."""
        entry = self.running.get(name)
        return entry[1] if entry else None

    def _loop(self) -> None:
        while not self._stop.wait(self.sync_seconds):
            try:
                self.sync()
            except Exception:  # the registry may be busy; try again at the next tick
                log.exception("access-log: syncing sources failed")

    def sync(self) -> None:
        db = open_db(self.db_path)
        try:
            wanted = {s["name"]: s for s in list_sources(db)}
            with self._lock:
                for name in set(self._failed) - set(wanted):  # removed while failing: nothing to start
                    del self._failed[name]
                for name, (signature, _service) in list(self.running.items()):
                    if name not in wanted or _signature(wanted[name]) != signature:
                        self._stop_one(name)
                for name, source in wanted.items():
                    if name not in self.running and not self._stop.is_set():
                        self._start_one(db, source)
        finally:
            db.close()

    def _start_one(self, db: Any, source: dict[str, Any]) -> None:
        try:  # a source whose kind or URL this version cannot read stops only itself
            service = build_service(self.db_path, source, self.scheduler, self.poll_interval)
            service.start()
        except Exception as exc:
            message = f"cannot start: {exc}"
            if self._failed.get(source["name"]) != message:
                log.error("access-log source %s %s", source["name"], message)
                record_error(db, source["name"], message)
                self._failed[source["name"]] = message
            return
        self._failed.pop(source["name"], None)
        self.running[source["name"]] = (_signature(source), service)
        log.info("started %s", service.name)

    def _stop_one(self, name: str) -> None:
        _signature_, service = self.running.pop(name)
        try:
            service.stop()
            log.info("stopped %s", service.name)
        except Exception:
            log.exception("stopping %s failed", service.name)


def _signature(source: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(source.get(k)) for k in _SIGNATURE_KEYS)
