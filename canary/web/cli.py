"""``canary serve`` and console accounts."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
from typing import Any

import click
from waitress import wasyncore
from waitress.server import create_server

from canary.cli import CliContext, pass_ctx
from canary.files import write_atomic
from canary.serve import ROLES, ServeContext, build_services, parse_roles, serve_options, start_all, stop_all
from canary.web import create_app
from canary.web.users import add_user


def _serve(ctx: CliContext, host: str, port: int, role: tuple[str, ...], **options: Any) -> None:
    """Run the console and every configured listener and worker until interrupted."""
    roles = parse_roles(role)
    options["roles"] = roles
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve_ctx = ServeContext(db_path=ctx.db_path)
    if "web" not in roles:
        _serve_without_console(serve_ctx, roles, options)
        return
    _first_admin(ctx)
    app = create_app({"DATABASE": str(ctx.db_path)})
    services = start_all(build_services(serve_ctx, options))
    serve_ctx.scheduler.start()
    # waitress (as for the callback listener): a production server with bounded threads, not the
    # development server, which is neither meant for hostile clients nor for long uptimes.
    server: Any = create_server(app, host=host, port=port, threads=8, ident="", expose_tracebacks=False,
                                clear_untrusted_proxy_headers=True)
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


def _serve_without_console(serve_ctx: ServeContext, roles: frozenset[str], options: dict[str, Any]) -> None:
    """A process of other roles only (a DMZ host's listeners, a worker): run until SIGTERM or SIGINT."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stopping.set())
    signal.signal(signal.SIGINT, lambda *_args: stopping.set())
    services = start_all(build_services(serve_ctx, options))
    serve_ctx.scheduler.start()
    click.echo(f"serving roles {', '.join(r for r in ROLES if r in roles)} (no console)", err=True)
    try:
        while not stopping.wait(1.0):
            pass
    finally:
        serve_ctx.scheduler.shutdown(wait=False)
        stop_all(services)


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
        click.Option(["--role"], multiple=True, metavar="ROLE",
                     help=f"Run only this role (repeatable; default: all): {', '.join(ROLES)}. "
                          "scheduler and delivery act in one process at a time (a lease in the registry)."),
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


COMMANDS = [build_serve_command(), user]
