"""Commands of canary.watch.accesslog, added to the root ``canary`` group."""

import click

COMMANDS: list[click.Command] = []
