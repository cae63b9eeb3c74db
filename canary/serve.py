"""The long-running process: the console plus every service the domains declare.

A domain that runs something in the background (a listener, a tailer, a delivery worker, scheduled
sweeps) has a ``services.py`` listed in ``SERVICE_MODULES`` with:

- ``SERVE_OPTIONS``: extra click options for ``canary serve`` (e.g. ``--dns``);
- ``services(ctx, options) -> list[Service]``: what to start, given the parsed options.

Each service opens its own registry connection (SQLite connections are per thread).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import click
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("canary.serve")

SERVICE_MODULES = [
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


def start_all(services: list[Service]) -> list[Service]:
    """Start services in order; if one fails, stop those already started and re-raise."""
    started: list[Service] = []
    try:
        for service in services:
            service.start()
            started.append(service)
            log.info("started %s", service.name)
    except BaseException:
        stop_all(started)
        raise
    return started


def stop_all(services: list[Service]) -> None:
    for service in reversed(services):
        try:
            service.stop()
        except Exception:  # one failing stop must not keep the others running
            log.exception("stopping %s failed", service.name)
