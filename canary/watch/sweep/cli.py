"""Commands of canary.watch.sweep: ``scan``, ``feed add|list|remove`` and ``sweep``."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click

from canary import serve_log
from canary.errors import CanaryError
from canary.output import echo_json, echo_rows, echo_table
from canary.settings import get_str
from canary.store.context import CliContext, pass_ctx
from canary.watch.sweep.feeds import add_feed, feed_json, get_feed, list_feeds, remove_feed, run_feed, run_sweep
from canary.watch.sweep.findings import require_active_canaries
from canary.watch.sweep.scanner import ScanReport
from canary.watch.sweep.search import slow_engine_note

# Exit codes of `scan` (README): 0 everything read, 1 nothing could be read (or another error),
# 3 some inputs could not be read (findings of the rest are reported and stored).
EXIT_NOTHING_READ = 1
EXIT_PARTIAL = 3


def _progress_bar() -> tuple[Any, Any]:
    """A progress bar on stderr when it is a terminal, else nothing (scripts and pipes stay clean)."""
    if not sys.stderr.isatty():
        return None, None
    state: dict[str, Any] = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None:
            bar = click.progressbar(length=max(total, 1), label="scan", file=sys.stderr)
            state["bar"] = bar
            bar.__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)

    return update, close


def _print_report(report: ScanReport, sweep_id: int) -> None:
    rows = [{"canary": f.canary_id, "system": f.system, "file": f.file, "line": f.line,
             "fields": f.fields, "confidence": f.confidence} for f in report.findings]
    nothing_read = report.status == "nothing-read"
    echo_table(rows, ["canary", "system", "file", "line", "fields", "confidence"],
               empty="rien n'a été lu / nothing was read" if nothing_read else "aucun canari trouvé / no canary found")
    for skip in report.skipped:
        click.echo(f"ignoré / skipped: {skip['file']}: {skip['reason']}", err=True)
    systems = sorted({f.system for f in report.findings})
    click.echo(f"sweep {sweep_id}: {len(report.findings)} canari(s) trouvé(s) / canaries found"
               f"{' (' + ', '.join(systems) + ')' if systems else ''}; {report.files} fichier(s) / files, "
               f"{report.bytes} octets / bytes, {len(report.skipped)} ignoré(s) / skipped")


@click.command("scan")
@click.argument("inputs", nargs=-1, required=True, metavar="PATH|URL...")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes (big plain files are split between them).")
@click.option("--dask", "dask", metavar="ADDRESS",
              help="Run the scan on the workers of this Dask scheduler (tcp://host:8786); inputs are paths they "
                   "share or URLs (http(s)://, s3://...). The workers receive the canary index: trusted hosts only.")
@pass_ctx
def scan_command(ctx: CliContext, inputs: tuple[str, ...], as_json: bool, jobs: int, dask: str | None) -> None:
    """Look for canaries in dumps: files, folders, globs, archives, URLs and telegram:FOLDER exports (one sweep,
    stored)."""
    require_active_canaries(ctx.db, f"registry {ctx.db_path}")
    note = slow_engine_note(get_str(ctx.db, "sweep.engine"))
    if note and sys.stderr.isatty():  # for people; scripts reading the output get it unchanged
        click.echo(note, err=True)
    update, close = _progress_bar()
    try:
        sweep_id, report = run_sweep(ctx.db, list(inputs), jobs=jobs, progress=update, dask=dask)
    finally:
        if close:
            close()
    if as_json:
        echo_json(report.to_json())
        for skip in report.unread:
            click.echo(f"ignoré / skipped: {skip['file']}: {skip['reason']}", err=True)
    else:
        _print_report(report, sweep_id)
    if report.status == "nothing-read":
        click.echo("error: rien n'a pu être lu / nothing could be read: this is not a clean result", err=True)
        sys.exit(EXIT_NOTHING_READ)
    if report.status == "partial":
        click.echo(f"{len(report.unread)} entrée(s) non lue(s) / input(s) not read: the result covers only what "
                   "was read", err=True)
        sys.exit(EXIT_PARTIAL)


@click.group("feed")
def feed_group() -> None:
    """Sources swept on a schedule: a folder, a file glob, a URL, a JSON list of URLs or telegram:FOLDER."""


@feed_group.command("add")
@click.argument("name")
@click.argument("source")
@click.option("--schedule", default="weekly", show_default=True,
              help="weekly, daily, hourly, 'mon 03:00' (UTC) or a cron line such as '0 3 * * 1'.")
@pass_ctx
def feed_add(ctx: CliContext, name: str, source: str, schedule: str) -> None:
    """Add feed NAME reading SOURCE."""
    row = add_feed(ctx.db, name, source, schedule)
    click.echo(f"feed {row['name']} ajouté / added: {row['source']} ({row['schedule']})")


@feed_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def feed_list(ctx: CliContext, as_json: bool) -> None:
    """Configured feeds with their last run."""
    feeds = [feed_json(f) for f in list_feeds(ctx.db)]
    echo_rows(feeds, ["name", "source", "schedule", "last_run_at", "last_status", "last_error"],
              as_json=as_json, empty="aucun flux / no feed")


@feed_group.command("remove")
@click.argument("name")
@pass_ctx
def feed_remove(ctx: CliContext, name: str) -> None:
    """Remove feed NAME (its past sweeps and findings are kept)."""
    remove_feed(ctx.db, name)
    click.echo(f"feed {name} supprimé / removed")


@click.command("sweep")
@click.option("--feed", "feed_name", help="Run only this feed.")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome of each feed as JSON.")
@click.option("--daemon", is_flag=True,
              help="Run no feed now: keep running the feeds on their schedules (with catch-up) until stopped.")
@pass_ctx
def sweep_command(ctx: CliContext, feed_name: str | None, jobs: int, as_json: bool, daemon: bool) -> None:
    """Run the configured feeds now (or, with --daemon, on their schedules)."""
    if daemon:
        from canary.watch.sweep.services import run_in_foreground

        serve_log.configure()
        ctx.db  # noqa: B018 - open (and migrate) the registry before the scheduler starts
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())
        signal.signal(signal.SIGINT, lambda *_: stopping.set())
        run_in_foreground(ctx.db_path, stopping, started=lambda: click.echo(
            "sweeps planifiés en cours / scheduled sweeps running (Ctrl-C to stop)", err=True))
        return
    names = [get_feed(ctx.db, feed_name)["name"]] if feed_name else [f["name"] for f in list_feeds(ctx.db)]
    if not names:
        raise CanaryError("no feed configured; add one with 'canary feed add NAME SOURCE'")
    outcomes = [run_feed(ctx.db, name, jobs=jobs) for name in names]
    echo_rows(outcomes, ["feed", "sweep_id", "status", "findings", "new_events", "error"], as_json=as_json)
    if any(o["status"] != "ok" for o in outcomes):
        click.echo("flux injoignable(s), réessayé(s) au prochain passage / unreachable feed(s), retried at the "
                   "next run", err=True)
        sys.exit(1)  # every feed ran; the exit code tells a cron job that one of them failed



COMMANDS: list[click.Command] = [scan_command, feed_group, sweep_command]
