"""``canary cli-docs``: print the CLI reference (docs/cli.md)."""

from __future__ import annotations

import click

from canary.reference.markdown import cli_markdown


@click.command("cli-docs")
def cli_docs() -> None:
    """Print the reference of every command and option as Markdown (docs/cli.md)."""
    from canary.cli import get_cli

    click.echo(cli_markdown(get_cli()), nl=False)


COMMANDS: list[click.Command] = [cli_docs]
