"""Commands of canary.plant: plant, plants, retire, rotate; and lint, which reads the canaries and their plantings."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from canary.errors import CanaryError
from canary.output import echo_json, echo_rows, echo_table
from canary.plant.channels.file import export as fileexport
from canary.plant.lifecycle import list_plantings
from canary.plant.views import planting_view
from canary.store.context import CliContext, pass_ctx
from canary.store.registry import list_canaries
from canary.store.views import export_view

if TYPE_CHECKING:
    from canary.generate.patient import BoundedGenerator
    from canary.plant.reports import PlantReport, RetireReport
    from canary.plant.trickle import TrickleReport

# The planter and its channels (hl7, fhir.resources) are imported inside the commands: every other command
# starts faster.

def _echo_plant(report: PlantReport) -> None:
    for warning in report.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)
    click.echo(f"{report.target}: {len(report.planted)} planted / plantés, {report.already} already there / déjà "
               f"présents, {len(report.failed)} failed / en échec")
    if report.scheduled:
        click.echo(f"  {report.scheduled} left to a trickle / laissés à l'arrivée progressive "
                   "(canary plants --schedule)")
    for canary_id, error in report.failed:
        click.echo(f"  {canary_id}: {error}", err=True)


def _echo_trickle(trickle: TrickleReport) -> None:
    for warning in trickle.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)
    click.echo(f"{trickle.target}: {len(trickle.scheduled)} scheduled / programmés from {trickle.first_at} to "
               f"{trickle.last_at} (trickle {trickle.trickle}); 'canary serve' plants each one when due / "
               f"plantés à leur heure par 'canary serve'")


def _raise_if_failed(report: PlantReport) -> None:
    if report.stopped:
        raise CanaryError(f"planting stopped / plantation interrompue: {report.stopped}")
    if report.failed:
        raise CanaryError(f"{len(report.failed)} canary(ies) not planted / non plantés; see 'canary plants'")


@click.command("plant")
@click.argument("system")
@click.option("--to", "url", required=True, help="Target: mllp://host:port, mllps://host:port (MLLP over TLS), "
              "https://host/fhir or file:///path.")
@click.option("--token-env", help="FHIR: name of the environment variable holding the bearer token.")
@click.option("--format", "fmt", type=click.Choice(fileexport.FORMATS), help="File: csv, json or mediboard "
              "(Mediboard's patients, id_sante400 and medecin tables as a MariaDB dump; default from the file "
              "extension: .json, .sql, else csv).")
@click.option("--mapping", type=click.Choice(list(fileexport.MAPPINGS)), help="File: column names (default, "
              "mediboard).")
@click.option("--delimiter", help="File: CSV delimiter (default ';').")
@click.option("--encoding", help="File and MLLP: character encoding (default utf-8).")
@click.option("--insecure", is_flag=True, help="FHIR: do not verify the TLS certificate (test servers only).")
@click.option("--app", help="MLLP: receiving application (MSH-5), required with --facility (or ?app= in the URL).")
@click.option("--facility", help="MLLP: receiving facility (MSH-6), required (or ?facility= in the URL).")
@click.option("--retire", "retire_with", help="How retire removes these canaries: MLLP a31-inactive (default) or "
              "a40-merge; FHIR delete (default) or inactive.")
@click.option("--merge-into", help="Refused: merging every canary into one record makes one chart of many identities "
              "(a40-merge merges each into a distinct live canary).")
@click.option("--tls-ca", help="MLLP over TLS: PEM bundle of the CAs to trust (default: the system store).")
@click.option("--tls-cert", help="MLLP over TLS: PEM client certificate for mutual TLS.")
@click.option("--tls-key", help="MLLP over TLS: PEM private key of --tls-cert (only the path is stored).")
@click.option("--tls-server-name", help="MLLP over TLS: name expected in the server certificate (and sent as SNI).")
@click.option("--ipp-by", type=click.Choice(["canary", "receiver"]), help="MLLP and FHIR: who allocates the IPP: "
              "canary (default, the generated one) or receiver (sent without one; the IPP the EHR allocates, "
              "from its ACK or the created Patient, is recorded and watched).")
@click.option("--over", help="Trickle: spread the arrivals over this time (e.g. 30d, 12h), lowest IPP first, at "
              "the host's pace; 'canary serve' plants each one when due.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_ctx
def plant_cmd(ctx: CliContext, system: str, url: str, token_env: str | None, fmt: str | None, mapping: str | None,
              delimiter: str | None, encoding: str | None, insecure: bool, app: str | None, facility: str | None,
              retire_with: str | None, merge_into: str | None, tls_ca: str | None, tls_cert: str | None,
              tls_key: str | None, tls_server_name: str | None, ipp_by: str | None, over: str | None,
              as_json: bool) -> None:
    """Plant SYSTEM's active canaries into the target; running it again completes, never duplicates."""
    from canary.plant.planter import plant

    given: dict[str, Any] = dict(
        token_env=token_env, format=fmt, mapping=mapping, delimiter=delimiter, encoding=encoding, insecure=insecure,
        app=app, facility=facility, retire=retire_with, merge_into=merge_into, tls_ca=tls_ca, tls_cert=tls_cert,
        tls_key=tls_key, tls_server_name=tls_server_name, ipp_by=ipp_by)
    if over is not None:
        from canary.durations import parse_duration
        from canary.plant.trickle import schedule_plant

        trickle = schedule_plant(ctx.db, system, url, parse_duration(over), **given)
        if as_json:
            echo_json(trickle.as_dict())
        else:
            _echo_trickle(trickle)
        return
    report = plant(ctx.db, system, url, **given)
    if as_json:
        echo_json(report.as_dict())
    else:
        _echo_plant(report)
    _raise_if_failed(report)


