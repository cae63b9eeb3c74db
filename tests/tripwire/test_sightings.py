"""A made-up token costs the writer the same work as a real one (the answer waits for that work, so
its time must not tell them apart); the figures are in bench/callbacks.py --timing."""

from __future__ import annotations

import re

from canary.store.events import list_events
from canary.watch.tripwire.hits import Hit
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.sightings import SightingStore, hit_payload


def _statements(db, sighting) -> list[str]:
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        sighting(db)
    finally:
        db.conn.set_trace_callback(None)
    # Savepoints are bookkeeping; what counts is which tables are read and written, and how often.
    return [re.split(r" WHERE | VALUES ", re.sub(r"\s+", " ", s))[0] for s in seen
            if not re.match(r"(SAVEPOINT|RELEASE|ROLLBACK)", s)]


def test_a_made_up_token_does_the_same_reads_and_writes_and_stores_nothing(canaries, db):
    store = SightingStore(NoisePolicy.from_settings(db))
    hit = Hit(channel="http", source="198.51.100.7", source_ip="198.51.100.7", user_agent="Mozilla/5.0",
              details={"method": "GET", "path": "/d/x"})
    real = store.sighting("http", {"hit": hit_payload(hit), "candidates": [canaries[0]["token"]]})
    made_up = store.sighting("http", {"hit": hit_payload(hit), "candidates": ["abcdefghijklmnopqrst"]})
    with db.atomic():
        real_work = _statements(db, real)
        made_up_work = _statements(db, made_up)
    assert real_work == made_up_work
    assert any(s.startswith("INSERT INTO events") for s in made_up_work)
    assert [e["canary_id"] for e in list_events(db)] == [canaries[0]["id"]]  # the made-up one left nothing
