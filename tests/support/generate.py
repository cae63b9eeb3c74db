"""Helpers shared by the generator tests (imported by name: tests have no packages)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from canary.generate.patient import PatientGenerator, Pools
from canary.store.markers import markers_for

TODAY = date(2026, 11, 28)


def owned_pool() -> Pools:
    """A pool like an operator's: mobile ranges, landlines in every zone and overseas, a few 09."""
    phones = [f"+336123{i:05d}" for i in range(3000)]
    phones += [f"+337812{i:05d}" for i in range(1000)]
    phones += [f"+33{zone}4567{i:04d}" for zone in "12345" for i in range(600)]
    phones += [f"+33955{i:06d}" for i in range(300)]
    phones += [f"+262262{i:06d}" for i in range(100)] + [f"+262692{i:06d}" for i in range(100)]
    phones += [f"+590590{i:06d}" for i in range(100)] + [f"+590690{i:06d}" for i in range(100)]
    phones += [f"+596596{i:06d}" for i in range(100)] + [f"+596696{i:06d}" for i in range(100)]
    phones += [f"+594594{i:06d}" for i in range(100)] + [f"+594694{i:06d}" for i in range(100)]
    return Pools(phones=tuple(phones), mail_domains=("messagerie-durand.fr", "boite-postale.net"))


def generate_batch(generator: PatientGenerator, count: int, seed: int) -> list[dict[str, Any]]:
    """What the registry does: ``taken`` answers from the markers of the batch so far."""
    rng = random.Random(seed)
    seen: set[tuple[str, str]] = set()
    records: list[dict[str, Any]] = []
    for index in range(count):
        record: dict[str, Any] = dict(generator.generate(rng, today=TODAY,
                                                         taken=lambda kind, value: (kind, value) in seen))
        record["id"] = f"c{seed}-{index}"
        seen.update(markers_for(record))
        records.append(record)
    return records
