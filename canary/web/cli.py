"""``canary serve`` and console accounts."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import sys
import threading
from typing import Any

import click
from waitress import wasyncore
from waitress.server import create_server

from canary.cli import CliContext, pass_ctx
from canary.errors import CanaryError
from canary.files import write_atomic
from canary.ops.lock import ServeLock
from canary.output import echo_rows
from canary.serve import (
    ServeContext,
    address_problem,
    build_metrics,
    build_readiness,
    build_services,
    serve_options,
    start_all,
    stop_all,
)
from canary.settings import environment_problems, setting_problems
from canary.web import create_app
from canary.web.users import add_user, list_users, remove_user, unlock_user


def _serve(ctx: CliContext, host: str, port: int, **options: Any) -> None:
    """Run the console and every configured listener and worker until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _refuse_bad_settings(environment_problems())  # before creating anything
    ctx.create_db()  # the first start creates the registry
    _refuse_bad_settings(setting_problems(ctx.db))
    # Held until exit: `canary restore` refuses to replace a registry a serve is using.
    serve_lock = ServeLock(ctx.db_path)
    serve_lock.acquire()
    try:
        _run(ctx, host, port, **options)
    finally:
        serve_lock.release()


def _run(ctx: CliContext, host: str, port: int, **options: Any) -> None:
    _first_admin(ctx)
    app = create_app({"DATABASE": str(ctx.db_path)})
    serve_ctx = ServeContext(db_path=ctx.db_path)
    services = start_all(build_services(serve_ctx, options))
    # /readyz and /metrics (canary.ops.health) see what this process started.
    app.config["READINESS_CHECKS"] = build_readiness(serve_ctx, options, services)
    app.config["METRICS_COLLECTORS"] = build_metrics(serve_ctx, options, services)
    # waitress (as for the callback listener): a production server with bounded threads, not the
    # development server, which is neither meant for hostile clients nor for long uptimes.
    try:
        server: Any = create_server(app, host=host, port=port, threads=8, ident="", expose_tracebacks=False,
                                    clear_untrusted_proxy_headers=True)
    except OSError as exc:
        stop_all(services)
        raise CanaryError(f"console: cannot listen on {host}:{port}: {address_problem(exc)}") from exc
    serve_ctx.scheduler.start()
    stopping = threading.Event()

    def _stop(*_args: Any) -> None:
        if not stopping.is_set():
            stopping.set()
            # Closing every channel from inside the loop ends run(); then running requests finish.
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"console on http://{host}:{server.effective_port}/", err=True)
    try:
        server.run()
    finally:
        server.task_dispatcher.shutdown()
        serve_ctx.scheduler.shutdown(wait=False)
        stop_all(services)


def _console_socket(host: str, port: int) -> socket.socket:
    """Bind the console's socket ourselves: werkzeug would print its own lines and exit on a port in use."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family, backlog=128)


def _refuse_bad_settings(problems: list[str]) -> None:
    """A worker started with a bad setting would fail later in a log nobody reads: refuse to start instead."""
    if problems:
        raise CanaryError("; ".join(problems) + " (see 'canary doctor')")


def _first_admin(ctx: CliContext) -> None:
    """On a fresh registry, create the first console account and hand its password over once.

    To the terminal when one is attached; otherwise (a service, whose output goes to a journal) into
    an owner-only file beside the registry, and only that file's path is printed.
    """
    if ctx.db.execute("SELECT COUNT(*) FROM users").fetchone()[0] != 0:
        return
    password = secrets.token_urlsafe(15)
    hint = "change it with 'canary user add admin'"
    if sys.stderr.isatty():
        add_user(ctx.db, "admin", password)
        click.secho(f"first start: console user 'admin' created with password {password} (shown once; {hint})",
                    fg="yellow", err=True)
        return
    secret_file = ctx.db_path.with_name(ctx.db_path.name + ".admin-password")
    # Written (mode 0600) before the account exists: a failed write never leaves an unknown password.
    write_atomic(secret_file, f"console user admin, password {password}\n")
    os.chmod(secret_file, 0o600)
    add_user(ctx.db, "admin", password)
    click.echo(f"first start: console user 'admin' created; its password is in {secret_file} (owner-only; "
               f"delete the file once read, {hint})", err=True)


def build_serve_command() -> click.Command:
    params: list[click.Parameter] = [
        click.Option(["--host"], default="127.0.0.1", show_default=True, help="Console address."),
        click.Option(["--port"], type=int, default=8080, show_default=True, help="Console port."),
        *serve_options(),
    ]
    return click.Command(
        "serve",
        callback=pass_ctx(_serve),
        params=params,
        help="Run the console and every listener, watcher and delivery worker until stopped.",
    )


@click.group()
def user() -> None:
    """Console accounts."""


@user.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_add(ctx: CliContext, name: str, password_stdin: bool) -> None:
    """Create (or reset the password of) console user NAME."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    add_user(ctx.db, name, password)
    click.echo(f"user {name} saved")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def user_list(ctx: CliContext, as_json: bool) -> None:
    """Console accounts, with recent failed sign-ins and whether an address must wait before trying again."""
    echo_rows(list_users(ctx.db), ["name", "created_at", "recent_failures", "throttled"], as_json=as_json,
              empty="aucun utilisateur / no user")


@user.command("remove")
@click.argument("name")
@pass_ctx
def user_remove(ctx: CliContext, name: str) -> None:
    """Delete console user NAME."""
    remove_user(ctx.db, name)
    click.echo(f"user {name} removed")


@user.command("unlock")
@click.argument("name")
@pass_ctx
def user_unlock(ctx: CliContext, name: str) -> None:
    """Let NAME be tried again now from every address (forgets its recent failed attempts)."""
    unlock_user(ctx.db, name)
    click.echo(f"user {name} unlocked")


COMMANDS = [build_serve_command(), user]
