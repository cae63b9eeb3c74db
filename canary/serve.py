"""The service hook protocol: what a domain's ``services.py`` provides to ``canary serve``, and how
services start and stop.

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
runner that reads every domain's hooks and holds the leases of the ``scheduler`` and ``delivery`` roles
is :mod:`canary.web.runner`; this module knows no domain and no registry.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from canary.errors import CanaryError

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


def service_checks(started: list[Service]) -> list[ReadinessCheck]:
    """A service may say what keeps it from doing its job (e.g. a watcher that could keep a sighting
    neither in the registry nor in its journal): ``problem() -> str | None``."""
    checks = []
    for service in started:
        problem = getattr(service, "problem", None)
        if callable(problem):
            checks.append(ReadinessCheck(service.name, problem))
    return checks


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


