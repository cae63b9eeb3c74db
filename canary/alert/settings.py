"""Settings of canary.alert (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = []
