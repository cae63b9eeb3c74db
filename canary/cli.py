"""The ``canary`` command: a thin click layer over the library. Each domain adds its commands."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from canary.domains import COMMAND_MODULES
from canary.errors import CanaryError
from canary.store.context import CliContext

_NO_ARGS_IS_HELP: tuple[type[Exception], ...] = tuple(
    cls for cls in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if cls is not None
)


def _exit_on_usage_error(exc: click.UsageError) -> NoReturn:
    """A bad option or argument: one line that says what and where to look, like every other error."""
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
    click.echo(f"error: {exc.format_message()}{hint}", err=True)
    sys.exit(exc.exit_code)


class CanaryGroup(click.Group):
    """Loads each command on first use; prints operator errors as one line and exits 1, instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | {name for names in COMMAND_MODULES.values() for name in names})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for module_name, names in COMMAND_MODULES.items():
                if cmd_name in names:
                    _add_commands(module_name)
        return self.commands.get(cmd_name)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _NO_ARGS_IS_HELP:
            raise
        except click.UsageError as exc:  # options of the root command itself, e.g. `canary --bogus`
            _exit_on_usage_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        words = [*getattr(ctx, "_protected_args", []), *ctx.args]  # the command line after the root's options
        try:
            result = super().invoke(ctx)
            _audit(self, ctx, words)
            return result
        except CanaryError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except _NO_ARGS_IS_HELP:
            raise  # a bare group name shows its help, as click does
        except click.UsageError as exc:
            _exit_on_usage_error(exc)
        except sqlite3.DatabaseError as exc:
            click.echo(f"error: registry {ctx.obj.db_path if ctx.obj else ''}: {exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:
            # The reader (e.g. `| head`) went away: stop quietly, like any Unix filter.
            sys.stderr.close()
            sys.exit(0)
        except OSError as exc:
            # "cannot write /x/y.csv: No such file or directory", not Python's "[Errno 2] ..."
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(1)
        except (KeyboardInterrupt, click.Abort):
            # Ctrl-C: the documented one-line error (click would print "Aborted!"); writes are transactions
            # or atomic renames, so what was interrupted left nothing half-written.
            click.echo("error: interrupted (Ctrl-C); nothing was half-written", err=True)
            sys.exit(130)


def _audit(root: click.Group, ctx: click.Context, words: list[str]) -> None:
    """A command that changed state is written to the audit log, as the console's and the API's changes are."""
    command: click.Command = root
    path: list[str] = []
    while isinstance(command, click.Group) and words and (sub := command.get_command(ctx, words[0])) is not None:
        path.append(words.pop(0))
        command = sub
    from canary.web.audit import CLI_CHANGES, cli_actor, record_cli_change

    name = " ".join(path)
    if name not in CLI_CHANGES or ctx.obj is None or not Path(ctx.obj.db_path).exists():
        return
    parsed = command.make_context(path[-1], list(words), parent=ctx, resilient_parsing=True)
    arguments = [p.name for p in command.params if isinstance(p, click.Argument) and p.name]
    first = parsed.params.get(arguments[0]) if arguments else None
    try:
        record_cli_change(ctx.obj.db, cli_actor(), name, parsed.params, None if first is None else str(first))
    except sqlite3.Error as exc:  # the change is made; say that its record is missing, do not undo it
        click.echo(f"warning: the change is made but not recorded in the audit log: {exc}", err=True)


@click.group(cls=CanaryGroup)
@click.option("--db", "db_path", envvar="CANARY_DB", default="canary.db", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="Registry file (SQLite).")
@click.version_option(package_name="canary")
@click.pass_context
def cli(ctx: click.Context, db_path: Path) -> None:
    """Honeytoken patient records: generate, plant, watch and alert."""
    ctx.obj = CliContext(db_path=db_path)


def _add_commands(module_name: str) -> None:
    for command in getattr(importlib.import_module(module_name), "COMMANDS", []):
        cli.add_command(command)


def get_cli() -> click.Group:
    """The root group with every domain's commands added (idempotent)."""
    for module_name in COMMAND_MODULES:
        _add_commands(module_name)
    return cli


def main() -> None:
    cli()  # commands are added as they are looked up
