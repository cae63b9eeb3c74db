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
from canary.settings import get_setting
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
    from canary.generate.factory import host_and_generator

    pools = pools_from_settings(ctx.db)
    if not pools.phones:
        click.secho("WARNING: no phone pool configured (pool.phones): these canaries carry no phone number. "
                    "A thief may notice; configure numbers you own.", fg="yellow", err=True)
    if not (pools.mail_domains or pools.mailbox_providers):
        click.secho("WARNING: no mail pool configured (pool.mailbox_providers, pool.mail_domains): these canaries "
                    "carry no e-mail address. Configure mailboxes or domains you own.", fg="yellow", err=True)
    for name, channel in (("tripwire.base_url", "callback URL"), ("tripwire.dns_zone", "DNS name")):
        if not get_setting(ctx.db, name):
            click.secho(f"WARNING: {name} is not set: these canaries carry no {channel} and can never fire on "
                        f"it. Set it, then run 'canary tripwire fill-tokens' before planting.", fg="yellow", err=True)
    host, generator = host_and_generator(ctx.db, ctx.db_path, system)
    notice = host.no_place_notice()
    if notice:
        click.secho(f"WARNING: {notice}.", fg="yellow", err=True)
    budget = generator.budget
    canaries = seed_system(ctx.db, system, count, generator, seed=seed)
    for canary in canaries:
        click.echo(canary["id"])
    for line in exhaustion_warnings(budget, pools, len(canaries)):
        click.secho(f"WARNING: {line}", fg="yellow", err=True)
    for problem in host.findings(ctx.db, pools, date.today()):
        click.secho(f"WARNING: {problem.message} (see 'canary plan {system}').", fg="yellow", err=True)
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
    from canary.generate.host import population_checks
    from canary.generate.lint import lint_records, unfilled_problems
    from canary.generate.reference import Reference
    from canary.generate.registers.lookup import coverage_notes

    canaries = [_export_view(c) for c in list_canaries(ctx.db, system=system, include_retired=False)]
    pools = pools_from_settings(ctx.db)
    reference = Reference.load()
    registers = registers_from_settings(ctx.db, ctx.db_path)
    problems = lint_records(canaries, date.today(), pools, registers, reference)
    problems += unfilled_problems(unfilled_contacts(ctx.db, system))
    population, notices = population_checks(ctx.db, (str(c["system"]) for c in canaries), pools, reference,
                                            date.today())
    problems += population
    notes = notices + coverage_notes(canaries, registers)
    rows = [{"canary_id": cid, "rule": p.rule, "field": p.field, "message": p.message} for cid, p in problems]
    rows += _tripwire_problems(ctx, system)
    rows += _planting_problems(ctx, system)
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


@click.group()
def profile() -> None:
    """Host profiles: aggregates of a system's real patients that canaries follow."""


@profile.command("build")
@click.argument("system")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", "mappings", multiple=True,
              help="COLUMN=FIELD pairs (comma-separated, repeatable) or a built-in name (mediboard, canary).")
@pass_ctx
def profile_build(ctx: CliContext, system: str, export: Path, mappings: tuple[str, ...]) -> None:
    """Aggregate EXPORT (CSV or JSON of SYSTEM's patients) into its host profile; no patient value is kept."""
    from canary.generate.host import profile_system

    built = profile_system(ctx.db, system, export, mappings, date.today())
    click.echo(f"profile of {system} built from {built['patients']:,} patients (aggregates only)")


