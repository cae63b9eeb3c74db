"""Settings of canary.watch.tripwire (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = []
