"""`canary registers`: import the public registers (BAN, RPPS) and see what is loaded."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from canary.generate.registers.store import open_beside
from canary.output import echo_json, echo_table
from canary.store.context import CliContext, pass_ctx

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def registers() -> None:
    """Public registers canaries must pass: BAN addresses, RPPS treating physicians."""


@registers.group("import")
def import_() -> None:
    """Load a published register file into the side file next to the registry."""


@contextmanager
def _progress(path: Path, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal (by bytes of the file), nothing when output is piped."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=path.stat().st_size, label=label, file=sys.stderr) as bar:
        done = 0

        def advance(position: int) -> None:
            nonlocal done
            bar.update(position - done)
            done = position

        yield advance


@import_.command("ban")
@click.argument("files", nargs=-1, required=True, type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: files, each with its departments' counts.")
@pass_ctx
def import_ban_cmd(ctx: CliContext, files: tuple[Path, ...], as_json: bool) -> None:
    """Load BAN department files (adresses-XX.csv.gz); each replaces its department."""
    from canary.generate.registers.ban import import_ban

    conn = open_beside(ctx.db_path)
    imported: list[dict[str, Any]] = []
    try:
        for path in files:
            with _progress(path, f"BAN {path.name}") as progress:
                result = import_ban(conn, path, progress=progress)
            imported.append({"file": path.name, "departments": dict(sorted(result.departments.items()))})
            if as_json:
                continue
            for department, counts in sorted(result.departments.items()):
                click.echo(f"{path.name}: department {department}: {counts['points']:,} address points, "
                           f"{counts['streets']:,} streets, {counts['communes']:,} communes "
                           f"({counts['skipped']:,} without a house number left out)")
    finally:
        conn.close()
    if as_json:
        echo_json({"files": imported})


@import_.command("rpps")
@click.argument("file", type=_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: file, rows, kept, departments.")
@pass_ctx
def import_rpps_cmd(ctx: CliContext, file: Path, as_json: bool) -> None:
    """Load the RPPS extract of the Annuaire Santé: practising GPs and paediatricians of the BAN departments."""
    from canary.generate.registers.rpps import import_rpps

    conn = open_beside(ctx.db_path)
    try:
        with _progress(file, f"RPPS {file.name}") as progress:
            result = import_rpps(conn, file, progress=progress)
    finally:
        conn.close()
    if as_json:
        echo_json({"file": file.name, **result})
        return
    click.echo(f"{file.name}: {result['kept']:,} practising GPs and paediatricians kept in "
               f"{result['departments']} department(s), out of {result['rows']:,} directory rows")


@registers.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(ctx: CliContext, as_json: bool) -> None:
    """What is loaded: one row per BAN department and one for the RPPS extract."""
    from canary.generate.registers.status import loaded

    rows = loaded(ctx.db_path)
    if as_json:
        echo_json(rows)
        return
    echo_table(rows, ["register", "department", "source", "imported_at", "rows"],
               empty="no register loaded ('canary registers import ban FILE...')")


@registers.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def status(ctx: CliContext, as_json: bool) -> None:
    """Where the registers are, which departments each covers, and what is missing."""
    from canary.generate.registers.status import summary

    info = summary(ctx.db_path)
    if as_json:
        echo_json(info)
        return
    click.echo(f"file: {info['path']}" + ("" if info["exists"] else " (not created yet)"))
    click.echo(f"BAN departments: {', '.join(info['ban_departments']) or '-'} "
               f"({info['address_points']:,} address points)")
    rpps = info["rpps"]
    click.echo("RPPS extract: " + (f"{rpps['source']} imported {rpps['imported_at']}, {rpps['physicians']:,} "
                                   f"physicians in {', '.join(rpps['departments'])}" if rpps else "not loaded"))
    for warning in info["warnings"]:
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


COMMANDS = [registers]