@click.command("plants")
@click.option("--system", help="Only this system's plantings.")
@click.option("--schedule", "trickles", is_flag=True, help="The trickles instead (plant --over, rotate --over): "
              "arrivals scheduled, planted, failed, and the next one.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def plants_cmd(ctx: CliContext, system: str | None, trickles: bool, as_json: bool) -> None:
    """What is planted where, with the ids the targets gave."""
    if trickles:
        from canary.plant.schedule import status
        from canary.store.registry import get_system

        if system is not None:
            get_system(ctx.db, system)
        echo_rows(status(ctx.db, system), ["id", "system", "target", "state", "scheduled", "planted", "failed",
                                           "skipped", "next_at", "last_at", "outcome"], as_json=as_json,
                  empty="no trickle / aucune arrivée progressive")
        return
    rows = [planting_view(row) for row in list_plantings(ctx.db, system=system)]
    if not as_json:
        from canary.timezones import display_zone

        zone = display_zone(ctx.db)  # for people: the configured zone (JSON stays UTC)
        rows = [{**row, "planted_at": zone.show(row["planted_at"]) if row.get("planted_at") else None,
                 "retired_at": zone.show(row["retired_at"]) if row.get("retired_at") else None} for row in rows]
    echo_rows(rows, ["id", "canary_id", "system", "generation", "channel", "target", "receiver", "state",
                     "external_id", "planted_at", "retired_at", "error"], as_json=as_json,
              empty="no planting / aucune plantation")


def _echo_retire(report: RetireReport) -> None:
    click.echo(f"{len(report.retired)} retired / retirés, {len(report.failed)} failed / en échec")
    for warning in report.warnings:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)
    for planting_id, error in report.failed:
        click.echo(f"  planting {planting_id}: {error}", err=True)


@click.command("retire")
@click.argument("ident", required=False, metavar="ID")
@click.option("--system", help="Retire every planting of this system.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: retired, failed (planting_id, error), warnings.")
@pass_ctx
def retire_cmd(ctx: CliContext, ident: str | None, system: str | None, as_json: bool) -> None:
    """Remove plantings from their targets: ID is a planting id or a canary id, or use --system NAME."""
    from canary.plant.planter import retire, select_for_retire

    if (ident is None) == (system is None):
        raise CanaryError("give a planting or canary ID, or --system NAME (one of them)")
    rows = select_for_retire(ctx.db, ident=ident, system=system)
    if not rows:
        if as_json:
            from canary.plant.reports import RetireReport as Nothing

            echo_json(Nothing().as_dict())
        else:
            click.echo("nothing to retire / rien à retirer")
        return
    report = retire(ctx.db, rows)
    if as_json:
        echo_json(report.as_dict())
    else:
        _echo_retire(report)
    if report.failed:
        raise CanaryError(f"{len(report.failed)} planting(s) could not be removed / non retirés; "
                          "they stay marked planted")


