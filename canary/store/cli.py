"""Commands on the registry itself: systems, settings, events, and the canaries it holds (list, show, export)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from canary.files import write_atomic
from canary.output import echo_json, echo_rows, echo_table
from canary.settings import change_setting, get_setting, setting_rows, settings_markdown
from canary.store.context import CliContext, pass_ctx
from canary.store.events import list_events
from canary.store.export import EXPORT_FORMATS, export_text
from canary.store.filters import event_filter
from canary.store.registry import (
    get_canary,
    list_canaries,
)
from canary.store.views import LIST_COLUMNS, export_view, list_row, show_lines

F = TypeVar("F", bound=Callable[..., Any])


@click.command()
@pass_ctx
def init(ctx: CliContext) -> None:
    """Create the registry (--db / CANARY_DB); nothing else creates one except 'system add' and 'serve'."""
    existed = ctx.db_path.exists()
    ctx.create_db()
    click.echo(f"registry {ctx.db_path} already exists" if existed else f"registry {ctx.db_path} created")


@click.group()
def config() -> None:
    """Settings (one declarative table; the environment overrides the registry)."""


@config.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def config_list(ctx: CliContext, as_json: bool) -> None:
    """Every setting with its value and meaning."""
    rows = setting_rows(ctx.db)
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
    """Set NAME to VALUE (lists: comma-separated or a JSON array); refused when the environment sets NAME."""
    typed = change_setting(ctx.db, name, value)
    click.echo(f"{name} = {typed!r}")


@config.command("unset")
@click.argument("name")
@pass_ctx
def config_unset(ctx: CliContext, name: str) -> None:
    change_setting(ctx.db, name, None)
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
    checked = event_filter(ctx.db, system=system, channel=channel, since=since)
    rows = list_events(ctx.db, system=checked.system, since=checked.since, channel=checked.channel, limit=limit)
    if as_json:
        echo_json(rows)
        return
    from canary.timezones import display_zone

    zone = display_zone(ctx.db)  # for people: the configured zone, named under the table (JSON stays UTC)
    echo_rows([{**row, "time": zone.show(row["time"])} for row in rows],
              ["id", "time", "channel", "severity", "system", "canary_id", "source", "account", "action"],
              as_json=False, empty="no event")
    if rows:
        click.echo(f"({zone.name})")


@click.command("list")
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """List canaries."""
    canaries = list_canaries(ctx.db, system=system)
    if as_json:
        echo_json([export_view(c) for c in canaries])
        return
    echo_table([list_row(c) for c in canaries], list(LIST_COLUMNS), empty="no canary")


@click.command()
@click.argument("canary_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: CliContext, canary_id: str, as_json: bool) -> None:
    """Show one canary in full."""
    view = export_view(get_canary(ctx.db, canary_id))
    if as_json:
        echo_json(view)
        return
    for line in show_lines(view):
        click.echo(line)


@click.command()
@click.option("--system", help="Only this system's canaries.")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@pass_ctx
def export(ctx: CliContext, system: str | None, fmt: str, output: Path | None) -> None:
    """Export canaries as JSON (an array) or CSV (one row each, nested fields flattened)."""
    views = [export_view(c) for c in list_canaries(ctx.db, system=system)]
    text = export_text(views, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomic(output, text)
    click.echo(f"{len(views)} canaries written to {output}", err=True)


COMMANDS = [init, config, events, list_, show, export]
