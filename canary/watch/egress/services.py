"""Services of canary.watch.egress for ``canary serve``: the ICAP service (``--icap``) and the milter (``--milter``)."""

from __future__ import annotations

from typing import Any

import click

from canary.serve import ServeContext, Service
from canary.settings import get_int, get_str
from canary.store import open_db
from canary.watch.egress.icap import IcapService
from canary.watch.egress.inspect import Inspector
from canary.watch.egress.milter import MilterService

SERVE_OPTIONS: list[click.Option] = [
    click.Option(["--icap"], is_flag=True, default=False,
                 help="Also run the ICAP service web proxies ask about uploads (REQMOD) and responses (RESPMOD)."),
    click.Option(["--icap-host"], help="ICAP service address (default: setting egress.icap_host)."),
    click.Option(["--icap-port"], type=int, help="ICAP service port (default: egress.icap_port, 1344)."),
    click.Option(["--milter"], is_flag=True, default=False, help="Also run the milter for outbound mail."),
    click.Option(["--milter-host"], help="Milter address (default: setting egress.milter_host)."),
    click.Option(["--milter-port"], type=int, help="Milter port (default: egress.milter_port, 8894)."),
]


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    out: list[Service] = []
    if not options.get("icap") and not options.get("milter"):
        return out
    db = open_db(ctx.db_path)
    try:
        def host(name: str) -> str:  # the command-line option, else the setting
            value = options.get(name)
            return str(value) if value is not None else get_str(db, f"egress.{name}")

        def port(name: str) -> int:
            value = options.get(name)
            return int(value) if value is not None else get_int(db, f"egress.{name}")

        icap_host, icap_port = host("icap_host"), port("icap_port")
        milter_host, milter_port = host("milter_host"), port("milter_port")
    finally:
        db.close()
    inspector = Inspector(ctx.db_path)  # one index in memory for both services
    if options.get("icap"):
        out.append(IcapService(ctx.db_path, icap_host, icap_port, inspector))
    if options.get("milter"):
        out.append(MilterService(ctx.db_path, milter_host, milter_port, inspector))
    return out
