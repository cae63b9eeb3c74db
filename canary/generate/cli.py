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
from canary.output import echo_json, echo_table
from canary.settings import get_setting
from canary.store.registry import get_system, list_canaries
from canary.store.seeding import seed_system

_MAX_POOL_RANGE = 100_000


def expand_phone_pool(entries: list[str]) -> tuple[str, ...]:
    """Owned numbers: single E.164 numbers or inclusive ranges ``+33612340000-+33612340999``."""
    numbers: list[str] = []
    for entry in entries:
        entry = entry.replace(" ", "")
        if "-" in entry[1:]:
            low, high = entry.split("-", 1)
            if not (low.startswith("+") and high.startswith("+") and len(low) == len(high)):
                raise CanaryError(f"pool.phones: range {entry!r} must be two E.164 numbers of equal length")
            start, end = int(low[1:]), int(high[1:])
            if end < start or end - start >= _MAX_POOL_RANGE:
                raise CanaryError(f"pool.phones: range {entry!r} is reversed or larger than {_MAX_POOL_RANGE}")
            numbers.extend(f"+{n}" for n in range(start, end + 1))
        elif entry.startswith("+") and entry[1:].isdigit():
            numbers.append(entry)
        else:
            raise CanaryError(f"pool.phones: {entry!r} is not an E.164 number (+33...) or a range")
    return tuple(dict.fromkeys(numbers))


def pools_from_settings(ctx: CliContext):
    from canary.generate.patient import Pools

    return Pools(
        phones=expand_phone_pool(list(get_setting(ctx.db, "pool.phones"))),
        mail_domains=tuple(d.strip().lower() for d in get_setting(ctx.db, "pool.mail_domains")),
    )


@click.command()
@click.argument("system")
@click.option("--count", type=click.IntRange(1, 100_000), required=True, help="How many canaries.")
@click.option("--seed", type=int, help="Random seed: the same seed and registry state give the same canaries.")
@pass_ctx
def seed(ctx: CliContext, system: str, count: int, seed: int | None) -> None:
    """Generate COUNT canaries for SYSTEM and print their ids."""
    get_system(ctx.db, system)
    from canary.generate.patient import PatientGenerator
    from canary.generate.reference import Reference

    pools = pools_from_settings(ctx)
    if not pools.phones:
        click.secho("WARNING: no phone pool configured (pool.phones): these canaries carry no phone number. "
                    "A thief may notice; configure numbers you own.", fg="yellow", err=True)
    if not pools.mail_domains:
        click.secho("WARNING: no mail domain pool configured (pool.mail_domains): these canaries carry no "
                    "e-mail address. Configure domains you own.", fg="yellow", err=True)
    for name, channel in (("tripwire.base_url", "callback URL"), ("tripwire.dns_zone", "DNS name")):
        if not get_setting(ctx.db, name):
            click.secho(f"WARNING: {name} is not set: these canaries carry no {channel} and can never fire on "
                        f"it. Set it, then run 'canary tripwire fill-tokens' before planting.", fg="yellow", err=True)
    generator = PatientGenerator(Reference.load(), pools)
    for canary in seed_system(ctx.db, system, count, generator, seed=seed):
        click.echo(canary["id"])


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
    from canary.generate.lint import lint_records

    canaries = [_export_view(c) for c in list_canaries(ctx.db, system=system, include_retired=False)]
    problems = lint_records(canaries, date.today(), pools_from_settings(ctx))
    rows = [{"canary_id": cid, "rule": p.rule, "field": p.field, "message": p.message} for cid, p in problems]
    rows += _tripwire_problems(ctx, system)
    rows += _planting_problems(ctx, system)
    if as_json:
        echo_json({"checked": len(canaries), "problems": rows})
    else:
        echo_table(rows, ["canary_id", "rule", "field", "message"], empty=f"{len(canaries)} canaries, no problem")
    if rows:
        raise SystemExit(1)


def _tripwire_problems(ctx: CliContext, system: str | None) -> list[dict[str, Any]]:
    """Canaries that can never fire: no callback URL or DNS name in their record."""
    from canary.watch.tripwire.tokens import tokenless

    setting = {"url": "tripwire.base_url", "hostname": "tripwire.dns_zone"}
    return [{"canary_id": cid, "rule": "no-tripwire", "field": f"tokens.{key}",
             "message": f"no {'callback URL' if key == 'url' else 'DNS name'}: can never fire on it "
                        f"(set {setting[key]}, then 'canary tripwire fill-tokens' if not planted)"}
            for cid, key in tokenless(ctx.db, system)]


def _planting_problems(ctx: CliContext, system: str | None) -> list[dict[str, Any]]:
    """Canaries planted without the IPP namespace real patients carry there: a thief can filter on it.

    The same condition as the planter's warning (canary.plant.planter), made a lint problem so that it
    is not lost in the planting output."""
    from canary.plant.lifecycle import list_plantings

    rows = []
    for planting in list_plantings(ctx.db, system=system, states=("planned", "planted")):
        options = planting["options"]
        if planting["channel"] == "mllp" and not (options.get("ipp_oid") or options.get("ipp_namespace")):
            hint = "add ?ipp_oid=... (or ?ipp_namespace=...) to the target and plant again"
        elif planting["channel"] == "fhir" and not (options.get("ipp_system") or options.get("ipp_oid")):
            hint = "add ?ipp_system=... (or ?ipp_oid=...) to the target and plant again"
        else:
            continue
        rows.append({"canary_id": planting["canary_id"], "rule": "ipp-authority", "field": "ipp",
                     "message": f"planted at {planting['target']} without the establishment's IPP assigning "
                                f"authority: real patients there carry another one ({hint})"})
    return rows


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


COMMANDS = [seed, list_, show, export, lint]
