"""Who may do what: three roles, each allowed everything the ones below it may.

- ``viewer``: reads the console (systems, alerts, events, sweeps) but never a marker value, a token
  or an export: it may see that a canary exists, not what it looks like.
- ``analyst``: works incidents: acknowledges and resolves alerts, runs sweeps and scans, reads
  canaries in full, plants and rotates.
- ``admin``: everything else: systems, seeding, notification targets, settings, accounts, API tokens,
  the audit log.
"""

from __future__ import annotations

from canary.errors import CanaryError

ROLES = ("viewer", "analyst", "admin")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise CanaryError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


def allows(held: str | None, needed: str) -> bool:
    """True when an account holding ``held`` may do what needs ``needed``."""
    return held in ROLES and ROLES.index(held) >= ROLES.index(needed)


def lower(first: str, second: str) -> str:
    """The lesser of two roles (what a token may do when its owner holds less than it was given)."""
    return first if ROLES.index(first) <= ROLES.index(second) else second


def below(needed: str) -> tuple[str, ...]:
    """The roles that must be refused something that needs ``needed``."""
    return ROLES[:ROLES.index(needed)]
