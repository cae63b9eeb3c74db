"""``canary serve`` and console accounts."""

from __future__ import annotations

import getpass
import sys
from typing import Any

import click

from canary import serve_log
from canary.output import echo_json, echo_rows
from canary.serve import ROLES as SERVE_ROLES
from canary.serve import parse_roles
from canary.settings import environment_problems, setting_problems
from canary.store.context import CliContext, pass_ctx
from canary.store.tx import write_transaction
from canary.web.actions import create_token, revoke_token
from canary.web.audit import Actor, record
from canary.web.roles import ROLES
from canary.web.runner import serve_options
from canary.web.tokens import TOKEN_KEYS, list_tokens
from canary.web.users import (
    USER_KEYS,
    add_user,
    list_users,
    remove_user,
    set_disabled,
    set_password,
    set_role,
    unlock_user,
)


def _serve(ctx: CliContext, host: str, port: int, role: tuple[str, ...], log_level: str, **options: Any) -> None:
    """Run the console and every configured listener and worker until interrupted."""
    from canary.web.serving import refuse_bad_settings, serve

    options["roles"] = parse_roles(role)
    serve_log.configure(log_level)
    refuse_bad_settings(environment_problems())  # before creating anything
    ctx.create_db()  # the first start creates the registry
    refuse_bad_settings(setting_problems(ctx.db))
    serve(ctx.db, ctx.db_path, host, port, options, _echo_to_operator)


def _echo_to_operator(message: str, warn: bool) -> None:
    click.secho(message, fg="yellow" if warn else None, err=True)


def build_serve_command() -> click.Command:
    params: list[click.Parameter] = [
        click.Option(["--host"], default="127.0.0.1", show_default=True, help="Console address."),
        click.Option(["--port"], type=int, default=8080, show_default=True, help="Console port."),
        click.Option(["--role"], multiple=True, metavar="ROLE",
                     help=f"Run only this role (repeatable; default: all): {', '.join(SERVE_ROLES)}. "
                          "scheduler and delivery act in one process at a time (a lease in the registry)."),
        click.Option(["--log-level"], type=click.Choice(serve_log.LEVELS), default="info", show_default=True,
                     help="info: hits, alerts, uploads, deliveries and problems; debug adds the scheduler's "
                          "job runs."),
        *serve_options(),
    ]
    return click.Command(
        "serve",
        callback=pass_ctx(_serve),
        params=params,
        help="Run the console and every listener, watcher and delivery worker until stopped.",
    )


def _cli_actor() -> Actor:
    """Whoever runs the CLI has the registry file, hence every right: logged as the system user."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor(name, "admin", "cli")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group()
def user() -> None:
    """Console accounts and their roles (viewer < analyst < admin)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True,
              help="viewer: read-only, no marker values; analyst: alerts, sweeps, plant; admin: everything.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_add(ctx: CliContext, name: str, role: str, password_stdin: bool) -> None:
    """Create console user NAME."""
    password = _read_password(password_stdin)
    with write_transaction(ctx.db):
        add_user(ctx.db, name, password, role)
        record(ctx.db, _cli_actor(), "user.add", f"user:{name}", {"role": role})
    click.echo(f"user {name} added ({role})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def user_list(ctx: CliContext, as_json: bool) -> None:
    """Console accounts: role, last activity, recent failed sign-ins, and whether an address must wait."""
    echo_rows(list_users(ctx.db), list(USER_KEYS), as_json=as_json, empty="aucun utilisateur / no user")


@user.command("remove")
@click.argument("name")
@pass_ctx
def user_remove(ctx: CliContext, name: str) -> None:
    """Delete console user NAME."""
    with write_transaction(ctx.db):
        remove_user(ctx.db, name)
        record(ctx.db, _cli_actor(), "user.remove", f"user:{name}")
    click.echo(f"user {name} removed")


@user.command("unlock")
@click.argument("name")
@pass_ctx
def user_unlock(ctx: CliContext, name: str) -> None:
    """Let NAME be tried again now from every address (forgets its recent failed attempts)."""
    with write_transaction(ctx.db):
        unlock_user(ctx.db, name)
        record(ctx.db, _cli_actor(), "user.unlock", f"user:{name}")
    click.echo(f"user {name} unlocked")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_ctx
def user_role(ctx: CliContext, name: str, role: str) -> None:
    """Give user NAME the role ROLE (from its next request on)."""
    with write_transaction(ctx.db):
        set_role(ctx.db, name, role)
        record(ctx.db, _cli_actor(), "user.role", f"user:{name}", {"role": role})
    click.echo(f"user {name} is now {role}")


@user.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@pass_ctx
def user_disable(ctx: CliContext, name: str, enable: bool) -> None:
    """Disable user NAME: it cannot sign in and its sessions end now."""
    with write_transaction(ctx.db):
        set_disabled(ctx.db, name, not enable)
        record(ctx.db, _cli_actor(), "user.enable" if enable else "user.disable", f"user:{name}")
    click.echo(f"user {name} {'enabled' if enable else 'disabled'}")


@user.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
def user_password(ctx: CliContext, name: str, password_stdin: bool) -> None:
    """Set the password of user NAME (its sessions end)."""
    password = _read_password(password_stdin)
    with write_transaction(ctx.db):
        set_password(ctx.db, name, password)
        record(ctx.db, _cli_actor(), "user.password", f"user:{name}")
    click.echo(f"password of {name} changed")


@click.group()
def token() -> None:
    """API tokens for integrations (SOAR, SIEM): Authorization: Bearer <token> on /api/v1."""


@token.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--owner", required=True, metavar="ACCOUNT",
              help="Console account the token belongs to: it is revoked when the account is disabled or removed "
                   "and never acts above its role.")
