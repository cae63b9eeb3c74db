"""Alert pipeline benchmark: correlation throughput, then event-stored -> webhook-received latency.

    python3 bench/alerts.py [--events 20000] [--rate 200] [--seconds 20]

1. Correlation: ``--events`` events (dumps of 50 canaries across 3 systems, access-log bursts, tripwire
   hits) folded into alerts with one destination routed, timed end to end (events/s).
2. Latency: the real worker (``canary notify run``, a separate process, default settings except the
   loopback allow-list and no rate limit) while this process stores events at a steady ``--rate`` per
   second for ``--seconds`` seconds, each one a new alert; a local HTTP receiver timestamps each webhook.
   Printed beside it: the same receiver's round trip for a bare POST, the floor any sender pays.
Target (issue 7): p99 under 1 s at 200 events/s. Only loopback traffic; bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.alert.correlate import correlate_all  # noqa: E402
from canary.alert.destinations import add_destination  # noqa: E402
from canary.settings import set_setting  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.events import record_event  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402

SYSTEMS = ("ehr-chu", "lab-sud", "billing-nord")


def populate(db, per_system: int) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for s, system in enumerate(SYSTEMS):
        add_system(db, system, "ehr", establishment=f"Établissement {s}")
        batch = []
        for i in range(per_system):
            cid = f"b{s}{i:07d}"
            batch.append({"id": cid, "system": system, "generation": 1 + i // max(1, per_system // 4),
                          "created_at": f"2026-0{1 + i * 4 // per_system}-01T00:00:00Z",
                          "token": secrets.token_hex(8), "ipp": f"{s}{i:08d}", "first_names": []})
        add_canaries(db, batch)
        ids[system] = [c["id"] for c in batch]
    return ids


def bench_correlation(events: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(Path(tmp) / "bench.db")
        ids = populate(db, 2000)
        add_destination(db, f"jsonl://{tmp}/siem.jsonl", min_severity="info")
        made = 0
        sweep = 0
        while made < events:
            sweep += 1
            for system in SYSTEMS:  # a dump: 50 canaries over three systems
                for cid in ids[system][sweep % 40 * 17:][:17]:
                    record_event(db, channel="leak", canary_id=cid, severity="critical",
                                 details={"group": f"sweep:{sweep}"})
                    made += 1
            for k in range(20):  # an access-log burst by one account
                record_event(db, channel="access-log", canary_id=ids[SYSTEMS[0]][k], severity="critical",
                             account=f"user{sweep}", details={"group": f"access:{SYSTEMS[0]}:user{sweep}",
                                                              "exfiltration": True})
                made += 1
            for k in range(30):  # tripwire hits, most repeating a canary already hit
                cid = ids[SYSTEMS[k % 3]][(sweep * 7 + k) % 300]
                record_event(db, channel="http", canary_id=cid, severity="high",
                             details={"group": f"tripwire:http:{cid}"})
                made += 1
        start = time.perf_counter()
        result = correlate_all(db)
        elapsed = time.perf_counter() - start
        db.close()
    return result.events / elapsed, result.alerts_created


class _Receiver(BaseHTTPRequestHandler):
    arrivals: dict[str, float] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time()
        key = json.loads(body).get("key", "") if body else ""
        _Receiver.arrivals.setdefault(key, now)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_latency(rate: int, seconds: float) -> dict[str, float]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    total = int(rate * seconds)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        db = open_db(db_path)
        ids = populate(db, max(100, total // 3 + 1))
        set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
        set_setting(db, "alert.rate_per_minute", "0")
        add_destination(db, f"json://127.0.0.1:{port}/hook")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        worker = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "notify", "run"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)  # worker start-up (imports) is not part of the pipeline latency
            stored: dict[str, float] = {}
            start = time.perf_counter()
            for i in range(total):
                due = start + i / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                cid = ids[SYSTEMS[i % 3]][i // 3]
                group = f"tripwire:http:{cid}"
                record_event(db, channel="http", canary_id=cid, severity="high", details={"group": group})
                stored[group] = time.time()
            achieved = total / (time.perf_counter() - start)
            deadline = time.time() + 30
            while len(_Receiver.arrivals) < total and time.time() < deadline:
                time.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            db.close()
    latencies = [_Receiver.arrivals[k] - t for k, t in stored.items() if k in _Receiver.arrivals]
    baseline = []
    session = requests.Session()
    for _ in range(500):
        t0 = time.perf_counter()
        session.post(f"http://127.0.0.1:{port}/hook", data=b"{}", timeout=5)
        baseline.append(time.perf_counter() - t0)
    server.shutdown()
    return {"sent": total, "received": len(latencies), "rate": achieved,
            "p50": percentile(latencies, 0.50), "p99": percentile(latencies, 0.99), "max": max(latencies),
            "post_p50": percentile(baseline, 0.50), "post_p99": percentile(baseline, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    per_second, alerts = bench_correlation(args.events)
    print(f"correlation: {per_second:,.0f} events/s ({args.events} events -> {alerts} alerts, one destination)")
    figures = bench_latency(args.rate, args.seconds)
    print(f"latency at {figures['rate']:.0f} events/s for {args.seconds:.0f} s: "
          f"{figures['received']}/{figures['sent']} webhooks received, "
          f"p50 {figures['p50'] * 1000:.0f} ms, p99 {figures['p99'] * 1000:.0f} ms, max {figures['max'] * 1000:.0f} ms")
    print(f"reference: target p99 < 1000 ms (issue 7); bare POST to the same receiver "
          f"p50 {figures['post_p50'] * 1000:.1f} ms, p99 {figures['post_p99'] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
