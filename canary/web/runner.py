"""The runner of ``canary serve``: every domain's service hooks read and built, leased roles held.

:mod:`canary.serve` is the protocol a domain's ``services.py`` follows; this module reads the modules
declared in :mod:`canary.domains` and builds their services. The ``scheduler`` and ``delivery`` roles act
in one process at a time: their services run inside a :class:`LeasedServices`, which starts them only
while it holds the role's lease (canary.store.leases).
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from canary.domains import SERVICE_MODULES
from canary.serve import ReadinessCheck, ServeContext, Service, runs, service_checks, start_all, stop_all
from canary.settings import get_float
from canary.store import open_db
from canary.store.leases import Holder, acquire, release

log = logging.getLogger("canary.serve")


def _modules() -> list[Any]:
    return [importlib.import_module(name) for name in SERVICE_MODULES]


def serve_options() -> list[click.Option]:
    options: list[click.Option] = []
    for module in _modules():
        options.extend(getattr(module, "SERVE_OPTIONS", []))
    return options


def build_services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    services: list[Service] = []
    leased: dict[str, list[Callable[[], list[Service]]]] = {}
    for module in _modules():
        factory = getattr(module, "services", None)
        if factory is None:
            continue
        role = getattr(module, "LEASED_ROLE", None)
        if role is None:
            services.extend(factory(ctx, options))
        elif runs(options, role) and factory(ctx, options):
            if role not in leased:
                leased[role] = []
                # One lease per role, however many domains run services in it (two holders of one role in
                # one process would take the lease from each other).
                services.append(LeasedServices(ctx.db_path, role, functools.partial(_build_all, leased[role])))
            # Built again on each takeover: a stopped service is not restarted.
            leased[role].append(functools.partial(factory, ctx, options))
    return services


def _build_all(factories: list[Callable[[], list[Service]]]) -> list[Service]:
    return [service for factory in factories for service in factory()]


def build_readiness(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[ReadinessCheck]:
    """Every domain's readiness checks for the services that did start."""
    checks: list[ReadinessCheck] = []
    for module in _modules():
        factory = getattr(module, "readiness", None)
        if factory is not None:
            checks.extend(factory(ctx, options, started))
    return checks + service_checks(started)


def build_metrics(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[Any]:
    """Every domain's extra metrics collectors (state only this process knows, e.g. listener errors)."""
    collectors: list[Any] = []
    for module in _modules():
        factory = getattr(module, "metrics", None)
        if factory is not None:
            collectors.extend(factory(ctx, options, started))
    return collectors


class LeasedServices:
    """The services of a leased role: started while this process holds the lease, stopped when it is lost.

    A thread tries to take the lease every third of its length, renews it while holding it, and stops
    the services as soon as a renewal fails or the lease would have expired unrenewed (so two
    holders never act at once as long as the hosts' clocks agree).
    """

    def __init__(self, db_path: Path, role: str, factory: Callable[[], list[Service]], *,
                 lease_seconds: float | None = None) -> None:
        self.name = f"{role} lease"
        self.role = role
        self.db_path = db_path
        self.factory = factory
        self.holder = Holder()
        self.lease_seconds = lease_seconds
        self.running: list[Service] = []
        self.held = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.lease_seconds is None:
            db = open_db(self.db_path)
            try:
                self.lease_seconds = max(1.0, get_float(db, "serve.lease_seconds"))
            finally:
                db.close()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        assert self.lease_seconds is not None
        db = open_db(self.db_path)
        valid_until = 0.0
        try:
            while not self._stop.is_set():
                try:
                    started = time.time()
                    if acquire(db, self.role, self.holder, self.lease_seconds):
                        valid_until = started + self.lease_seconds
                        if not self.running:
                            log.info("took the %s lease (%s)", self.role, self.holder.id)
                            self.running = start_all(self.factory())
                            self.held.set()
                    elif self.running:
                        log.warning("lost the %s lease: stopping its services", self.role)
                        self._release_services()
                except Exception:  # registry busy or unreadable: try again, but never act past expiry
                    log.exception("%s: lease renewal failed", self.role)
                if self.running and time.time() >= valid_until:
                    log.warning("%s lease not renewed in time: stopping its services", self.role)
                    self._release_services()
                self._stop.wait(self.lease_seconds / 3)
        finally:
            self._release_services()
            try:
                release(db, self.role, self.holder)
            except Exception:
                log.exception("%s: cannot release the lease (it expires by itself)", self.role)
            db.close()

    def _release_services(self) -> None:
        stop_all(self.running)
        self.running = []
        self.held.clear()
