"""Commands on the registry itself: systems, settings, events, and the canaries it holds (list, show, export)."""

from __future__ import annotations

from pathlib import Path

import click

from canary.cli import CliContext, pass_ctx
from canary.errors import CanaryError
from canary.files import write_atomic
from canary.output import echo_json, echo_rows, echo_table
from canary.settings import get_setting, set_setting, setting_rows, settings_markdown, unset_setting
from canary.store.events import list_events
from canary.store.export import EXPORT_FORMATS, export_text
from canary.store.filters import event_filter
from canary.store.registry import (
    SYSTEM_KINDS,
    add_system,
    edit_system,
    get_canary,
    get_system,
    list_canaries,
    list_systems,
)
from canary.store.views import LIST_COLUMNS, export_view, list_row, show_lines


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


def _site_options(command):
    for option in reversed([
        click.option("--commune", help="The establishment's commune: INSEE code (69383) or name (canaries "
                                       "live around it; default: the FINESS department's largest town)."),
        click.option("--postcode", help="The establishment's postcode (alone, or to tell communes of one name apart)."),
        click.option("--patients", type=int, help="How many patients the system holds (for 'canary plan', "
                                                  "lint and seed's stealth warning)."),
    ]):
        command = option(command)
    return command


@system.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(SYSTEM_KINDS), help="What the system is.")
@click.option("--establishment", help="Establishment name, e.g. 'Clinique des Lilas'.")
@click.option("--finess", help="FINESS number of the establishment (9 characters).")
@click.option("--notes", help="Free text for the security team.")
@_site_options
@pass_ctx
def system_add(ctx: CliContext, name: str, kind: str, establishment: str | None, finess: str | None,
               notes: str | None, commune: str | None, postcode: str | None, patients: int | None) -> None:
    """Register a system NAME (creates the registry if needed)."""
    from canary.generate.catchment import site_commune

    site = site_commune(finess, commune, postcode)
    add_system(ctx.create_db(), name, kind, establishment=establishment, finess=finess, notes=notes,
               site_commune=site, patients=patients)
    click.echo(f"system {name} added" + (f" (site {site})" if site else ""))


@system.command("edit")
@click.argument("name")
@click.option("--kind", type=click.Choice(SYSTEM_KINDS), help="What the system is.")
@click.option("--establishment", help="Establishment name ('' clears it).")
@click.option("--finess", help="FINESS number of the establishment ('' clears it).")
@click.option("--notes", help="Free text for the security team ('' clears it).")
@_site_options
@click.option("--no-site", is_flag=True, help="Forget the explicit site (back to the FINESS department).")
@pass_ctx
def system_edit(ctx: CliContext, name: str, kind: str | None, establishment: str | None, finess: str | None,
                notes: str | None, commune: str | None, postcode: str | None, patients: int | None,
                no_site: bool) -> None:
    """Change a system's description, place or size; canaries already made keep theirs."""
    get_system(ctx.db, name)
    from canary.generate.catchment import site_commune

    site = site_commune(finess or None, commune, postcode)
    if no_site and site:
        raise CanaryError("--no-site cannot be combined with --commune/--postcode")
    edit_system(ctx.db, name, kind=kind, establishment=establishment, finess=finess, notes=notes,
                site_commune="" if no_site else site, patients=patients)
    click.echo(f"system {name} updated")


@system.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def system_list(ctx: CliContext, as_json: bool) -> None:
    """List systems with their active canary counts."""
    rows = list_systems(ctx.db)
    echo_rows(rows, ["name", "kind", "establishment", "finess", "site_commune", "patients", "canaries"],
              as_json=as_json, empty="no system yet")


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


COMMANDS = [init, system, config, events, list_, show, export]
