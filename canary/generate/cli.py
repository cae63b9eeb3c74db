"""Commands that make and inspect canaries: seed, list, show, export, lint."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import click

from canary.cli import CliContext, pass_ctx
from canary.errors import CanaryError
from canary.files import write_atomic
from canary.generate.pools import pools_from_settings
from canary.output import echo_json, echo_table
from canary.store.registry import get_system, list_canaries
from canary.store.seeding import seed_system


@click.command()
@click.argument("system")
@click.option("--count", type=click.IntRange(1, 100_000), required=True, help="How many canaries.")
@click.option("--seed", type=int, help="Random seed: the same seed and registry state give the same canaries.")
@pass_ctx
def seed(ctx: CliContext, system: str, count: int, seed: int | None) -> None:
    """Generate COUNT canaries for SYSTEM and print their ids."""
    get_system(ctx.db, system)
    from canary.generate.contact_points import list_contact_points
    from canary.generate.crowding import exhaustion_warnings
    from canary.generate.factory import generator_for_system

    pools = pools_from_settings(ctx.db)
    if not pools.phones:
        click.secho("WARNING: no phone pool configured (pool.phones): these canaries carry no phone number. "
                    "A thief may notice; configure numbers you own.", fg="yellow", err=True)
    if not (pools.mail_domains or pools.mailbox_providers):
        click.secho("WARNING: no mail pool configured (pool.mailbox_providers, pool.mail_domains): these canaries "
                    "carry no e-mail address. Configure mailboxes or domains you own.", fg="yellow", err=True)
    generator = generator_for_system(ctx.db, ctx.db_path, system)
    budget = generator.budget
    canaries = seed_system(ctx.db, system, count, generator, seed=seed)
    for canary in canaries:
        click.echo(canary["id"])
    for line in exhaustion_warnings(budget, pools, len(canaries)):
        click.secho(f"WARNING: {line}", fg="yellow", err=True)
    pending = sum(p["state"] == "pending" for p in list_contact_points(ctx.db, pending_only=True, system=system))
    if pending:
        click.echo(f"{pending} mailboxes to open before these canaries carry them: "
                   "canary contacts list --pending, then canary contacts confirm", err=True)


@click.command("list")
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """List canaries."""
    canaries = list_canaries(ctx.db, system=system)
    if as_json:
        echo_json([_export_view(c) for c in canaries])
        return
    rows = [{"id": c["id"], "system": c["system"], "gen": c["generation"], "status": c["status"],
             "name": _display_name(c), "sex": c.get("sex"), "birth_date": c.get("birth_date"),
             "city": (c.get("address") or {}).get("city")} for c in canaries]
    echo_table(rows, ["id", "system", "gen", "status", "name", "sex", "birth_date", "city"], empty="no canary")


@click.command()
@click.argument("canary_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx: CliContext, canary_id: str, as_json: bool) -> None:
    """Show one canary in full."""
    from canary.store.registry import get_canary

    canary = _export_view(get_canary(ctx.db, canary_id))
    if as_json:
        echo_json(canary)
        return
    for key, value in canary.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            click.echo(f"{key}:")
            for item in value:
                click.echo("  - " + ", ".join(f"{k}={v}" for k, v in item.items() if v is not None))
        elif isinstance(value, dict):
            click.echo(f"{key}: " + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None))
        else:
            click.echo(f"{key}: {value if value is not None else '-'}")


@click.command()
@click.option("--system", help="Only this system's canaries.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout).")
@pass_ctx
def export(ctx: CliContext, system: str | None, fmt: str, output: Path | None) -> None:
    """Export canaries as JSON (an array) or CSV (one row each, nested fields flattened)."""
    canaries = [_export_view(c) for c in list_canaries(ctx.db, system=system)]
    text = json.dumps(canaries, ensure_ascii=False, indent=2) + "\n" if fmt == "json" else _to_csv(canaries)
    if output is None:
        click.echo(text, nl=False)
        return
    write_atomic(output, text)
    click.echo(f"{len(canaries)} canaries written to {output}", err=True)


@click.command()
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def lint(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """Check canaries for anything an attacker could use to filter them out."""
    from canary.generate.contact_points import unfilled_contacts
    from canary.generate.factory import registers_from_settings
    from canary.generate.lint import lint_records, unfilled_problems
    from canary.generate.registers.lookup import coverage_notes

    canaries = [_export_view(c) for c in list_canaries(ctx.db, system=system, include_retired=False)]
    registers = registers_from_settings(ctx.db, ctx.db_path)
    problems = lint_records(canaries, date.today(), pools_from_settings(ctx.db), registers)
    problems += unfilled_problems(unfilled_contacts(ctx.db, system))
    notes = coverage_notes(canaries, registers)
    rows = [{"canary_id": cid, "rule": p.rule, "field": p.field, "message": p.message} for cid, p in problems]
    if as_json:
        echo_json({"checked": len(canaries), "problems": rows, "notes": notes})
    else:
        echo_table(rows, ["canary_id", "rule", "field", "message"], empty=f"{len(canaries)} canaries, no problem")
        for note in notes:
            click.echo(f"note: {note}", err=True)
    if rows:
        raise SystemExit(1)


@click.group()
def contacts() -> None:
    """Consumer mailboxes proposed for canaries, and contact points the pools could not give."""


@contacts.command("list")
@click.option("--pending", is_flag=True, help="Only mailboxes still to open and confirm.")
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def contacts_list(ctx: CliContext, pending: bool, system: str | None, as_json: bool) -> None:
    """List proposed mailboxes (pending, confirmed) and unfilled contact points of active canaries."""
    from canary.generate.contact_points import CONTACT_KEYS, list_contact_points

    rows = list_contact_points(ctx.db, pending_only=pending, system=system)
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, list(CONTACT_KEYS), empty="no pending mailbox" if pending else "no contact point")


@contacts.command("confirm")
@click.argument("values", nargs=-1)
@click.option("--all", "all_pending", is_flag=True, help="Every pending mailbox of an active canary.")
@pass_ctx
def contacts_confirm(ctx: CliContext, values: tuple[str, ...], all_pending: bool) -> None:
    """Put mailboxes you have opened (VALUE: the address) on their canaries."""
    from canary.generate.contact_points import confirm_mailboxes

    if bool(values) == all_pending:
        raise CanaryError("name the mailboxes you opened (canary contacts confirm ADDRESS...) or pass --all")
    confirmed = confirm_mailboxes(ctx.db, values, all_pending=all_pending)
    click.echo(f"{len(confirmed)} mailboxes confirmed")


def _export_view(canary: dict[str, Any]) -> dict[str, Any]:
    head = {k: canary.get(k) for k in ("id", "system", "generation", "created_at", "status")}
    return head | {k: v for k, v in canary.items() if k not in head}


def _display_name(canary: dict[str, Any]) -> str:
    names = canary.get("first_names") or [""]
    family = canary.get("used_name") or canary.get("birth_name") or ""
    return f"{family} {names[0]}".strip()


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else key, out)
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            out[prefix] = " ".join(str(v) for v in value) if prefix == "first_names" else ";".join(map(str, value))
        else:
            out[prefix] = json.dumps(value, ensure_ascii=False)
    else:
        out[prefix] = "" if value is None else str(value)


def _to_csv(canaries: list[dict[str, Any]]) -> str:
    rows = []
    for canary in canaries:
        flat: dict[str, str] = {}
        _flatten(canary, "", flat)
        rows.append(flat)
    columns = list(dict.fromkeys(col for row in rows for col in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


COMMANDS = [seed, list_, show, export, lint, contacts]
