"""What `canary lint` adds from the plantings: canaries planted in a way a thief can filter on."""

from __future__ import annotations

import sqlite_utils

from canary.generate.lint import Problem
from canary.plant.lifecycle import list_plantings


def planting_problems(db: sqlite_utils.Database, system: str | None = None) -> list[tuple[str, Problem]]:
    """Canaries planted without the IPP namespace real patients carry there: a thief can filter on it.

    The same condition as the planter's warning (canary.plant.planter), made a lint problem so that it
    is not lost in the planting output."""
    problems = []
    for planting in list_plantings(db, system=system, states=("planned", "planted")):
        options = planting["options"]
        if planting["channel"] == "mllp" and not (options.get("ipp_oid") or options.get("ipp_namespace")):
            hint = "add ?ipp_oid=... (or ?ipp_namespace=...) to the target and plant again"
        elif planting["channel"] == "fhir" and not (options.get("ipp_system") or options.get("ipp_oid")):
            hint = "add ?ipp_system=... (or ?ipp_oid=...) to the target and plant again"
        else:
            continue
        problems.append((planting["canary_id"], Problem(
            "ipp-authority", "ipp", f"planted at {planting['target']} without the establishment's IPP assigning "
                                    f"authority: real patients there carry another one ({hint})")))
    return problems