@click.command("rotate")
@click.argument("system")
@click.option("--count", type=click.IntRange(1, 100_000), required=True, help="Canaries in the new generation.")
@click.option("--seed", type=int, help="Random seed for the new generation.")
@click.option("--keep-previous", is_flag=True, help="Leave the previous generation planted.")
@click.option("--over", help="Trickle the new generation in over this time (e.g. 30d); the previous one is retired "
              "at each target once the new one is all there.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: system, generation, canaries, resumed, plants, "
              "kept, retired, trickles, warnings, ok (as POST /api/v1/systems/NAME/rotate).")
@pass_ctx
def rotate_cmd(ctx: CliContext, system: str, count: int, seed: int | None, keep_previous: bool,
               over: str | None, as_json: bool) -> None:
    """Plant a new generation of SYSTEM's canaries wherever it is planted, then retire the previous one."""
    from canary.durations import parse_duration
    from canary.plant.rotation import rotate

    span = parse_duration(over) if over is not None else None
    # A trickled generation arrives as the host's new patients over that time (ages, IPPs at each arrival).
    generator = _generator(ctx, system, replacing=not keep_previous,
                           arriving_over=span.total_seconds() / 86_400 if span else None)
    report = rotate(ctx.db, system, count, generator, seed=seed, keep_previous=keep_previous, over=span)
    if as_json:
        from canary.generate.crowding import exhaustion_warnings as warnings_of

        echo_json(report.as_dict(warnings_of(generator.budget, generator.generator.pools, len(report.canaries))))
        if not report.ok:
            raise CanaryError("rotation incomplete / rotation incomplète; run 'canary plant' again, then "
                              "'canary retire' for what remains")
        return
    if report.resumed:
        click.echo(f"generation {report.generation} was not planted everywhere: completing that rotation, nothing "
                   f"generated / rotation précédente inachevée, complétée")
    click.echo(f"generation {report.generation}: {len(report.canaries)} canaries / canaris")
    from canary.generate.crowding import exhaustion_warnings

    for line in exhaustion_warnings(generator.budget, generator.generator.pools, len(report.canaries)):
        click.secho(f"WARNING: {line}", fg="yellow", err=True)
    for trickle in report.trickles:
        _echo_trickle(trickle)
    for planted in report.plants:
        _echo_plant(planted)
    for address in report.kept:
        click.secho(f"WARNING: {address}: previous generation kept, the new one is not fully planted",
                    fg="yellow", err=True)
    if not keep_previous and not report.trickles:
        _echo_retire(report.retired)
    if not report.ok:
        raise CanaryError("rotation incomplete / rotation incomplète; run 'canary plant' again, then "
                          "'canary retire' for what remains")


def _generator(ctx: CliContext, system: str, *, replacing: bool, arriving_over: float | None = None,
               count: int | None = None) -> BoundedGenerator:
    """The real patient generator, built the way 'canary seed' builds it (``replacing``: the system's
    current canaries leave it, so they do not count against the crowding bounds)."""
    try:
        from canary.generate.factory import generator_for_system
    except ImportError as exc:
        raise CanaryError(f"the patient generator is not available: {exc}") from exc
    return generator_for_system(ctx.db, ctx.db_path, system, replacing=replacing, arriving_over=arriving_over,
                                count=count)


@click.command()
@click.option("--system", help="Only this system's canaries.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def lint(ctx: CliContext, system: str | None, as_json: bool) -> None:
    """Check canaries for anything an attacker could use to filter them out."""
    from canary.generate.contact_points import unfilled_contacts
    from canary.generate.factory import registers_from_settings
    from canary.generate.lint import lint_records, tokenless_problems, unfilled_problems
    from canary.generate.pools import pools_from_settings
    from canary.generate.population import population_checks
    from canary.generate.reference import Reference
    from canary.generate.registers.lookup import coverage_notes
    from canary.plant.lint import planting_problems
    from canary.store.tokens import tokenless

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


COMMANDS: list[click.Command] = [plant_cmd, plants_cmd, retire_cmd, rotate_cmd, lint]
