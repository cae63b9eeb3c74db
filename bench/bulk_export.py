"""A thief's bulk export seen through the access-log trail: how fast its canary reads become events,
and how soon on-call is paged.

    python3 bench/bulk_export.py                       # 300,000 lines, 10 % of them canary reads
    python3 bench/bulk_export.py --lines 100000 --share 0.1

One hijacked account reads every patient of the EHR in a few minutes; the EHR writes one audit line
per read. This bench registers as many hand-made canaries as there are canary reads, writes the trail
in one go (a log shipper catching up), and runs the file tailer (in this process, one thread) beside
the real alert worker (``canary notify run``, its own process) delivering to a webhook on loopback.
Printed: events/s from the first line to the last stored event, time to the first webhook, and the
reference measured on the same file: ``grep -c -F -f`` of the canary IPPs (matching only).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.alert.destinations import add_destination  # noqa: E402
from canary.settings import set_setting  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402
from canary.watch.accesslog.sources import add_source, get_source  # noqa: E402
from canary.watch.accesslog.tailer import FileTailService  # noqa: E402

SYSTEM = "ehr-bulk"
THIEF = "adm.prestataire"


def canary_ipp(i: int) -> str:
    return str(50_000_000 + i)


def make_registry(db_path: Path, count: int, hook: str) -> None:
    db = open_db(db_path)
    add_system(db, SYSTEM, "ehr", establishment="CH bench")
    add_canaries(db, [{"id": f"bulk{i:06d}", "system": SYSTEM, "generation": 1,
                       "created_at": "2026-01-01T00:00:00Z", "token": f"tk{i:08d}", "sex": "F",
                       "birth_name": f"NOM{i}", "used_name": None, "first_names": ["Marie"],
                       "birth_date": "1960-01-01", "nir": None, "ipp": canary_ipp(i), "phones": [], "email": None,
                       "tokens": {"url": None, "hostname": None}} for i in range(count)])
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    set_setting(db, "alert.rate_per_minute", "0")
    add_destination(db, hook)
    db.close()


def write_trail(path: Path, lines: int, reads: int) -> None:
    """The export: one line in ``lines / reads`` reads a canary (each once), the rest real patients."""
    rng = random.Random(11)
    every = lines / reads
    out = []
    canary = 0
    for n in range(lines):
        second = n // 1000  # 1,000 reads a second: a 300,000-row export in five minutes
        stamp = f"2026-11-14 02:{second // 60 % 60:02d}:{second % 60:02d}+01:00"
        if canary < reads and n >= canary * every:
            patient = canary_ipp(canary)
            canary += 1
        else:
            patient = str(rng.randrange(10_000_000, 40_000_000))
        out.append(f"{stamp} user={THIEF} ip=10.20.0.7 action=dPpatients.vw_full_patients ipp={patient} "
                   f"module=dPpatients\n")
    path.write_text("".join(out), encoding="utf-8")


class _Hook(BaseHTTPRequestHandler):
    first: list[float] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not _Hook.first:
            _Hook.first.append(time.perf_counter())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--share", type=float, default=0.10, help="share of the lines that read a canary")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    reads = int(args.lines * args.share)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="canary-bulk-"))
    workdir.mkdir(parents=True, exist_ok=True)
    for leftover in workdir.glob("bulk.db*"):
        leftover.unlink()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    db_path = workdir / "bulk.db"
    trail = workdir / "audit.log"
    trail.touch()
    worker = None
    service = None
    try:
        make_registry(db_path, reads, f"json://127.0.0.1:{server.server_address[1]}/hook")
        export = workdir / "export.log"
        write_trail(export, args.lines, reads)
        db = open_db(db_path)
        source = add_source(db, SYSTEM, f"file://{trail}", "mediboard", name="bulk")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        worker = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "notify", "run"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        service = FileTailService(db_path, source, poll_interval=0.05)
        service.start()
        time.sleep(2.0)  # the worker's start-up (imports) is not part of the pipeline
        cpu = time.process_time()
        start = time.perf_counter()
        shutil.copyfile(export, trail)  # the shipper lands the whole export at once
        stored_at = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            if events >= reads and stored_at is None:
                stored_at = time.perf_counter()
            if stored_at is not None and _Hook.first:
                break
            time.sleep(0.05)
        cpu = time.process_time() - cpu
        row = get_source(db, "bulk")
        events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        critical = db.execute("SELECT COUNT(*) FROM events WHERE severity = 'critical'").fetchone()[0]
        db.close()
    finally:
        if service is not None:
            service.stop()
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        server.shutdown()
    size = export.stat().st_size
    if stored_at is None:
        print(f"bulk export: only {events:,} of {reads:,} reads stored within 900 s")
    else:
        took = stored_at - start
        print(f"bulk export: {args.lines:,} lines ({size / 1e6:.0f} MB), {reads:,} canary reads by one account: "
              f"every read an event after {took:.2f} s wall ({events / took:,.0f} events/s; this process "
              f"{cpu:.2f} s CPU, {events / cpu:,.0f} events per CPU-second, parsing included); "
              f"lines counted {row['lines']:,}, events {events:,} ({critical:,} critical)")
    if _Hook.first:
        print(f"first page (webhook received) {(_Hook.first[0] - start) * 1000:.0f} ms after the export landed")
    else:
        print("first page: no webhook received")
    ids = workdir / "ids.txt"
    ids.write_text("".join(f"ipp={canary_ipp(i)} \n" for i in range(reads)), encoding="ascii")
    began = time.perf_counter()
    counted = subprocess.run(["grep", "-c", "-F", "-f", str(ids), str(export)], capture_output=True, text=True,
                             env={**os.environ, "LC_ALL": "C"}).stdout.strip()
    print(f"reference: grep -c -F -f ({reads:,} patterns) on the same file: "
          f"{time.perf_counter() - began:.2f} s, count {counted} (matching only: no parsing, no storing)")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
