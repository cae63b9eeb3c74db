"""Commands of canary.plant, added to the root ``canary`` group."""

import click

COMMANDS: list[click.Command] = []
