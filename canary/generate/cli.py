"""Commands that make and check canaries: seed, lint, contacts, profile, plan."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from canary.cli import CliContext, pass_ctx
from canary.errors import CanaryError
from canary.generate.pools import pools_from_settings
from canary.output import echo_json, echo_table
from canary.settings import get_str
from canary.store.registry import get_system, list_canaries
from canary.store.seeding import seed_batches
from canary.store.views import export_view


@click.command()
@click.argument("system")
@click.option("--count", type=click.IntRange(1, 100_000), required=True, help="How many canaries.")
@click.option("--seed", type=int, help="Random seed: the same seed and registry state give the same canaries.")
@click.option("--over", help="New patients arriving over this time (e.g. 30d): ages at arrival of the host's new "
              "patients, IPPs the host hands out at each arrival; then plant them with 'canary plant --over' the "
              "same time. Needs a host profile with IPPs against time.")
@pass_ctx
def seed(ctx: CliContext, system: str, count: int, seed: int | None, over: str | None) -> None:
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
        if not get_str(ctx.db, name):
            click.secho(f"WARNING: {name} is not set: these canaries carry no {channel} and can never fire on "
                        f"it. Set it, then run 'canary tripwire fill-tokens' before planting.", fg="yellow", err=True)
    days = None
    if over is not None:
        from canary.plant.timing import parse_duration

        days = parse_duration(over).total_seconds() / 86_400
    host, generator = host_and_generator(ctx.db, ctx.db_path, system, arriving_over=days, count=count)
    notice = host.no_place_notice()
    if notice:
        click.secho(f"WARNING: {notice}.", fg="yellow", err=True)
    budget = generator.budget
    ids: list[str] = []
    # Only the ids are kept (a seed of 100,000 records held whole took hundreds of MB); the bar shows on a
    # terminal only, so scripts reading stderr see the warnings alone.
    with click.progressbar(length=count, label="seeding", file=sys.stderr, hidden=not sys.stderr.isatty()) as bar:
        for batch in seed_batches(ctx.db, system, count, generator, seed=seed):
            ids += [canary["id"] for canary in batch]
            bar.update(len(batch))
    for canary_id in ids:
        click.echo(canary_id)
    for line in exhaustion_warnings(budget, pools, len(ids)):
        click.secho(f"WARNING: {line}", fg="yellow", err=True)
    for problem in host.findings(ctx.db, pools, date.today()):
        click.secho(f"WARNING: {problem.message} (see 'canary plan {system}').", fg="yellow", err=True)
    pending = sum(p["state"] == "pending" for p in list_contact_points(ctx.db, pending_only=True, system=system))
    if pending:
        click.echo(f"{pending} mailboxes to open before these canaries carry them: "
                   "canary contacts list --pending, then canary contacts confirm", err=True)


@click.command()
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def lint(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """Check canaries for anything an attacker could use to filter them out."""
    from canary.generate.contact_points import unfilled_contacts
    from canary.generate.factory import registers_from_settings
    from canary.generate.host import population_checks
    from canary.generate.lint import lint_records, tokenless_problems, unfilled_problems
    from canary.generate.reference import Reference
    from canary.generate.registers.lookup import coverage_notes
    from canary.plant.lint import planting_problems
    from canary.tokens import tokenless

    canaries = [export_view(c) for c in list_canaries(ctx.db, system=system, include_retired=False)]
    pools = pools_from_settings(ctx.db)
    reference = Reference.load()
    registers = registers_from_settings(ctx.db, ctx.db_path)
    problems = lint_records(canaries, date.today(), pools, registers, reference)
    problems += unfilled_problems(unfilled_contacts(ctx.db, system))
    from canary.generate.self_audit import audited_systems

    systems = [str(c["system"]) for c in canaries] + audited_systems(ctx.db, system)
    population, notices = population_checks(ctx.db, systems, pools, reference, date.today())
    problems += population
    notes = notices + coverage_notes(canaries, registers)
    problems += tokenless_problems(tokenless(ctx.db, system))
    problems += planting_problems(ctx.db, system)
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
@click.option("--wait", type=click.IntRange(1, 3600),
              help="Seconds to wait for the probe mails to come back (default: tripwire.probe_wait).")
@pass_ctx
def contacts_confirm(ctx: CliContext, values: tuple[str, ...], all_pending: bool, wait: int | None) -> None:
    """Put mailboxes you have opened (VALUE: the address) on their canaries, once a probe mail sent to
    each came back through the tripwire (IMAP polling or the SMTP forward); the others are refused."""
    from canary.generate.contact_points import confirm_mailboxes, pending_mailboxes
    from canary.settings import get_int
    from canary.watch.tripwire.probe import ProbeRelay, ReadBack, probe_mailboxes

    if bool(values) == all_pending:
        raise CanaryError("name the mailboxes you opened (canary contacts confirm ADDRESS...) or pass --all")
    addresses = pending_mailboxes(ctx.db, values, all_pending=all_pending)
    results = []
    if addresses:
        relay, read_back = ProbeRelay.from_settings(ctx.db), ReadBack.from_settings(ctx.db)
        results = probe_mailboxes(ctx.db, addresses, wait=wait or get_int(ctx.db, "tripwire.probe_wait"),
                                  relay=relay, read_back=read_back)
    confirmed = confirm_mailboxes(ctx.db, [r.address for r in results if r.received])
    click.echo(f"{len(confirmed)} mailboxes confirmed")
    refused = [r for r in results if not r.received]
    for result in refused:
        click.secho(f"refused: {result.address}: {result.how}", fg="red", err=True)
    if refused:
        raise SystemExit(1)


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


def _print_audit(audit: dict) -> None:
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


COMMANDS = [seed, lint, contacts, profile, plan_]
