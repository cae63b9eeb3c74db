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
from canary.generate.lint import Problem
from canary.generate.patient import Pools
from canary.generate.plan import plan
from canary.generate.profile import HostProfile, build_profile, parse_mapping, read_export
from canary.generate.reference import Commune, load_communes
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


    def no_place_notice(self) -> str | None:
        if self.catchment is not None:
            return None
        return (f"system {self.system['name']} has no place (no --commune, no FINESS): its canaries follow the "
                "national mix, not the establishment's patients; see 'canary system edit'")

    def findings(self, db: sqlite_utils.Database, pools: Pools, today: date) -> list[Problem]:
        """What the planner says a thief could filter now, for lint and seed (empty if the size is unknown)."""
        patients = self.patients()
        if not patients:
            return []
        report = self.plan(db, patients=patients, sample=0, pools=pools, today=today)
        out = []
        budget = report["stealth_budget"]
        if budget is not None and report["canaries"] > budget:
            out.append(Problem("population-budget", "count", f"{report['canaries']} active canaries, past the "
                               f"stealth budget of {budget} for {patients:,} patients"))
        for row in report["filters"]:
            if row["exceeds"]:
                rule = "population-" + row["name"].replace(" ", "-").replace("/", "-").lower()
                message = (f"{row['name']}: thief's advantage {row['advantage']:.2f} (canaries "
                           f"{row['canaries_flagged']:.2f}, patients {row['patients_flagged']:.2f}): {row['note']}")
                out.append(Problem(rule, row["name"], message))
        return out


def profile_system(db: sqlite_utils.Database, system: str, export: Path, mappings: tuple[str, ...],
                   today: date) -> dict[str, Any]:
    """Read an export, aggregate it and store the profile in one write; nothing stored on error."""
    row = get_system(db, system)
    if not export.is_file():
        raise CanaryError(f"{export}: no such export file")
    columns, rows = read_export(export)
    # Birth places are counted against the establishment's department when the system has a place.
    site = site_of_system(load_communes(), row) if row.get("site_commune") or row.get("finess") else None
    profile = build_profile(columns, rows, parse_mapping(mappings), today=today, source=str(export),
                            site_department=site.department if site else None)
    save_host_profile(db, system, profile)
    return profile
