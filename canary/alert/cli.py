"""Commands of canary.alert, added to the root ``canary`` group."""

from __future__ import annotations

import getpass
import signal
import threading
import time
from typing import Any

import click

from canary import serve_log
from canary.alert.correlate import correlate_all
from canary.alert.delivery import DeliveryWorker
from canary.alert.destinations import add_destination, destination_status, remove_destination
from canary.alert.inbox import inbox
from canary.alert.model import acknowledge, add_note, get_alert, list_alerts, reopen, resolve, with_history
from canary.alert.outbox import queued_notices
from canary.alert.sample_alert import send_test
from canary.alert.worker import correlation_loop, delivery_loop
from canary.output import echo_json, echo_rows, echo_table
from canary.store.context import CliContext, pass_ctx
from canary.store.events import SEVERITIES
from canary.store.filters import alert_filter, inbox_filter
from canary.timezones import display_zone


@click.command("alerts")
@click.option("--open", "open_only", is_flag=True, help="Only alerts not resolved (open or acknowledged).")
@click.option("--system", help="Only alerts naming this system.")
@click.option("--since", help="Only alerts seen at or after this time: ISO (2026-11-01, 2026-11-01T08:00Z) or back "
                               "from now (30m, 24h, 7d, 2w).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def alerts_command(ctx: CliContext, open_only: bool, system: str | None, since: str | None, as_json: bool) -> None:
    """Alerts, newest first (new events are correlated first)."""
    checked = alert_filter(ctx.db, state="open" if open_only else None, system=system, since=since)
    correlate_all(ctx.db)
    rows = list_alerts(ctx.db, open_only=open_only, system=checked.system, since=checked.since)
    if as_json:
        echo_json(with_history(ctx.db, rows))
        return
    if not rows:
        click.echo("aucune alerte / no alert")
        return
    zone = display_zone(ctx.db)  # times for people in the configured zone, as in the console and alert texts
    echo_table([{**row, "systems": [f"{d['system']}×{d['canaries']}" for d in row["by_system"]] or row["systems"],
                 "first_seen": zone.show(row["first_seen"]), "last_seen": zone.show(row["last_seen"])}
                for row in rows],
               ["id", "state", "severity", "channel", "systems", "count", "first_seen", "last_seen"])
    click.echo(f"({zone.name})")
    for row in rows:
        if row["state"] != "resolved":
            click.echo(f"\n#{row['id']} {row['title']}\n{row['text']['fr']}\n{row['text']['en']}")


@click.command("inbox")
@click.option("--state", type=click.Choice(["open", "acknowledged", "resolved", "all"]), default="all",
              show_default=True, help="open: not resolved (open or acknowledged).")
@click.option("--system", help="Only alerts naming this system.")
@click.option("--channel", help="Only alerts with an event on this channel (dns, http, leak...).")
@click.option("--severity", type=click.Choice(SEVERITIES), help="Only alerts at least this severe.")
@click.option("--since", help="Only alerts seen at or after this time: ISO or back from now (30m, 24h, 7d).")
@click.option("--search", help="Words each found in the alert's systems, canaries, accounts, sources or notes; "
                                "#12 is alert 12.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Alerts per page.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Alerts to skip (paging).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: items, total, next_offset (as GET /api/v1/inbox).")
@pass_ctx
def inbox_command(ctx: CliContext, state: str, system: str | None, channel: str | None, severity: str | None,
                  since: str | None, search: str | None, limit: int, offset: int, as_json: bool) -> None:
    """The triage inbox: open alerts first, then acknowledged, then resolved; the most severe, then the latest."""
    checked = inbox_filter(ctx.db, state=state, system=system, channel=channel, severity=severity, since=since,
                           search=search)
    correlate_all(ctx.db)
    page = inbox(ctx.db, checked, limit=limit, offset=offset)
    if as_json:
        echo_json(page)
        return
    if not page["items"]:
        click.echo("aucune alerte / no alert")
        return
    zone = display_zone(ctx.db)
    for row in page["items"]:
        click.echo(f"#{row['id']} {row['state']} {row['severity']} {zone.show(row['last_seen'])} "
                   f"{row['summary']['en']}")
    shown = offset + len(page["items"])
    click.echo(f"{shown}/{page['total']} ({zone.name})" + (f"; next: --offset {page['next_offset']}"
                                                          if page["next_offset"] is not None else ""))


@click.group("alert")
def alert_group() -> None:
    """Work an alert: show it with its timeline, acknowledge, note, resolve, reopen."""


@alert_group.command("show")
@click.argument("alert_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the alert with its history).")
@pass_ctx
def alert_show(ctx: CliContext, alert_id: int, as_json: bool) -> None:
    """Alert ID in full, with its timeline (notes, acknowledgements, resolutions, reopenings)."""
    correlate_all(ctx.db)
    (view,) = with_history(ctx.db, [get_alert(ctx.db, alert_id)])
    if as_json:
        echo_json(view)
        return
    click.echo(f"#{view['id']} {view['title']}\n{view['text']['fr']}\n{view['text']['en']}")
    click.echo(f"canaux / channels: {', '.join(view['channels'])}")
    zone = display_zone(ctx.db)
    for entry in view.get("history", []):
        change = f" {entry['from_state']} → {entry['to_state']}" if entry["from_state"] != entry["to_state"] else ""
        note = f": {entry['note']}" if entry["note"] else ""
        click.echo(f"{zone.show(entry['at'])} {entry['by'] or '-'} {entry['action']}{change}{note}")


def _who(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _lifecycle_command(name: str, action: Any, help_text: str, done_fr: str, done_en: str,
                       who_key: str) -> click.Command:
    @alert_group.command(name, help=help_text)
    @click.argument("alert_id", metavar="ID", type=int)
    @click.option("--note", help="Why, or what was done (kept in the alert's timeline).")
    @click.option("--by", help="Who (default: the system user).")
    @click.option("--json", "as_json", is_flag=True, help="Print the alert as it is now, with its history, as JSON.")
    @pass_ctx
    def command(ctx: CliContext, alert_id: int, note: str | None, by: str | None, as_json: bool) -> None:
        view = action(ctx.db, alert_id, _who(by), note)
        if as_json:
            echo_json(with_history(ctx.db, [view])[0])
            return
        who = view[who_key] if who_key else _who(by)
        click.echo(f"alerte {alert_id} {done_fr} {who} / alert {alert_id} {done_en} by {who}")
        notices = queued_notices(ctx.db, alert_id, view["state"]) if view["state"] != "open" else 0
        if notices:
            click.echo(f"avis mis en file pour {notices} destination(s) / notice queued for {notices} destination(s)")

    return command


_lifecycle_command("ack", acknowledge, "Acknowledge alert ID: someone is on it (an escalation still pages).",
                   "prise en compte par", "acknowledged", "acked_by")
_lifecycle_command("resolve", resolve, "Resolve alert ID: new events with the same key open a new alert.",
                   "résolue par", "resolved", "resolved_by")
_lifecycle_command("reopen", reopen, "Reopen resolved alert ID: it was closed too early.",
                   "rouverte par", "reopened", "")


@alert_group.command("note")
@click.argument("alert_id", metavar="ID", type=int)
@click.argument("text")
@click.option("--by", help="Who (default: the system user).")
@click.option("--json", "as_json", is_flag=True, help="Print the alert as it is now, with its history, as JSON.")
@pass_ctx
def alert_note(ctx: CliContext, alert_id: int, text: str, by: str | None, as_json: bool) -> None:
    """Add TEXT to alert ID's timeline (a ticket number, what was checked); the state does not change."""
    view = add_note(ctx.db, alert_id, _who(by), text)
    if as_json:
        echo_json(with_history(ctx.db, [view])[0])
        return
    click.echo(f"note ajoutée à l'alerte {alert_id} / note added to alert {alert_id}")


@click.group("notify")
def notify_group() -> None:
    """Where alerts are sent (apprise URLs, signed webhooks, syslog/CEF, JSON lines)."""


@notify_group.command("add", short_help="Add a destination URL with its routing.")
@click.argument("url")
@click.option("--min-severity", type=click.Choice(SEVERITIES), default="low", show_default=True,
              help="Send only alerts at least this severe.")
@click.option("--system", "systems", multiple=True, help="Send only alerts involving this system (repeatable).")
@pass_ctx
def notify_add(ctx: CliContext, url: str, min_severity: str, systems: tuple[str, ...]) -> None:
    """Add destination URL (e.g. "pagerduty://...", "jsons://siem.example.fr/hook", "mailtos://...")."""
    destination = add_destination(ctx.db, url, min_severity=min_severity, systems=list(systems))
    click.echo(f"destination {destination.id} ajoutée / added: {destination.shown_url}")
    if destination.secret:
        click.echo(f"secret HMAC (affiché une fois / shown once): {destination.secret}")
        click.echo("header X-Canary-Signature: sha256=HMAC-SHA256(secret, body)")


@notify_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def notify_list(ctx: CliContext, as_json: bool) -> None:
    """Destinations with their routing and delivery health."""
    rows = destination_status(ctx.db)
    echo_rows(rows, ["id", "url", "min_severity", "systems", "pending", "failures", "last_error"],
              as_json=as_json, empty="aucune destination / no destination")


@notify_group.command("remove")
@click.argument("destination_id", metavar="ID", type=int)
@pass_ctx
def notify_remove(ctx: CliContext, destination_id: int) -> None:
    """Remove destination ID (its undelivered messages go with it)."""
    remove_destination(ctx.db, destination_id)
    click.echo(f"destination {destination_id} supprimée / removed")


@notify_group.command("test", short_help="Send a test alert to every destination and report each.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def notify_test(ctx: CliContext, as_json: bool) -> None:
    """Send a test alert to every destination now and report each; exit 1 if one failed."""
    report = send_test(ctx.db)
    echo_rows(report, ["id", "url", "ok", "error"], as_json=as_json, empty="aucune destination / no destination")
    if any(not row["ok"] for row in report):
        raise SystemExit(1)


@notify_group.command("run", short_help="Run the correlation and delivery workers in the foreground.")
@click.option("--once", is_flag=True, help="Correlate and deliver what is due, then exit.")
@pass_ctx
def notify_run(ctx: CliContext, once: bool) -> None:
    """Run the correlation and delivery workers in the foreground (what 'canary serve' runs)."""
    if once:
        result = correlate_all(ctx.db)
        worker = DeliveryWorker(ctx.db)
        try:
            sent = 0
            while (attempted := worker.run_once()):
                sent += attempted
        finally:
            worker.close()
        click.echo(f"{result.events} événement(s), {result.pages} page(s), {sent} envoi(s) / "
                   f"{result.events} event(s), {result.pages} page(s), {sent} attempt(s)")
        return
    serve_log.configure()
    stop, wake = threading.Event(), threading.Event()

    def _stop(*_args: Any) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    threads = [threading.Thread(target=loop, args=(ctx.existing_path(), stop, wake), daemon=True)
               for loop in (correlation_loop, delivery_loop)]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        time.sleep(0.2)
    for thread in threads:
        thread.join(timeout=30)


COMMANDS: list[click.Command] = [alerts_command, inbox_command, alert_group, notify_group]
