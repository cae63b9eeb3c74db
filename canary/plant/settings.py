"""Settings of canary.plant (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = []
