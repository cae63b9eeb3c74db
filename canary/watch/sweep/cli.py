"""Commands of canary.watch.sweep, added to the root ``canary`` group."""

import click

COMMANDS: list[click.Command] = []
