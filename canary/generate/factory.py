"""The patient generator as every command builds it: the operator's pools, the public registers
imported next to the registry, and the per-system contact-point budget."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.contact_points import budget_for_system
from canary.generate.host import Host
from canary.generate.patient import BoundedGenerator, PatientGenerator
from canary.generate.pools import pools_from_settings
from canary.generate.profile_ipp_time import new_patients_per_day
from canary.generate.reference import Reference
from canary.generate.registers.lookup import Registers
from canary.generate.registers.store import registers_path
from canary.settings import get_list


def registers_from_settings(db: sqlite_utils.Database, db_path: Path) -> Registers | None:
    """The public registers imported next to this registry (None if none), with the GP allow-list."""
    return Registers.load(registers_path(db_path), gp_allowlist=get_list(db, "registers.gp_allowlist"))


def host_and_generator(db: sqlite_utils.Database, db_path: Path, system: str, *, replacing: bool = False,
                       arriving_over: float | None = None, count: int | None = None) -> tuple[Host, BoundedGenerator]:
    """SYSTEM's host (its catchment and profile) and the generator of its canaries (``replacing``: the
    system's current canaries leave it, so they do not count against the crowding bounds).
    ``arriving_over``: days over which ``count`` canaries arrive as the host's new patients (for a
    trickle: ``plant --over``, ``rotate --over``); refused, before anything is made, when the host's
    profile did not learn its IPPs against time or admits fewer new patients in that time. Without
    ``count`` (a rotation, which checks the rate itself) it is only used where the profile allows."""
    pools = pools_from_settings(db)
    reference = Reference.load()
    host = Host.load(db, system, reference.communes, reference.seeds_dir)
    if arriving_over is not None and count is None and not (host.profile and host.profile.data.get("ipp_time")):
        arriving_over = None  # a trickle without the host's IPPs against time: canaries made as 'seed' makes them
    if arriving_over is not None:
        _check_arrivals(system, host.profile.data if host.profile else None, arriving_over, count)
    generator = PatientGenerator(reference, pools, registers_from_settings(db, db_path), catchment=host.catchment,
                                 profile=host.profile, geography=host.geography, arriving_over=arriving_over)
    return host, generator.bounded(budget_for_system(db, system, pools, replacing=replacing,
                                                     patients=host.patients(),
                                                     profile_data=host.profile.data if host.profile else None))


def generator_for_system(db: sqlite_utils.Database, db_path: Path, system: str, *, replacing: bool = False,
                         arriving_over: float | None = None, count: int | None = None) -> BoundedGenerator:
    return host_and_generator(db, db_path, system, replacing=replacing, arriving_over=arriving_over, count=count)[1]


def _check_arrivals(system: str, profile: Mapping[str, Any] | None, days: float, count: int | None) -> None:
    part = (profile or {}).get("ipp_time")
    if not part:
        raise CanaryError(f"--over: {system!r} has no host profile with its IPPs against time ('canary profile build' "
                          "on an export with IPP and birth-date columns): arrivals cannot follow the host / profil "
                          "sans relation IPP-temps")
    rate = new_patients_per_day(profile or {})
    if count is not None and rate and count > rate * days:
        raise CanaryError(f"--over {days:g} days is too short for {count} canaries: the host admits about {rate:g} new "
                          f"patients a day ({rate * days:.0f} in that time); give a longer --over / durée trop courte "
                          "pour le rythme de l'établissement")
