"""Settings of canary.watch.accesslog (see canary.settings)."""

from canary.settings import Setting

SETTINGS: list[Setting] = []
