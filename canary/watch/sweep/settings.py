"""Settings of canary.watch.sweep (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = []
