"""lint's checks of each system's canaries as a population: what its host finds, and the self-audit's
stored figures (kept apart from ``host``, which the self-audit itself builds on)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.host import Host
from canary.generate.lint import Problem
from canary.generate.patient import Pools
from canary.generate.reference import Reference
from canary.generate.self_audit import audit_findings


def population_checks(db: sqlite_utils.Database, systems: Iterable[str], pools: Pools, reference: Reference,
                      today: date) -> tuple[list[tuple[str, Problem]], list[str]]:
    """lint's group checks: problems keyed ``system:NAME``, and notices for what cannot be checked."""
    geography = None
    problems: list[tuple[str, Problem]] = []
    notices: list[str] = []
    for name in sorted(set(systems)):
        try:
            host = Host.load(db, name, reference.communes, reference.seeds_dir, geography)
        except CanaryError as exc:  # e.g. a FINESS registered before departments were checked
            notices.append(f"system {name}: population checks skipped: {exc}")
            continue
        geography = host.geography
        notice = host.no_place_notice()
        if notice:
            notices.append(notice)
        if not host.patients():
            problems += [(f"system:{name}", p) for p in audit_findings(db, name)]
            notices.append(f"system {name}: patient count unknown, population checks skipped "
                           f"('canary system edit {name} --patients N' or 'canary profile build')")
            continue
        problems += [(f"system:{name}", p) for p in host.findings(db, pools, today)]
        problems += [(f"system:{name}", p) for p in audit_findings(db, name)]
    return problems, notices
