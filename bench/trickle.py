"""How a generation reaches a target: one block (`plant`) against a trickle (`plant --over`).

    python3 bench/trickle.py [--count N] [--over 30d]

1. Shape of the arrivals: N canaries scheduled over the window (`canary.plant.timing.arrival_times`), beside
   what one `plant` run of N gives at the MLLP test peer with the old pacing (none) and with the default
   `plant.send_spacing`-like pacing shortened to 0.2 s: the time covered, the busiest second and hour, the
   share in weekday office hours (Paris), the share at night.
2. Cost of the machinery: scheduling N canaries into the registry, and planting N due arrivals through
   `run_due` (claim, plant one, record; its catch-up pause off), beside one `plant` run of the same N.
Peers are the test peers of tests/plant on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.durations import parse_duration  # noqa: E402
from canary.generate.seeding import derive_token  # noqa: E402
from canary.plant.planter import plant  # noqa: E402
from canary.plant.timing import PARIS, arrival_times  # noqa: E402
from canary.plant.trickle import run_due, schedule_plant  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402
from tests.support.peers.mllp import MllpPeer, RunningMllp  # noqa: E402
from tests.support.records import make_record  # noqa: E402


def registry(path: Path, count: int):
    db = open_db(path)
    add_system(db, "ehr", "ehr", establishment="Hôpital de banc")
    add_canaries(db, [{"id": f"b{i:07d}", "system": "ehr", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                       "token": derive_token("k", f"b{i:07d}"), **make_record(i)} for i in range(count)])
    return db


def shape(times: list[datetime]) -> dict[str, str]:
    seconds = Counter(t.replace(microsecond=0) for t in times)
    hours = Counter(t.replace(minute=0, second=0, microsecond=0) for t in times)
    local = [t.astimezone(PARIS) for t in times]
    office = sum(1 for t in local if t.weekday() < 5 and 8 <= t.hour < 18) / len(times)
    night = sum(1 for t in local if t.hour < 6) / len(times)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    return {"covers": f"{(times[-1] - times[0]).total_seconds() / 3600:.2f} h",
            "median gap": f"{statistics.median(gaps):.1f} s" if gaps else "-",
            "busiest second": str(max(seconds.values())), "busiest hour": str(max(hours.values())),
            "office hours": f"{office:.0%}", "night 0-6h": f"{night:.0%}"}


def block_run(folder: Path, count: int, spacing: str) -> tuple[list[datetime], float]:
    os.environ["CANARY_PLANT_SEND_SPACING"] = spacing
    peer = MllpPeer()
    server = RunningMllp(peer)
    db = registry(folder / f"block-{spacing}.db", count)
    started = time.perf_counter()
    assert plant(db, "ehr", f"{peer.address}?app=DPI&facility=CHUX").ok
    took = time.perf_counter() - started
    server.stop()
    db.close()
    stamps = [datetime.strptime(str(m.segment("MSH")(7))[:14], "%Y%m%d%H%M%S").replace(tzinfo=PARIS)
              for m in peer.messages]
    return stamps, took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--over", default="30d")
    args = parser.parse_args()
    count, over = args.count, parse_duration(args.over)
    os.environ["CANARY_PLANT_TRICKLE_MIN_SPACING"] = "60"
    print(f"{count} canaries, MLLP test peer on 127.0.0.1, {sys.platform}, Python {sys.version.split()[0]}")
    start = datetime(2026, 12, 7, tzinfo=UTC)
    trickle = arrival_times(start, over, count, random.Random(1), min_spacing=60)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        block, block_took = block_run(folder, count, "0")
        paced, paced_took = block_run(folder, count, "0.2")
        columns = {f"plant (no pacing, {block_took:.1f} s)": shape(block),
                   f"plant (pacing 0.2 s, {paced_took:.1f} s)": shape(paced),
                   f"plant --over {args.over}": shape(trickle)}
        print(f"{'':16}" + "".join(f"{name:>32}" for name in columns))
        for key in next(iter(columns.values())):
            print(f"{key:16}" + "".join(f"{figures[key]:>32}" for figures in columns.values()))

        os.environ["CANARY_PLANT_SEND_SPACING"] = "0"
        peer = MllpPeer()
        server = RunningMllp(peer)
        db = registry(folder / "trickle.db", count)
        url = f"{peer.address}?app=DPI&facility=CHUX"
        started = time.perf_counter()
        schedule_plant(db, "ehr", url, over, start=datetime.now(UTC) - over - timedelta(hours=1))
        scheduled = time.perf_counter() - started
        started = time.perf_counter()
        done = run_due(db, pause=lambda seconds: False)
        ran = time.perf_counter() - started
        server.stop()
        assert len(done) == count and all(a.state == "planted" for a in done)
        print(f"schedule {count} arrivals: {scheduled:.2f} s; plant {count} due arrivals one by one: {ran:.2f} s "
              f"({ran / count * 1000:.2f} ms each) against one plant run of {count}: {block_took:.2f} s "
              f"({block_took / count * 1000:.2f} ms each)")


if __name__ == "__main__":
    main()
