"""Correlating a dump swept again (the "seen again" path) against the first sweep of the same dump.

    python3 bench/seen_again.py [--findings 20000]

A registry with ``--findings`` canaries; sweep 1 records one leak event per canary (one dump), then
sweeps 2 and 3 record the same findings again (same dump hash). Each sweep is correlated with
``correlate_all`` and timed; the first sweep is the reference measured in the same run. A re-sweep
must cost about what the first one does, whatever the number of leak events already stored.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.alert.correlate import correlate_all  # noqa: E402
from canary.alert.model import list_alerts  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.events import record_event  # noqa: E402
from canary.store.registry import add_system  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--findings", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "canary.db")
        add_system(db, "ehr-chu", "ehr", establishment="CHU de test")
        # Canary rows only (no markers): correlation reads events and the canaries' systems, nothing else.
        canaries = [{"id": f"b{i:07d}"} for i in range(args.findings)]
        with db.conn:
            db.conn.executemany(
                "INSERT INTO canaries (id, system, generation, created_at, status, token, record) "
                "VALUES (?, 'ehr-chu', 1, '2026-01-01T00:00:00Z', 'active', ?, '{}')",
                [(c["id"], f"t{i:019d}") for i, c in enumerate(canaries)])
        for sweep in (1, 2, 3):
            with db.conn:
                for i, canary in enumerate(canaries):
                    record_event(db, channel="leak", canary_id=canary["id"], severity="critical",
                                 source="dump.csv", details={"group": f"sweep:{sweep}", "sweep_id": sweep, "line": i,
                                                             "dump_hash": "same-dump", "dump_source": "feed:forum"},
                                 dedup_key=f"sweep:{sweep}:{canary['id']}")
            start = time.perf_counter()
            result = correlate_all(db)
            seconds = time.perf_counter() - start
            print(f"sweep {sweep}: {result.events} events correlated in {seconds:.2f} s "
                  f"({result.events / seconds:,.0f} events/s), {result.pages} page(s)")
        (alert,) = list_alerts(db)
        print(f"alerts: 1, seen_again={alert['seen_again']}, count={alert['count']}")


if __name__ == "__main__":
    main()