@profile.command("show")
@click.argument("system")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def profile_show(ctx: CliContext, system: str, as_json: bool) -> None:
    """Print SYSTEM's host profile."""
    from canary.store.registry import get_host_profile

    get_system(ctx.db, system)
    data = get_host_profile(ctx.db, system)
    if data is None:
        raise CanaryError(f"system {system!r} has no host profile; build one with 'canary profile build'")
    if as_json:
        echo_json(data)
        return
    click.echo(f"patients: {data['patients']:,} (built {data['built_at']})")
    for key in ("pyramid", "email_domains", "identity_status"):
        part = data.get(key)
        if part:
            shown = ", ".join(f"{k}={v}" for k, v in list(part["counts"].items())[:12])
            click.echo(f"{key}: {shown}{', ...' if len(part['counts']) > 12 else ''} (other {part['other']})")
    for kind, part in (data.get("geography") or {}).items():
        if part:
            top = ", ".join(f"{k}={v}" for k, v in list(part["counts"].items())[:10])
            click.echo(f"{kind}: {len(part['counts'])} published, other {part['other']}; top: {top}")
    for kind, shares in (data.get("contact") or {}).items():
        click.echo(f"with {kind}: " + ", ".join(f"{g} {v}" for g, v in shares.items()))
    ipp = data.get("ipp")
    if ipp:
        click.echo(f"ipp: {ipp['length']} characters, prefix {ipp['prefix']!r}, live range {ipp['low']}-{ipp['high']}, "
                   f"density {ipp['density']}")
    if data.get("names"):
        click.echo("names: " + ", ".join(f"{k} {v}" for k, v in data["names"].items()))


@click.command("plan")
@click.argument("system")
@click.option("--patients", type=click.IntRange(1),
              help="How many patients the system holds (default: its --patients, else its profile's count).")
@click.option("--sample", type=click.IntRange(0), default=1000, show_default=True,
              help="Records in a published sample of the dump.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plan_(ctx: CliContext, system: str, patients: int | None, sample: int, as_json: bool) -> None:
    """What a thief holding SYSTEM's whole dump could filter, and how many canaries the pools can carry."""
    from canary.generate.host import Host

    host = Host.load(ctx.db, system)
    patients = patients or host.patients()
    if not patients:
        raise CanaryError(f"system {system!r}: how many patients does it hold? give --patients N "
                          f"(or 'canary system edit {system} --patients N')")
    report = host.plan(ctx.db, patients=patients, sample=sample, pools=pools_from_settings(ctx.db), today=date.today())
    if as_json:
        echo_json(report)
        return
    click.echo(f"system {system}: {report['canaries']} active canaries among {patients:,} patients; site "
               f"{report['site'] or 'none (national mix)'}; host profile: {'yes' if report['profile'] else 'no'}")
    rows = [{"filter": f["name"], "canaries": f["canaries_flagged"], "patients": f["patients_flagged"],
             "advantage": f["advantage"], "noise": f["noise"] or None, "budget": f["budget"], "note": f["note"]}
            for f in report["filters"]]
    echo_table(rows, ["filter", "canaries", "patients", "advantage", "noise", "budget", "note"])
    budget = report["stealth_budget"]
    click.echo(f"stealth budget: {budget if budget is not None else 'no pool limit'} canaries "
               f"(advantage <= {report['threshold']} on block and mail filters)")
    click.echo(f"chance that a published sample of {sample:,} records holds a canary: {report['sample_chance']:.1%}")


def _tripwire_problems(ctx: CliContext, system: str | None) -> list[dict[str, Any]]:
    """Canaries that can never fire: no callback URL or DNS name in their record."""
    from canary.tokens import tokenless

    setting = {"url": "tripwire.base_url", "hostname": "tripwire.dns_zone"}
    return [{"canary_id": cid, "rule": "no-tripwire", "field": f"tokens.{key}",
             "message": f"no {'callback URL' if key == 'url' else 'DNS name'}: can never fire on it "
                        f"(set {setting[key]}, then 'canary tripwire fill-tokens' if not planted)"}
            for cid, key in tokenless(ctx.db, system)]


def _planting_problems(ctx: CliContext, system: str | None) -> list[dict[str, Any]]:
    """Canaries planted without the IPP namespace real patients carry there: a thief can filter on it.

    The same condition as the planter's warning (the channel's authority_options), made a lint problem so that it
    is not lost in the planting output."""
    from canary.plant.channels import CHANNELS
    from canary.plant.channels.base import lacks_authority
    from canary.plant.lifecycle import list_plantings

    rows = []
    for planting in list_plantings(ctx.db, system=system, states=("planned", "planted")):
        channel = CHANNELS[planting["channel"]]
        if not lacks_authority(channel, planting["options"]):
            continue
        first, *others = channel.authority_options
        alternatives = "".join(f" (or ?{name}=...)" for name in others)
        hint = f"add ?{first}=...{alternatives} to the target and plant again"
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


COMMANDS = [seed, list_, show, export, lint, contacts, profile, plan_]
