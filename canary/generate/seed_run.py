"""One seed as an operator asks for it, from ``canary seed``, the console or the API: the same checks,
the same warnings, the same canaries.

:func:`prepare_seed` checks the request and says, before anything is made, what the canaries will lack
(pools, callback links, a place); :meth:`SeedRun.run` stores them in batches
(:mod:`canary.generate.seeding`) and says what the run found: pools running out, what a thief could
filter now, mailboxes left to open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.contact_points import list_contact_points
from canary.generate.crowding import exhaustion_warnings
from canary.generate.factory import host_and_generator
from canary.generate.host import Host
from canary.generate.patient import BoundedGenerator
from canary.generate.seeding import MAX_SEED, seed_batches
from canary.settings import get_str
from canary.store.registry import get_system


@dataclass
class Seeded:
    """What a run stored and found: the canaries' ids (not the records: a seed of 100,000 held whole took
    hundreds of MB), their generation, the mailboxes still to open, warnings found while seeding."""

    system: str
    generation: int | None
    ids: list[str]
    pending_mailboxes: int
    warnings: list[str] = field(default_factory=list)


@dataclass
class SeedRun:
    """A checked request: ``warnings`` are what the canaries will lack, known before any is made."""

    system: str
    count: int
    host: Host
    generator: BoundedGenerator
    warnings: list[str]

    def run(self, db: sqlite_utils.Database, *, seed: int | None = None,
            progress: Callable[[int], None] | None = None) -> Seeded:
        """Generate and store the canaries (all or nothing); ``progress`` gets the size of each stored batch."""
        pools = self.generator.generator.pools
        ids: list[str] = []
        generation: int | None = None
        for batch in seed_batches(db, self.system, self.count, self.generator, seed=seed):
            ids += [canary["id"] for canary in batch]
            generation = generation or (batch[0]["generation"] if batch else None)
            if progress is not None:
                progress(len(batch))
        warnings = exhaustion_warnings(self.generator.budget, pools, len(ids))
        warnings += [f"{p.message} (see 'canary plan {self.system}')."
                     for p in self.host.findings(db, pools, date.today())]
        pending = sum(p["state"] == "pending"
                      for p in list_contact_points(db, pending_only=True, system=self.system))
        return Seeded(self.system, generation, ids, pending, warnings)


def prepare_seed(db: sqlite_utils.Database, db_path: Path, system: str, count: int, *,
                 arriving_over: float | None = None) -> SeedRun:
    """Check a seed of ``count`` canaries for ``system`` and build its generator; nothing is stored.
    ``arriving_over`` (days): new patients arriving over that time, to be planted with ``plant --over``."""
    get_system(db, system)
    if not 1 <= count <= MAX_SEED:
        raise CanaryError(f"count must be between 1 and {MAX_SEED}, got {count}")
    host, generator = host_and_generator(db, db_path, system, arriving_over=arriving_over, count=count)
    pools = generator.generator.pools
    warnings = []
    if not pools.phones:
        warnings.append("no phone pool configured (pool.phones): these canaries carry no phone number. "
                        "A thief may notice; configure numbers you own.")
    if not (pools.mail_domains or pools.mailbox_providers):
        warnings.append("no mail pool configured (pool.mailbox_providers, pool.mail_domains): these canaries "
                        "carry no e-mail address. Configure mailboxes or domains you own.")
    for name, channel in (("tripwire.base_url", "callback URL"), ("tripwire.dns_zone", "DNS name")):
        if not get_str(db, name):
            warnings.append(f"{name} is not set: these canaries carry no {channel} and can never fire on it. "
                            "Set it, then run 'canary tripwire fill-tokens' before planting.")
    notice = host.no_place_notice()
    if notice:
        warnings.append(f"{notice}.")
    return SeedRun(system, count, host, generator, warnings)
