"""Background services of canary.watch.tripwire for ``canary serve`` (see canary.serve)."""

from __future__ import annotations

from typing import Any

import click

from canary.serve import ServeContext, Service

SERVE_OPTIONS: list[click.Option] = []


def services(ctx: ServeContext, options: dict[str, Any]) -> list[Service]:
    return []
