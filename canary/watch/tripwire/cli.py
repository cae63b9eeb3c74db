"""Commands of canary.watch.tripwire, added to the root ``canary`` group."""

import click

COMMANDS: list[click.Command] = []
