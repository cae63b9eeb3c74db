"""The one list of domains, in the order data flows, and what each adds to the whole.

``canary.cli`` (commands), ``canary.web.runner`` (services), ``canary.settings`` (settings) and
``canary.store.migrations`` (tables) derive their module lists from here. This module holds module
NAMES only and imports nothing of the package: the lowest layers read it without reaching up.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    """A package of ``canary`` and its faces: ``cli.py``, ``services.py``, ``settings.py``, ``schema.py``."""

    package: str
    commands: tuple[str, ...] = ()  # the commands its cli.py adds, so that `canary X` imports only X's module
    services: bool = False  # services.py: what `canary serve` runs for it
    settings: bool = False  # settings.py: its Setting entries (core settings live in canary/settings.py)
    # schema.py: its place in the migration order. Deployed registries recorded their migrations in this
    # order (generate's tables came after alert's): it is history and never changes; a new domain takes
    # the next number.
    migrations: int | None = None
    # Its services are built before every other domain's (ops: its error counter must see them being built).
    services_first: bool = False


# Each domain imports only the ones above it in this list (tests/test_layers.py keeps it so). A command
# that gathers what several domains know belongs to the last of them (lint: the canaries and their
# plantings; contacts: the proposed mailboxes and the tripwire's probe).
DOMAINS = (
    Domain("canary.store", commands=("init", "config", "events", "list", "show", "export"), migrations=1),
    Domain("canary.generate.registers", commands=("registers",)),
    Domain("canary.generate", commands=("system", "seed", "profile", "plan"), settings=True, migrations=8),
    Domain("canary.plant", commands=("plant", "plants", "retire", "rotate", "lint"), services=True, settings=True,
           migrations=2),
    Domain("canary.watch.sweep", commands=("scan", "feed", "sweep"), services=True, settings=True, migrations=3),
    Domain("canary.watch.tripwire", commands=("tripwire", "contacts"), services=True, settings=True, migrations=4),
    Domain("canary.watch.accesslog", commands=("logs",), services=True, settings=True, migrations=5),
    Domain("canary.watch.egress", commands=("egress",), services=True, settings=True, migrations=6),
    Domain("canary.alert", commands=("alerts", "inbox", "alert", "notify"), services=True, settings=True, migrations=7),
    Domain("canary.ops", commands=("backup", "restore", "doctor"), services=True, settings=True,
           services_first=True),
    Domain("canary.web", commands=("serve", "user", "token", "audit"), settings=True, migrations=9),
    Domain("canary.reference", commands=("cli-docs",)),
)

# Each command module and the commands it adds, for the root group's lazy loading.
COMMAND_MODULES = {f"{d.package}.cli": d.commands for d in DOMAINS if d.commands}
SERVICE_MODULES = [f"{d.package}.services" for d in sorted((d for d in DOMAINS if d.services),
                                                             key=lambda d: not d.services_first)]
SETTING_MODULES = [f"{d.package}.settings" for d in DOMAINS if d.settings]
MIGRATION_MODULES = [f"{d.package}.schema" for d in sorted((d for d in DOMAINS if d.migrations is not None),
                                                             key=lambda d: d.migrations or 0)]
