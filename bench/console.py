"""Console benchmark: time to render each page with a large registry.

    python3 bench/console.py                   # 100,000 events, 10,000 canaries, 1,000 alerts
    python3 bench/console.py --events 20000    # smaller

Builds a throw-away registry (10 systems, canaries with their markers, events spread over the last 40
days, alerts each linked to 100 events, plantings, sweeps), signs in as an admin and as a viewer with
the Flask test client (no socket: the figure is the app's own work, SQLite included) and prints the
median and worst render time of each page over --rounds requests. A system's page computes the
planner's figures for admins; its worst time includes reading the generator's tables, once per process.
Then a system page's first render in fresh apps: tables read on demand (the reference, as before), and
read in a background thread from the start as `serve` does, the page asked once they are in or at once.
The reference, measured in the same run, is what the index did before pages were paged: load every
event to show the last 20.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from canary.store import open_db
from canary.store.events import list_events
from canary.store.registry import add_canaries, add_system
from canary.web import create_app
from canary.web.users import add_user

PASSWORD = "bench password of the console"
SYSTEMS = [f"ehr-{i}" for i in range(10)]
CHANNELS = ["http", "dns", "smtp", "access-log", "leak"]
SEVERITIES = ["low", "medium", "high", "critical"]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_registry(path: Path, *, events: int, canaries: int, alerts: int) -> None:
    db = open_db(path)
    for name in SYSTEMS:
        add_system(db, name, "ehr", establishment=f"Centre hospitalier {name}")
    rows = []
    for i in range(canaries):
        rows.append({"id": f"c{i:07d}", "system": SYSTEMS[i % len(SYSTEMS)], "generation": 1,
                     "created_at": "2026-01-01T00:00:00Z", "token": f"tok{i:09d}", "sex": "F",
                     "birth_name": f"NOM{i}", "used_name": None, "first_names": ["Marie"], "birth_date": "1960-01-01",
                     "nir": None, "ipp": str(60_000_000 + i), "phones": [], "email": None,
                     "address": {"line": "1 rue des Lilas", "postcode": "69003", "city": "Lyon",
                                 "commune_code": "69383"},
                     "tokens": {"url": None, "hostname": None}})
    add_canaries(db, rows)
    now = datetime.now(UTC)
    with db.conn:
        db.conn.executemany(
            "INSERT INTO plantings (canary_id, system, channel, target, state, planned_at, planted_at, updated_at) "
            "VALUES (?, ?, 'file', ?, 'planted', ?, ?, ?)",
            [(f"c{i:07d}", SYSTEMS[i % len(SYSTEMS)], f"file:///srv/export/{SYSTEMS[i % len(SYSTEMS)]}.csv",
              "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z") for i in range(canaries)])
        db.conn.executemany(
            "INSERT INTO events (time, recorded_at, channel, canary_id, system, source, severity, details, dedup_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(_iso(now - timedelta(seconds=40 * 86400 * (events - i) / events)), _iso(now), CHANNELS[i % 5],
              f"c{(i * 7) % canaries:07d}", SYSTEMS[(i * 7) % canaries % len(SYSTEMS)], f"203.0.113.{i % 250}",
              SEVERITIES[i % 4], json.dumps({"group": f"g{i % alerts}", "user_agent": "Mozilla/5.0"}), f"d{i}")
             for i in range(events)])
        alert_rows = []
        for a in range(alerts):
            seen = _iso(now - timedelta(hours=a))
            alert_rows.append((f"g{a}", "open" if a < 50 else "resolved", SEVERITIES[a % 4], CHANNELS[a % 5],
                               json.dumps([SYSTEMS[a % len(SYSTEMS)]]), json.dumps([f"c{a % canaries:07d}"]), 100,
                               seen, seen, seen, seen))
        db.conn.executemany(
            "INSERT INTO alerts (key, state, severity, channel, systems, canaries, count, first_seen, last_seen, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", alert_rows)
        db.conn.executemany("INSERT INTO alert_events (event_id, alert_id) VALUES (?, ?)",
                            [(e, (e % alerts) + 1) for e in range(1, events + 1)])
        db.conn.executemany(
            "INSERT INTO sweeps (feed, sources, started_at, finished_at, status, files, bytes) "
            "VALUES ('dumps', '[\"/srv/dumps\"]', ?, ?, 'ok', 12, 123456789)",
            [(_iso(now - timedelta(days=d)),) * 2 for d in range(200)])
    # Known sizes: the system pages compute the planner's figures (analysts and admins).
    db.execute("UPDATE systems SET patients = 250000")
    add_user(db, "admin", PASSWORD, "admin")
    add_user(db, "viewer", PASSWORD, "viewer")
    db.close()


def _time(client, url: str, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        resp = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status_code == 200, (url, resp.status_code)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--canaries", type=int, default=10_000)
    parser.add_argument("--alerts", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        start = time.perf_counter()
        make_registry(path, events=args.events, canaries=args.canaries, alerts=args.alerts)
        print(f"registry: {args.events:,} events, {args.canaries:,} canaries, {args.alerts:,} alerts "
              f"(built in {time.perf_counter() - start:.1f} s)")
        app = create_app({"DATABASE": str(path)})
        pages = ["/", "/systems", "/systems/ehr-3", "/systems/ehr-3/stealth",
                 "/canaries", "/canaries?system=ehr-3", "/canaries?id=c00042",
                 "/canaries/c0000007", "/alerts", "/alerts?all=1", "/alerts/1", "/events", "/events?system=ehr-2",
                 "/sweeps", "/watch", "/settings", "/audit", "/api/v1/events?limit=50", "/api/v1/alerts?state=open",
                 "/inbox", "/inbox?q=c00000", "/inbox/rows?severity=high", "/api/v1/inbox?state=open"]
        worst_median = 0.0
        for role in ("admin", "viewer"):
            client = app.test_client()
            client.post("/auth/login", data={"username": role, "password": PASSWORD})
            if role == "admin":
                from canary.web.tokens import create_token

                db = open_db(path)
                _, secret = create_token(db, "bench", "admin", "bench")
                db.close()
                client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
            print(f"\n{role}: page                          median ms   worst ms")
            for page in pages:
                if role == "viewer" and (page in ("/settings", "/audit", "/systems/ehr-3/stealth")
                                         or page.startswith("/api/")):
                    continue
                median, worst = _time(client, page, args.rounds)
                worst_median = max(worst_median, median)
                print(f"  {page:<38} {median:8.1f} {worst:10.1f}")
        first_renders(path)
        db = open_db(path)
        start = time.perf_counter()
        list_events(db)[-20:]
        reference = (time.perf_counter() - start) * 1000
        db.close()
        print(f"\nreference: loading every event to show 20 (the index before paging): {reference:.1f} ms")
        print(f"slowest page median: {worst_median:.1f} ms (target < 200 ms)")


def first_renders(path: Path) -> None:
    """A system page's first render in a fresh process: tables read on demand (the reference), read in the
    background from the start as ``serve`` does (page asked once they are in, and asked at once)."""
    from canary.web.system_view import preload_places

    print("\nfirst render of /systems/ehr-3 in a fresh app (admin)        ms")
    for label, preload, wait in (("tables read on demand (reference)", False, False),
                                 ("read at serve start, page after start-up", True, True),
                                 ("read at serve start, page asked at once", True, False)):
        app = create_app({"DATABASE": str(path)})
        client = app.test_client()
        client.post("/auth/login", data={"username": "admin", "password": PASSWORD})
        if preload:
            started = time.perf_counter()
            preload_places(app)
            if wait:
                app.extensions["canary.places"].result()
                print(f"  (background reading took {(time.perf_counter() - started) * 1000:.0f} ms)")
        start = time.perf_counter()
        client.get("/systems/ehr-3")
        print(f"  {label:<58} {(time.perf_counter() - start) * 1000:6.0f}")


if __name__ == "__main__":
    main()
