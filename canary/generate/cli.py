"""Commands that describe systems and make canaries for them: system, seed, profile, plan."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from canary.errors import CanaryError
from canary.generate.pools import pools_from_settings
from canary.generate.seeding import MAX_SEED
from canary.output import echo_json, echo_rows, echo_table
from canary.store.context import CliContext, pass_ctx
from canary.store.registry import SYSTEM_KINDS, add_system, edit_system, get_system, list_systems


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


@click.command()
@click.argument("system")
@click.option("--count", type=click.IntRange(1, MAX_SEED), required=True, help="How many canaries.")
@click.option("--seed", type=int, help="Random seed: the same seed and registry state give the same canaries.")
@click.option("--over", help="New patients arriving over this time (e.g. 30d): ages at arrival of the host's new "
              "patients, IPPs the host hands out at each arrival; then plant them with 'canary plant --over' the "
              "same time. Needs a host profile with IPPs against time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: system, generation, canaries, pending_mailboxes, "
              "warnings (as POST /api/v1/systems/NAME/seed); the warnings still go to stderr too.")
@pass_ctx
def seed(ctx: CliContext, system: str, count: int, seed: int | None, over: str | None, as_json: bool) -> None:
    """Generate COUNT canaries for SYSTEM and print their ids."""
    from canary.generate.seed_run import prepare_seed

    days = None
    if over is not None:
        from canary.durations import parse_duration

        days = parse_duration(over).total_seconds() / 86_400
    run = prepare_seed(ctx.db, ctx.db_path, system, count, arriving_over=days)
    _echo_warnings(run.warnings)
    # The bar shows on a terminal only, so scripts reading stderr see the warnings alone.
    with click.progressbar(length=count, label="seeding", file=sys.stderr, hidden=not sys.stderr.isatty()) as bar:
        seeded = run.run(ctx.db, seed=seed, progress=bar.update)
    _echo_warnings(seeded.warnings)
    if as_json:
        echo_json({"system": system, "generation": seeded.generation, "canaries": seeded.ids,
                   "pending_mailboxes": seeded.pending_mailboxes,
                   "warnings": run.warnings + seeded.warnings})  # the API's keys and texts
        return
    for canary_id in seeded.ids:
        click.echo(canary_id)
    if seeded.pending_mailboxes:
        click.echo(f"{seeded.pending_mailboxes} mailboxes to open before these canaries carry them: "
                   "canary contacts list --pending, then canary contacts confirm", err=True)


def _echo_warnings(lines: list[str]) -> None:
    for line in lines:
        click.secho(f"WARNING: {line}", fg="yellow", err=True)


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
    fallback = {"births": "canaries keep the national birth-place model",
                "ipp_time": "canary IPPs are drawn over the live range whatever their birth dates"}
    for figure, why in (built.get("not_learnt") or {}).items():
        click.echo(f"not learnt: {figure}: {why}; {fallback.get(figure, 'canaries keep the default')}")


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
    for group, part in (data.get("email_providers") or {}).items():
        top = ", ".join(f"{k}={v}" for k, v in sorted(part["counts"].items(), key=lambda kv: -kv[1])[:6])
        click.echo(f"e-mail providers, age {group}: {top} (other {part['other']})")
    for group, part in (data.get("email_shapes") or {}).items():
        forms = part["forms"]["counts"]
        top = ", ".join(f"{k}={v}" for k, v in sorted(forms.items(), key=lambda kv: -kv[1])[:5])
        digits = "?" if part["with_digits"] is None else f"{part['with_digits']:.0%}"
        click.echo(f"mailbox names, age {group}: {part['mailboxes']} mailboxes, {digits} with digits; {top}")
    ipp = data.get("ipp")
    if ipp:
        click.echo(f"ipp: {ipp['length']} characters, prefix {ipp['prefix']!r}, live range {ipp['low']}-{ipp['high']}, "
                   f"density {ipp['density']}")
    if data.get("names"):
        click.echo("names: " + ", ".join(f"{k} {v}" for k, v in data["names"].items()))
    from canary.generate.profile_births import describe_births
    from canary.generate.profile_ipp_time import describe_ipp_time

    for line in (describe_births(data), describe_ipp_time(data)):
        if line:
            click.echo(line)
    for figure, why in (data.get("not_learnt") or {}).items():
        click.echo(f"not learnt: {figure}: {why}")


@click.command("plan")
@click.argument("system")
@click.option("--patients", type=click.IntRange(1),
              help="How many patients the system holds (default: its --patients, else its profile's count).")
@click.option("--sample", type=click.IntRange(0), default=1000, show_default=True,
              help="Records in a published sample of the dump.")
@click.option("--against", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Self-audit: a trial batch against this export of SYSTEM's real patients (read, never stored).")
@click.option("--mapping", "mappings", multiple=True,
              help="With --against: COLUMN=FIELD pairs or a built-in name, as for 'profile build'.")
@click.option("--trial", type=click.IntRange(20, 20_000), default=1000, show_default=True,
              help="With --against: canaries in the trial batch (drawn in memory, nothing stored).")
@click.option("--seed", type=int, default=1, show_default=True, help="With --against: random seed of the audit.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plan_(ctx: CliContext, system: str, patients: int | None, sample: int, export: Path | None,
          mappings: tuple[str, ...], trial: int, seed: int, as_json: bool) -> None:
    """What a thief holding SYSTEM's whole dump could filter, and how many canaries the pools can carry."""
    from canary.generate.host import Host
    from canary.generate.self_audit import audit_system, get_audit

    host = Host.load(ctx.db, system)
    if export is not None:
        audit_system(ctx.db, ctx.db_path, system, export, mappings, trial=trial, seed=seed, today=date.today())
    audit = get_audit(ctx.db, system)
    # Without a size, the audited export's row count is the best one known.
    patients = patients or host.patients() or (audit["rows"] if audit else None)
    if not patients:
        raise CanaryError(f"system {system!r}: how many patients does it hold? give --patients N "
                          f"(or 'canary system edit {system} --patients N')")
    report = host.plan(ctx.db, patients=patients, sample=sample, pools=pools_from_settings(ctx.db), today=date.today())
    if audit is not None:
        report["audit"] = audit
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
    if audit is not None:
        _print_audit(audit)


def _print_audit(audit: dict[str, Any]) -> None:
    low, high = audit["auc_ci"]
    click.echo(f"\nself-audit of {audit['built_at'][:16]} ({audit['trial']:,} trial canaries against "
               f"{audit['rows']:,} real patients, {audit['per_side']:,} a side): classifier AUC {audit['auc']:.3f} "
               f"(95 % {low:.3f}-{high:.3f}; target <= {audit['auc_threshold']})")
    if audit["features"]:
        click.echo("carried by: " + ", ".join(f"{f['name']} ({f['importance']:.3f})" for f in audit["features"]))
    rows = [{"feature": f["name"], "filter": f["split"], "canaries": f["canaries_flagged"],
             "patients": f["patients_flagged"], "chance": f["noise"], "advantage": f["advantage"],
             "verdict": "FILTERS CANARIES" if f["exceeds"] else "ok"} for f in audit["filters"]]
    echo_table(rows, ["feature", "filter", "canaries", "patients", "chance", "advantage", "verdict"])
    for figure in audit["unchecked"]:
        click.echo(f"not checked: {figure}")


COMMANDS = [system, seed, profile, plan_]
