"""The `canary serve` process: the console (waitress) and every service the domains declare, until a signal.

The command in ``canary/web/cli.py`` parses options and opens the registry; this module runs the process.
``say(message, warn)`` is how the process talks to the operator (stderr in the command).
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils
from waitress import wasyncore

from canary.errors import CanaryError
from canary.files import write_atomic
from canary.ops.lock import ServeLock
from canary.serve import ROLES, ServeContext, address_problem, run_until, start_all, stop_all
from canary.socket_caps import CappedWSGIServer
from canary.web import create_app
from canary.web.bodies import MULTIPART_MARGIN, bounded_channel
from canary.web.runner import build_metrics, build_readiness, build_services
from canary.web.system_view import preload_places
from canary.web.users import add_user

Say = Callable[[str, bool], None]
log = logging.getLogger("canary.web")


def refuse_bad_settings(problems: list[str]) -> None:
    """A worker started with a bad setting would fail later in a log nobody reads: refuse to start instead."""
    if problems:
        raise CanaryError("; ".join(problems) + " (see 'canary doctor')")


CONSOLE_CONNECTIONS = 1000
CONSOLE_IDLE_SECONDS = 15


def serve(db: sqlite_utils.Database, db_path: Path, host: str, port: int, options: dict[str, Any],
          say: Say) -> None:
    """Run the roles in ``options["roles"]`` until SIGTERM or SIGINT; the console only with the ``web`` role."""
    stop = _Stop()
    # Before anything starts: a stop asked for during start-up is a clean stop, not a kill.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Held until exit: `canary restore` refuses to replace a registry a serve is using.
    serve_lock = ServeLock(db_path)
    serve_lock.acquire()
    try:
        serve_ctx = ServeContext(db_path=db_path)
        if "web" not in options["roles"]:
            roles = ", ".join(r for r in ROLES if r in options["roles"])
            run_until(serve_ctx, build_services(serve_ctx, options), stop.event,
                      lambda: say(f"serving roles {roles} (no console)", False))
        else:
            _serve_console(db, db_path, serve_ctx, host, port, options, say, stop)
    finally:
        serve_lock.release()


class _Stop:
    """The signal handler: sets ``event`` and ends the console's loop once there is one."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.server: Any = None

    def __call__(self, *_args: Any) -> None:
        if self.event.is_set():
            return
        self.event.set()
        if self.server is not None:
            self.end_loop()

    def end_loop(self) -> None:
        # Closing every channel from inside the loop ends run(); then running requests finish.
        server = self.server
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))


def _serve_console(db: sqlite_utils.Database, db_path: Path, serve_ctx: ServeContext, host: str, port: int,
                   options: dict[str, Any], say: Say, stop: _Stop) -> None:
    first_admin(db, db_path, say)
    app = create_app({"DATABASE": str(db_path)})
    preload_places(app)  # the planner's tables, read while the services start: no system page waits
    services = start_all(build_services(serve_ctx, options))
    # /readyz and /metrics (canary.ops.health) see what this process started.
    app.config["READINESS_CHECKS"] = build_readiness(serve_ctx, options, services)
    app.config["METRICS_COLLECTORS"] = build_metrics(serve_ctx, options, services)
    # waitress (as for the callback listener): a production server with bounded threads, not the
    # development server, which is neither meant for hostile clients nor for long uptimes.
    try:
        server = console_server(app, host, port)
    except OSError as exc:
        stop_all(services)
        raise CanaryError(f"console: cannot listen on {host}:{port}: {address_problem(exc)}") from exc
    serve_ctx.scheduler.start()
    stop.server = server
    if stop.event.is_set():  # asked to stop while starting: the loop ends at once
        stop.end_loop()
    say(f"console on http://{host}:{server.effective_port}/", False)
    try:
        server.run()
    finally:
        server.task_dispatcher.shutdown()
        serve_ctx.scheduler.shutdown(wait=False)
        stop_all(services)


def console_server(app: Any, host: str, port: int) -> CappedWSGIServer:
    """The console's waitress server, bound and not yet running."""
    # Forwarded headers are judged by the app (canary.web.proxies: web.trusted_proxies, CIDRs, which
    # waitress's single trusted_proxy cannot express): waitress must pass them on untouched.
    # Room for 1,000 connections (110 idle ones blocked the console and /healthz at waitress's default
    # 100); past it the oldest idle one is closed for the newcomer (canary.socket_caps). No cap per
    # address: behind the reverse proxy every client has the proxy's. A connection silent for 15 s is
    # closed; a failed accept (out of descriptors) is paced and logged once a minute.
    upload_bytes = int(app.config["MAX_CONTENT_LENGTH"])
    server = CappedWSGIServer(app, max_connections=CONSOLE_CONNECTIONS, max_per_client=CONSOLE_CONNECTIONS,
                              name="console", logger=log, host=host, port=port, threads=8, ident="",
                              expose_tracebacks=False, clear_untrusted_proxy_headers=False,
                              max_request_body_size=upload_bytes + MULTIPART_MARGIN,
                              channel_timeout=CONSOLE_IDLE_SECONDS)
    # Bodies bounded by route class before they are read (canary.web.bodies): no anonymous spooling.
    server.channel_class = bounded_channel(upload_bytes)
    return server


def first_admin(db: sqlite_utils.Database, db_path: Path, say: Say) -> None:
    """On a fresh registry, create the first console account and hand its password over once.

    To the terminal when one is attached; otherwise (a service, whose output goes to a journal) into
    an owner-only file beside the registry, and only that file's path is said.
    """
    if db.execute("SELECT COUNT(*) FROM users").fetchone()[0] != 0:
        return
    password = secrets.token_urlsafe(15)
    hint = "change it with 'canary user password admin'"
    if sys.stderr.isatty():
        add_user(db, "admin", password, "admin")
        say(f"first start: console user 'admin' created with password {password} (shown once; {hint})", True)
        return
    secret_file = db_path.with_name(db_path.name + ".admin-password")
    # Written (mode 0600) before the account exists: a failed write never leaves an unknown password.
    write_atomic(secret_file, f"console user admin, password {password}\n")
    os.chmod(secret_file, 0o600)
    add_user(db, "admin", password, "admin")
    say(f"first start: console user 'admin' created; its password is in {secret_file} (owner-only; "
        f"delete the file once read, {hint})", False)
