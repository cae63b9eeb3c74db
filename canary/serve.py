"""The long-running process: the console plus every service the domains declare.

A domain that runs something in the background (a listener, a tailer, a delivery worker, scheduled
sweeps) has a ``services.py``, declared in :mod:`canary.domains`, with:

- ``SERVE_OPTIONS``: extra click options for ``canary serve`` (e.g. ``--dns``);
- ``services(ctx, options) -> list[Service]``: what to start, given the parsed options;
- ``readiness(ctx, options, started) -> list[ReadinessCheck]`` (optional): what ``/readyz`` checks;
- ``metrics(ctx, options, started) -> list[collector]`` (optional): extra ``prometheus_client``
  collectors served on ``/metrics`` beside those computed from the registry.
- ``LEASED_ROLE`` (optional): the leased role all of the module's services belong to.

Each service opens its own registry connection (SQLite connections are per thread).

Roles (``canary serve --role``) split the process across hosts sharing one registry: ``options["roles"]``
says which ones this process runs, and each domain starts only the services of those roles. The
``scheduler`` and ``delivery`` roles act in one process at a time: their services run inside a
:class:`LeasedServices`, which starts them only while it holds the role's lease (canary.store.leases).
"""

from __future__ import annotations

import errno
import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
from apscheduler.schedulers.background import BackgroundScheduler

from canary.domains import SERVICE_MODULES
from canary.errors import CanaryError
from canary.settings import get_float
from canary.store import open_db
from canary.store.leases import Holder, acquire, release

log = logging.getLogger("canary.serve")


# What each role runs: web = the console; callbacks, dns, smtp = the tripwire listeners (smtp also polls
# the IMAP mailboxes); logs = the access-log sources; scheduler = the periodic jobs (leak-sweep feeds);
# delivery = alert correlation and delivery. Only scheduler and delivery are leased.
ROLES = ("web", "callbacks", "dns", "smtp", "logs", "scheduler", "delivery")
LEASED_ROLES = ("scheduler", "delivery")


def parse_roles(given: Iterable[str]) -> frozenset[str]:
    """``--role`` values to the set this process runs (none given: every role)."""
    roles: list[str] = []
    for role in given:
        if role not in ROLES:
            raise CanaryError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if role in roles:
            raise CanaryError(f"role {role!r} given twice")
        roles.append(role)
    return frozenset(roles or ROLES)


def runs(options: dict[str, Any], role: str) -> bool:
    """Whether this ``serve`` runs ``role`` (every role when started without ``--role``)."""
    return role in options.get("roles", ROLES)


def role_explicit(options: dict[str, Any], role: str) -> bool:
    """Whether ``role`` was asked for by name (then e.g. the DNS listener runs without --dns)."""
    return role in options.get("roles", ()) and options.get("roles") != frozenset(ROLES)


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ReadinessCheck:
    """One thing ``/readyz`` checks: ``check()`` returns None when fine, else a short reason (logged, never served)."""

    name: str
    check: Callable[[], str | None]


@dataclass
class ServeContext:
    db_path: Path
    scheduler: BackgroundScheduler = field(
        default_factory=lambda: BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True,
                                                                                  "misfire_grace_time": None})
    )


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


def service_checks(started: list[Service]) -> list[ReadinessCheck]:
    """A service may say what keeps it from doing its job (e.g. a watcher that could keep a sighting
    neither in the registry nor in its journal): ``problem() -> str | None``."""
    checks = []
    for service in started:
        problem = getattr(service, "problem", None)
        if callable(problem):
            checks.append(ReadinessCheck(service.name, problem))
    return checks


def build_metrics(ctx: ServeContext, options: dict[str, Any], started: list[Service]) -> list[Any]:
    """Every domain's extra metrics collectors (state only this process knows, e.g. listener errors)."""
    collectors: list[Any] = []
    for module in _modules():
        factory = getattr(module, "metrics", None)
        if factory is not None:
            collectors.extend(factory(ctx, options, started))
    return collectors


def start_all(services: list[Service]) -> list[Service]:
    """Start services in order; if one fails, stop those already started and re-raise."""
    started: list[Service] = []
    try:
        for service in services:
            try:
                service.start()
            except OSError as exc:  # a port in use, an address not on this host: say which listener and where
                raise CanaryError(f"{service.name}: cannot listen on {listen_address(service)}: "
                                  f"{address_problem(exc)}") from exc
            started.append(service)
            log.info("started %s", service.name)
    except BaseException:
        stop_all(started)
        raise
    return started


def run_until(serve_ctx: ServeContext, services: list[Service], stopping: threading.Event,
              started: Callable[[], None] | None = None) -> None:
    """Start ``services`` and the shared scheduler, call ``started``, run until ``stopping`` is set, stop all."""
    running = start_all(services)
    serve_ctx.scheduler.start()
    if started is not None:
        started()
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        serve_ctx.scheduler.shutdown(wait=False)
        stop_all(running)


def listen_address(service: object) -> str:
    """``host:port`` a listening service binds, as configured (port 0: any free port)."""
    holder = getattr(service, "listener", service)
    return f"{getattr(holder, 'host', '?')}:{getattr(holder, 'port', '?')}"


def address_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "address already in use (another process listens there: stop it, or choose another port)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "this host has no such address"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    return exc.strerror or str(exc)


def stop_all(services: list[Service]) -> None:
    for service in reversed(services):
        try:
            service.stop()
        except Exception:  # one failing stop must not keep the others running
            log.exception("stopping %s failed", service.name)


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
