"""``canary logs``: watch EHR audit trails for canary reads (add, list, remove, replay, allow)."""

from __future__ import annotations

from pathlib import Path

import click

from canary.output import echo_json, echo_rows
from canary.store.context import CliContext, pass_ctx
from canary.watch.accesslog.allow import add_rule, list_rules, remove_rule
from canary.watch.accesslog.parsers import FORMATS, parse_field_options
from canary.watch.accesslog.replay import replay_file
from canary.watch.accesslog.sources import LIST_KEYS, add_source, list_sources, remove_source, source_for_system
from canary.watch.accesslog.sqltable import SQL_FORMATS


@click.group()
def logs() -> None:
    """EHR access logs: a canary opened in an audit trail is an alarm. / Journaux d'accès du DPI."""


@logs.command("add")
@click.argument("system")
@click.option("--from", "url", required=True, metavar="URL",
              help="syslog://HOST:PORT (also syslog+udp://, syslog+tcp://), file:///path, "
                   "fhir-auditevent:https://server/fhir or sql+mysql://user@host/db?table=user_log "
                   "(also sql+postgresql://; password from the environment)")
@click.option("--format", "fmt", type=click.Choice(FORMATS + SQL_FORMATS),
              help="Line format (implied for fhir-auditevent: and sql+ sources).")
@click.option("--pattern", help="Regex with named groups user, patient (or ipp, nir), action, time, ip.")
@click.option("--field", "fields", multiple=True, metavar="KEY=PATH",
              help="jsonl: dotted path, csv: column name or 0-based index; KEY is account, patient, action, "
                   "time or ip (patient may repeat).")
@click.option("--every", help="Polling period of a fhir-auditevent: source (default 1m) or of a sql+ source "
                              "(default 5s), e.g. 30s.")
@click.option("--ipp-query", metavar="SQL",
              help="sql+ sources: SELECT (patient id, IPP) ... IN ({ids}), to map the EHR's patient ids to IPPs.")
@click.option("--name", help="Source name (default: SYSTEM); needed for a second trail of one system.")
@pass_ctx
def logs_add(ctx: CliContext, system: str, url: str, fmt: str | None, pattern: str | None,
             fields: tuple[str, ...], every: str | None, ipp_query: str | None, name: str | None) -> None:
    """Watch an audit trail of SYSTEM. / Surveiller un journal d'accès de SYSTEM."""
    source = add_source(ctx.db, system, url, fmt, pattern=pattern, fields=parse_field_options(fields),
                        every=every, name=name, ipp_query=ipp_query)
    click.echo(f"source {source['name']} added ({source['kind']}, {source['format']}); a running 'canary serve' "
               "starts it within 5 s / un 'canary serve' en cours la démarre sous 5 s")


@logs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def logs_list(ctx: CliContext, as_json: bool) -> None:
    """Sources with their counters (lines, malformed, matched, events). / Sources et compteurs."""
    rows = [{k: s[k] for k in LIST_KEYS} for s in list_sources(ctx.db)]
    echo_rows(rows, ["name", "system", "kind", "format", "url", "bytes_received", "lines_received", "lines",
                      "malformed", "matched", "events", "last_error"],
              as_json=as_json, empty="no access-log source / aucune source")


@logs.command("remove")
@click.argument("name")
@pass_ctx
def logs_remove(ctx: CliContext, name: str) -> None:
    """Stop watching source NAME (its events stay). / Retirer une source (ses événements restent)."""
    remove_source(ctx.db, name)
    click.echo(f"source {name} removed")


@logs.command("replay")
@click.argument("system")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--source", "source_name", help="Borrow the format of this source of SYSTEM.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Format (default: SYSTEM's source's).")
@click.option("--pattern", help="Regex for --format regex.")
@click.option("--field", "fields", multiple=True, metavar="KEY=PATH")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def logs_replay(ctx: CliContext, system: str, file: Path, source_name: str | None, fmt: str | None,
                pattern: str | None, fields: tuple[str, ...], as_json: bool) -> None:
    """Backfill an archived trail of SYSTEM (.gz, .bz2, .xz too). / Rejouer une archive."""
    from canary.errors import CanaryError
    from canary.store.registry import get_system

    get_system(ctx.db, system)
    source = source_for_system(ctx.db, system, source_name)
    field_map = parse_field_options(fields)
    if fmt is None:
        if source is None:
            raise CanaryError(f"{system} has no access-log source: give --format")
        fmt, pattern, field_map = source["format"], pattern or source["pattern"], field_map or source["fields"]
    result = replay_file(ctx.db, system, file, fmt, pattern=pattern, fields=field_map)
    if as_json:
        echo_json(result)
    else:
        click.echo(f"{result['lines']} lines, {result['malformed']} malformed, {result['matched']} touching a "
                   f"canary, {result['events']} new events ({result['critical']} critical)")
        if result.get("last_malformed"):
            click.echo(f"last malformed: {result['last_malformed']}")
    if result.get("error"):
        raise CanaryError(result["error"])


@logs.group("allow")
def allow() -> None:
    """Known jobs (backup, ETL) recorded at severity info. / Comptes autorisés (sauvegarde, ETL)."""


@allow.command("add")
@click.argument("system")
@click.option("--account", required=True, help="Account name as written in the trail (case-insensitive).")
@click.option("--owner", required=True, help="Who answers for this job.")
@click.option("--expires", required=True, help="YYYY-MM-DD (valid through that day, UTC) or ISO date-time.")
@click.option("--reason", required=True, help="Why this account reads canaries.")
@pass_ctx
def allow_add(ctx: CliContext, system: str, account: str, owner: str, expires: str, reason: str) -> None:
    """Allow ACCOUNT's reads on SYSTEM until --expires. / Autoriser un compte jusqu'à --expires."""
    rule = add_rule(ctx.db, system, account, owner, expires, reason)
    click.echo(f"allow-rule {rule['id']} added: {account} on {system} until {rule['expires_at']}")


@allow.command("list")
@click.option("--all", "include_expired", is_flag=True, help="Include expired rules.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def allow_list(ctx: CliContext, include_expired: bool, as_json: bool) -> None:
    """Allow-rules in force. / Règles en vigueur."""
    rows = list_rules(ctx.db, include_expired=include_expired)
    echo_rows(rows, ["id", "system", "account", "owner", "expires_at", "active", "reason"],
              as_json=as_json, empty="no allow-rule / aucune règle")


@allow.command("remove")
@click.argument("rule_id", type=int)
@pass_ctx
def allow_remove(ctx: CliContext, rule_id: int) -> None:
    """Delete allow-rule RULE_ID. / Supprimer une règle."""
    remove_rule(ctx.db, rule_id)
    click.echo(f"allow-rule {rule_id} removed")


COMMANDS: list[click.Command] = [logs]
