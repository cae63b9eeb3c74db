"""Commands on the registry itself: systems, settings, events."""

from __future__ import annotations

import click

from canary.cli import CliContext, pass_ctx
from canary.errors import CanaryError
from canary.output import echo_json, echo_rows
from canary.settings import all_settings, get_setting, set_setting, settings_markdown, unset_setting
from canary.store.events import check_channel, list_events
from canary.store.registry import SYSTEM_KINDS, add_system, get_system, list_systems
from canary.store.timefilter import parse_since


@click.command()
@pass_ctx
def init(ctx: CliContext) -> None:
    """Create the registry (--db / CANARY_DB); nothing else creates one except 'system add' and 'serve'."""
    existed = ctx.db_path.exists()
    ctx.create_db()
    click.echo(f"registry {ctx.db_path} already exists" if existed else f"registry {ctx.db_path} created")


@click.group()
def system() -> None:
    """Systems that hold patient data (EHR, lab, billing export, backup...)."""


@system.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(SYSTEM_KINDS), help="What the system is.")
@click.option("--establishment", help="Establishment name, e.g. 'Clinique des Lilas'.")
@click.option("--finess", help="FINESS number of the establishment (9 characters).")
@click.option("--notes", help="Free text for the security team.")
@pass_ctx
def system_add(ctx: CliContext, name: str, kind: str, establishment: str | None, finess: str | None,
               notes: str | None) -> None:
    """Register a system NAME (creates the registry if needed)."""
    add_system(ctx.create_db(), name, kind, establishment=establishment, finess=finess, notes=notes)
    click.echo(f"system {name} added")


@system.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def system_list(ctx: CliContext, as_json: bool) -> None:
    """List systems with their active canary counts."""
    rows = list_systems(ctx.db)
    echo_rows(rows, ["name", "kind", "establishment", "finess", "canaries"], as_json=as_json, empty="no system yet")


@click.group()
def config() -> None:
    """Settings (one declarative table; the environment overrides the registry)."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def config_list(ctx: CliContext, as_json: bool) -> None:
    """Every setting with its value and meaning."""
    rows = []
    db = ctx.db
    for setting in all_settings().values():
        try:
            value, problem = get_setting(db, setting.name), None
        except CanaryError as exc:  # shown, not fatal: this listing is where the operator looks for it
            value, problem = None, str(exc)
        shown = ("(set)" if value else "(unset)") if setting.secret else value
        rows.append({"name": setting.name, "value": shown, "type": setting.type_label, "env": setting.env_var,
                     "help": setting.help, "problem": problem})
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            value = f"INVALID: {row['problem']}" if row["problem"] else repr(row["value"])
            click.echo(f"{row['name']} = {value}\n    {row['help']} ({row['type']}; env {row['env']})")


@config.command("docs")
def config_docs() -> None:
    """Print the settings reference as Markdown (docs/settings.md)."""
    click.echo(settings_markdown(), nl=False)


@config.command("get")
@click.argument("name")
@pass_ctx
def config_get(ctx: CliContext, name: str) -> None:
    echo_json(get_setting(ctx.db, name))


@config.command("set")
@click.argument("name")
@click.argument("value")
@pass_ctx
def config_set(ctx: CliContext, name: str, value: str) -> None:
    """Set NAME to VALUE (lists: comma-separated or a JSON array)."""
    typed = set_setting(ctx.db, name, value)
    click.echo(f"{name} = {typed!r}")


@config.command("unset")
@click.argument("name")
@pass_ctx
def config_unset(ctx: CliContext, name: str) -> None:
    unset_setting(ctx.db, name)
    click.echo(f"{name} reset to its default")


@click.command()
@click.option("--system", help="Only events naming this system.")
@click.option("--since", help="Only events at or after this time: ISO (2026-11-01, 2026-11-01T08:00Z; UTC unless an "
                               "offset is given) or back from now (30m, 24h, 7d, 2w).")
@click.option("--channel", help="Only this channel (http, dns, smtp, imap, phone, sms, access-log, leak, notify).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N events.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def events(ctx: CliContext, system: str | None, since: str | None, channel: str | None, limit: int | None,
           as_json: bool) -> None:
    """Events seen on every channel, oldest first."""
    if system:
        get_system(ctx.db, system)
    if channel:
        check_channel(ctx.db, channel)
    rows = list_events(ctx.db, system=system, since=parse_since(since) if since else None, channel=channel,
                       limit=limit)
    echo_rows(rows, ["id", "time", "channel", "severity", "system", "canary_id", "source", "account",
                      "action"], as_json=as_json, empty="no event")


COMMANDS = [init, system, config, events]
