"""The ``canary`` command: a thin click layer over the library. Each domain adds its commands."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlite_utils

from canary.errors import CanaryError
from canary.store import open_db

COMMAND_MODULES = [
    "canary.store.cli",
    "canary.generate.cli",
    "canary.plant.cli",
    "canary.watch.sweep.cli",
    "canary.watch.tripwire.cli",
    "canary.watch.accesslog.cli",
    "canary.alert.cli",
    "canary.web.cli",
]


@dataclass
class CliContext:
    """What every command gets: where the registry is, opened on first use."""

    db_path: Path
    _db: sqlite_utils.Database | None = field(default=None, repr=False)

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db


pass_ctx = click.make_pass_decorator(CliContext)


class CanaryGroup(click.Group):
    """Prints operator errors as one line and exits 1, instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CanaryError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except sqlite3.DatabaseError as exc:
            click.echo(f"error: registry {ctx.obj.db_path if ctx.obj else ''}: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            # The reader (e.g. `| head`) went away: stop quietly, like any Unix filter.
            sys.stderr.close()
            sys.exit(0)
        except OSError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=CanaryGroup)
@click.option("--db", "db_path", envvar="CANARY_DB", default="canary.db", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Registry file (SQLite).")
@click.version_option(package_name="canary")
@click.pass_context
def cli(ctx: click.Context, db_path: Path) -> None:
    """Honeytoken patient records: generate, plant, watch and alert."""
    ctx.obj = CliContext(db_path=db_path)


def get_cli() -> click.Group:
    """The root group with every domain's commands added (idempotent)."""
    for module_name in COMMAND_MODULES:
        for command in getattr(importlib.import_module(module_name), "COMMANDS", []):
            cli.add_command(command)
    return cli


def main() -> None:
    get_cli()()
