"""Three incidents on three systems (critical leak, medium DNS, high HTTP with an account), correlated."""

from __future__ import annotations

from pathlib import Path

from canary.alert.correlate import correlate_all
from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.events import record_event
from canary.store.registry import add_canaries, add_system
from tests.support.records import make_record

SYSTEMS = ("ehr-mediboard", "lab-sil", "ehr-lyon")


def add_canary(db, system: str, canary_id: str, number: int) -> None:
    add_canaries(db, [{"id": canary_id, "system": system, "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                       "token": derive_token("k", canary_id), **make_record(number)}])


def three_incidents(db_path: Path) -> dict[str, int]:
    """The alert id of each system's incident."""
    db = open_db(db_path)
    for number, system in enumerate(SYSTEMS):
        if not db.execute("SELECT 1 FROM systems WHERE name = ?", [system]).fetchone():
            add_system(db, system, "lab" if system == "lab-sil" else "ehr")
        add_canary(db, system, f"inbx{number:06d}", number)
    record_event(db, channel="leak", canary_id="inbx000000", severity="critical", source="dump.sql.gz",
                 details={"group": "sweep:1"})
    record_event(db, channel="dns", canary_id="inbx000001", severity="medium", source="198.51.100.7")
    record_event(db, channel="http", canary_id="inbx000002", severity="high", source="203.0.113.9",
                 account="jdupont")
    correlate_all(db)
    ids = {system: db.execute("SELECT id FROM alerts WHERE systems LIKE ?", [f'%"{system}"%']).fetchone()[0]
           for system in SYSTEMS}
    db.close()
    return ids
