"""``canary doctor``: the checks of canary.doctor.checks, exit 1 when one fails."""

from __future__ import annotations

import click

from canary.cli import CliContext, pass_ctx
from canary.doctor.checks import run_checks
from canary.output import echo_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def doctor(ctx: CliContext, as_json: bool) -> None:
    """Check what would stop canaries from paging (settings, alert delivery); exit 1 if a check fails."""
    checks = run_checks(ctx.db)
    if as_json:
        echo_json([{"check": c.name, "ok": c.ok, "problems": c.problems} for c in checks])
    else:
        for check in checks:
            click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name}")
            for problem in check.problems:
                click.echo(f"     {problem}")
    if not all(check.ok for check in checks):
        raise SystemExit(1)


COMMANDS: list[click.Command] = [doctor]
