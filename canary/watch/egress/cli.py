"""Commands of canary.watch.egress, added to the root ``canary`` group."""

from __future__ import annotations

import click

from canary.errors import CanaryError
from canary.output import echo_rows
from canary.store.context import CliContext, pass_ctx
from canary.watch.egress.status import egress_status


@click.group("egress")
def egress_group() -> None:
    """Uploads through the web proxy (ICAP) and outbound mail (milter): see docs/egress.md."""


@egress_group.command("status")
@click.option("--days", type=int, default=7, show_default=True, help="How many days back, today included.")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_ctx
def status_command(ctx: CliContext, days: int, as_json: bool) -> None:
    """Sightings per day and channel, and the bodies let through unmatched (over the limit, past the deadline,
    broken protocol)."""
    if days < 1:
        raise CanaryError("--days must be at least 1")
    echo_rows(egress_status(ctx.db, days),
              ["day", "channel", "sightings", "messages", "blocked", "over_limit", "timeout", "timeout_blocked",
               "protocol_error", "passed_bytes"], as_json=as_json, empty="(nothing seen or passed in these days)")


COMMANDS: list[click.Command] = [egress_group]
