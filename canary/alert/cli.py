"""Commands of canary.alert, added to the root ``canary`` group."""

import click

COMMANDS: list[click.Command] = []
