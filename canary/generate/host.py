"""One system's view for the generator and the planner: its site's catchment and its host profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.admin import default_seeds_dir
from canary.generate.catchment import Catchment, Geography, site_of_system
from canary.generate.patient import PatientGenerator, Pools
from canary.generate.plan import plan
from canary.generate.profile import HostProfile, build_profile, parse_mapping, read_export
from canary.generate.reference import Commune, Reference, load_communes
from canary.store.registry import get_host_profile, get_system, list_canaries, save_host_profile


@dataclass(frozen=True, eq=False)
class Host:
    system: dict[str, Any]
    catchment: Catchment | None
    profile: HostProfile | None
    geography: Geography

    @classmethod
    def load(cls, db: sqlite_utils.Database, system: str, communes: Mapping[str, Commune] | None = None,
             seeds_dir: Path | None = None, geography: Geography | None = None) -> Host:
        """``communes``: Reference.communes when a Reference is loaded anyway (else the table is read)."""
        row = get_system(db, system)
        seeds_dir = seeds_dir or default_seeds_dir()
        communes = communes if communes is not None else load_communes(seeds_dir)
        geography = geography or Geography.load(communes, seeds_dir)
        site = site_of_system(communes, row)
        catchment = Catchment.around(communes, geography, site) if site else None
        data = get_host_profile(db, system)
        profile = HostProfile.from_data(data, communes) if data else None
        return cls(row, catchment, profile, geography)

    def generator(self, reference: Reference, pools: Pools) -> PatientGenerator:
        return PatientGenerator(reference, pools, catchment=self.catchment, profile=self.profile,
                                geography=self.geography)

    def patients(self) -> int | None:
        """The establishment's size: the system's --patients, else the profiled export's row count."""
        return self.system.get("patients") or (self.profile.patients if self.profile else None)

    def plan(self, db: sqlite_utils.Database, *, patients: int, sample: int, pools: Pools,
             today: date) -> dict[str, Any]:
        records = list_canaries(db, system=self.system["name"], include_retired=False)
        report = plan(records, patients=patients, sample=sample, today=today, catchment=self.catchment,
                      profile=self.profile, pool_phones=pools.phones, pool_domains=pools.mail_domains)
        site = self.catchment.site.describe() if self.catchment else None
        return {"system": self.system["name"], "site": site, "profile": self.profile is not None, **report}


def profile_system(db: sqlite_utils.Database, system: str, export: Path, mappings: tuple[str, ...],
                   today: date) -> dict[str, Any]:
    """Read an export, aggregate it and store the profile in one write; nothing stored on error."""
    get_system(db, system)
    if not export.is_file():
        raise CanaryError(f"{export}: no such export file")
    columns, rows = read_export(export)
    profile = build_profile(columns, rows, parse_mapping(mappings), today=today, source=str(export))
    save_host_profile(db, system, profile)
    return profile
