"""What `canary lint` adds from the plantings: canaries planted in a way a thief can filter on."""

from __future__ import annotations

import sqlite_utils

from canary.generate.lint import Problem
from canary.plant.lifecycle import list_plantings


def planting_problems(db: sqlite_utils.Database, system: str | None = None) -> list[tuple[str, Problem]]:
    """Canaries planted without the IPP namespace real patients carry there: a thief can filter on it.

    The same condition as the planter's warning (the channel's authority_options), made a lint problem so that it
    is not lost in the planting output."""
    from canary.plant.channels import CHANNELS
    from canary.plant.channels.base import lacks_authority

    problems = []
    for planting in list_plantings(db, system=system, states=("planned", "planted")):
        channel = CHANNELS[planting["channel"]]
        if not lacks_authority(channel, planting["options"]):
            continue
        first, *others = channel.authority_options
        alternatives = "".join(f" (or ?{name}=...)" for name in others)
        hint = f"add ?{first}=...{alternatives} to the target and plant again"
        problems.append((planting["canary_id"], Problem(
            "ipp-authority", "ipp", f"planted at {planting['target']} without the establishment's IPP assigning "
                                    f"authority: real patients there carry another one ({hint})")))
    return problems
