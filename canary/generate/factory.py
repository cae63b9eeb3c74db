"""The patient generator as every command builds it: the operator's pools, the public registers
imported next to the registry, and the per-system contact-point budget."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from canary.generate.contact_points import budget_for_system
from canary.generate.host import Host
from canary.generate.patient import BoundedGenerator, PatientGenerator
from canary.generate.pools import pools_from_settings
from canary.generate.reference import Reference
from canary.generate.registers.lookup import Registers
from canary.generate.registers.store import registers_path
from canary.settings import get_list


def registers_from_settings(db: sqlite_utils.Database, db_path: Path) -> Registers | None:
    """The public registers imported next to this registry (None if none), with the GP allow-list."""
    return Registers.load(registers_path(db_path), gp_allowlist=get_list(db, "registers.gp_allowlist"))


def host_and_generator(db: sqlite_utils.Database, db_path: Path, system: str, *,
                       replacing: bool = False) -> tuple[Host, BoundedGenerator]:
    """SYSTEM's host (its catchment and profile) and the generator of its canaries (``replacing``: the
    system's current canaries leave it, so they do not count against the crowding bounds)."""
    pools = pools_from_settings(db)
    reference = Reference.load()
    host = Host.load(db, system, reference.communes, reference.seeds_dir)
    generator = PatientGenerator(reference, pools, registers_from_settings(db, db_path), catchment=host.catchment,
                                 profile=host.profile, geography=host.geography)
    return host, generator.bounded(budget_for_system(db, system, pools, replacing=replacing,
                                                     patients=host.patients(),
                                                     profile_data=host.profile.data if host.profile else None))


def generator_for_system(db: sqlite_utils.Database, db_path: Path, system: str, *,
                         replacing: bool = False) -> BoundedGenerator:
    return host_and_generator(db, db_path, system, replacing=replacing)[1]
