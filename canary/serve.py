"""The long-running process: the console plus every service the domains declare.

A domain that runs something in the background (a listener, a tailer, a delivery worker, scheduled
sweeps) has a ``services.py`` listed in ``SERVICE_MODULES`` with:

- ``SERVE_OPTIONS``: extra click options for ``canary serve`` (e.g. ``--dns``);
- ``services(ctx, options) -> list[Service]``: what to start, given the parsed options;
- ``readiness(ctx, options, started) -> list[ReadinessCheck]`` (optional): what ``/readyz`` checks;
- ``metrics(ctx, options, started) -> list[collector]`` (optional): extra ``prometheus_client``
  collectors served on ``/metrics`` beside those computed from the registry.

Each service opens its own registry connection (SQLite connections are per thread).
"""

from __future__ import annotations

import errno
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
from apscheduler.schedulers.background import BackgroundScheduler

from canary.errors import CanaryError

log = logging.getLogger("canary.serve")

SERVICE_MODULES = [
    "canary.ops.services",  # first: its error counter must see the other services being built
    "canary.plant.services",
    "canary.watch.sweep.services",
    "canary.watch.tripwire.services",
    "canary.watch.accesslog.services",
    "canary.watch.egress.services",
    "canary.alert.services",
]


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
    for module in _modules():
        factory = getattr(module, "services", None)
        if factory is not None:
            services.extend(factory(ctx, options))
    return services


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
