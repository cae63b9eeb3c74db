"""``/healthz``, ``/readyz`` and ``/metrics`` on the console port: no login, no patient or canary data.

``/healthz`` says the process answers. ``/readyz`` runs the readiness checks ``serve`` gathered from
every domain (``app.config["READINESS_CHECKS"]``; outside serve, only the registry check) and answers
503 when one fails, naming the check but never its reason (reasons go to the log: they may hold paths).
``/metrics`` is computed from the registry at scrape time, plus the collectors serve adds
(``app.config["METRICS_COLLECTORS"]``); nothing is kept between scrapes. It needs an API token (any
role): its counters move with each sighting, so read anonymously they would tell an attacker which of
the records he holds is a canary (open its URL, read the counter again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from canary.ops.metrics import RegistryCollector
from canary.serve import ReadinessCheck

log = logging.getLogger("canary.ops.health")

bp = Blueprint("health", __name__)

PROBE_TIMEOUT = 2.0


PROBE_ROOM = 64 * 1024  # bytes written and synced beside the registry: room for the next batches


def registry_writable(db_path: str) -> str | None:
    """Commit a one-row write (synchronously) and write and sync ``PROBE_ROOM`` bytes beside the
    registry: proves the write lock can be had quickly, a commit goes through, and the disk has room.

    The commit alone is not enough on a full disk: SQLite's write-ahead log reuses its own blocks, so
    a commit may still succeed while the next checkpoint or journal cannot grow. Bounded: the lock is
    waited for ``PROBE_TIMEOUT`` seconds at most; the scratch file is removed at once.
    """
    try:
        conn = sqlite3.connect(db_path, timeout=PROBE_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        return f"cannot open the registry: {exc}"
    try:
        conn.execute("PRAGMA synchronous=FULL")  # this commit is synced to the disk
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO readiness_probe (id, probed_at) VALUES (1, strftime('%Y-%m-%dT%H:%M:%fZ')) "
                     "ON CONFLICT(id) DO UPDATE SET probed_at = excluded.probed_at")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        return f"registry not writable: {exc}"
    finally:
        conn.close()
    scratch = f"{db_path}.readyz"
    try:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = os.write(fd, b"\0" * PROBE_ROOM)
            os.fsync(fd)
        finally:
            os.close(fd)
        if written < PROBE_ROOM:
            return "no room on the registry's disk"
    except OSError as exc:
        return f"no room on the registry's disk: {exc.strerror}"
    finally:
        with contextlib.suppress(OSError):
            os.unlink(scratch)
    return None


def _checks() -> list[ReadinessCheck]:
    configured = current_app.config.get("READINESS_CHECKS")
    if configured is not None:
        return list(configured)
    database = str(current_app.config["DATABASE"])
    return [ReadinessCheck("registry writable", lambda: registry_writable(database))]


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
def readyz() -> Any:
    results: dict[str, str] = {}
    for check in _checks():
        try:
            reason = check.check()
        except Exception as exc:  # a broken check means not ready, never a 500
            reason = f"check failed: {exc}"
        if reason is not None:
            log.warning("not ready: %s: %s", check.name, reason)
        results[check.name] = "ok" if reason is None else "failing"
    ready = all(value == "ok" for value in results.values())
    response = jsonify({"status": "ready" if ready else "not ready", "checks": results})
    response.status_code = 200 if ready else 503
    return response


@bp.get("/metrics")
def metrics() -> Response:
    # The console's app factory says how a bearer token is checked (this domain sits below the console);
    # without it, nobody reads the metrics.
    allowed = current_app.config.get("METRICS_AUTHORIZED")
    if allowed is None or not allowed(request.headers.get("Authorization", "")):
        return Response("a valid API token is required (Authorization: Bearer ...)\n", status=401,
                        mimetype="text/plain", headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegistryCollector(str(current_app.config["DATABASE"])))
    for collector in current_app.config.get("METRICS_COLLECTORS", []):
        registry.register(collector)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