@click.option("--days", type=click.IntRange(1, 366), default=90, show_default=True, help="Lifetime.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the secret included, once).")
@pass_ctx
def token_add(ctx: CliContext, name: str, role: str, owner: str, days: int, as_json: bool) -> None:
    """Create token NAME for account OWNER; its secret is printed now and never again."""
    row, secret = create_token(ctx.db, _cli_actor(), name, role, days, owner)
    if as_json:
        echo_json(row | {"secret": secret})
        return
    click.echo(f"token {row['id']} ({name}, {role}, expires {row['expires_at']})")
    click.echo(f"secret (shown once / affiché une fois): {secret}")


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def token_list(ctx: CliContext, as_json: bool) -> None:
    """API tokens (never their secrets)."""
    echo_rows(list_tokens(ctx.db), list(TOKEN_KEYS), as_json=as_json, empty="no token")


@token.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@pass_ctx
def token_revoke(ctx: CliContext, token_id: int) -> None:
    """Revoke token ID now."""
    revoke_token(ctx.db, _cli_actor(), token_id)
    click.echo(f"token {token_id} revoked")


@click.command("audit")
@click.option("--who", help="Only what this account (or token:NAME, or a system user at the CLI) did.")
@click.option("--action", help="Only this action or family: setting.set, alert (alert.ack, alert.note...), seed...")
@click.option("--via", type=click.Choice(["console", "api", "cli"]), help="Only changes made through this door.")
@click.option("--since", help="Only changes at or after this time: ISO or back from now (30m, 24h, 7d).")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Entries, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /api/v1/audit).")
@pass_ctx
def audit(ctx: CliContext, who: str | None, action: str | None, via: str | None, since: str | None, limit: int,
          as_json: bool) -> None:
    """Who changed what, newest first: settings, systems, seeds, plantings, retirements, alerts, accounts, tokens,
    sign-ins, from the console, the API and the CLI."""
    from canary.store.timefilter import parse_since
    from canary.timezones import display_zone
    from canary.web.audit import list_audit

    rows = list_audit(ctx.db, limit=limit, who=who, action=action, via=via,
                      since=parse_since(since) if since else None)
    if as_json:
        echo_json(rows)
        return
    zone = display_zone(ctx.db)
    shown = [{**row, "at": zone.show(row["at"]), "details": ", ".join(f"{k}={v}" for k, v in row["details"].items())}
             for row in rows]
    echo_rows(shown, ["id", "at", "who", "via", "action", "target", "details"], as_json=False,
              empty="aucune entrée / no entry")
    if rows:
        click.echo(f"({zone.name})")


COMMANDS = [build_serve_command(), user, token, audit]
