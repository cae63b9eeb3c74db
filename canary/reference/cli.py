"""``canary cli-docs``: print the CLI reference (docs/cli.md)."""

from __future__ import annotations

import click

from canary.reference.markdown import cli_markdown


@click.command("cli-docs")
@click.pass_context
def cli_docs(ctx: click.Context) -> None:
    """Print the reference of every command and option as Markdown (docs/cli.md)."""
    root = ctx.find_root().command
    if not isinstance(root, click.Group):
        raise click.UsageError("cli-docs documents the canary command group")
    click.echo(cli_markdown(root), nl=False)


COMMANDS: list[click.Command] = [cli_docs]
