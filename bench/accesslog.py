"""Access-log watch benchmark: lines/s parsed and matched, and write-to-event latency.

    python3 bench/accesslog.py                 # 10 million lines, 10,000 canaries
    python3 bench/accesslog.py --lines 1000000 # smaller

Builds a throw-away registry with hand-made canaries, writes a Mediboard-profile trail where one
line in --hit-every names a canary, reads it with the file tailer's code path (one thread, one
core; offsets committed per 4 MiB batch), and prints the reference ``grep -c -F -f ids.txt`` on the
same file. Then measures the delay from appending a line to a tailed file (and sending a syslog
message over UDP and TCP) to its event being stored.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from canary.store import open_db
from canary.store.registry import add_canaries, add_system
from canary.watch.accesslog.sources import add_source, get_source
from canary.watch.accesslog.syslog import SyslogService
from canary.watch.accesslog.tailer import FileFollower, FileTailService

SYSTEM = "ehr-bench"
USERS = [f"u{i:04d}" for i in range(800)]
ACTIONS = ["dPpatients.vw_full_patients", "dPcabinet.edit_consultation", "dPplanningOp.vw_edit_sejour",
           "dPpatients.ajax_search", "dPprescription.vw_edit_prescription"]


def canary_ipp(i: int) -> str:
    return str(50_000_000 + i)


def nir(i: int) -> str:
    body = f"{1 + i % 2}{50 + i % 40:02d}{1 + i % 12:02d}69383{(i % 999) + 1:03d}"[:13]
    return body + f"{97 - int(body) % 97:02d}"


def make_registry(db_path: Path, count: int) -> None:
    db = open_db(db_path)
    add_system(db, SYSTEM, "ehr")
    canaries = []
    for i in range(count):
        canaries.append({
            "id": f"bench{i:06d}", "system": SYSTEM, "generation": 1, "created_at": "2026-01-01T00:00:00Z",
            "token": f"tok{i:08d}", "sex": "F", "birth_name": f"NOM{i}", "used_name": None,
            "first_names": ["Marie"], "birth_date": "1960-01-01", "nir": None, "ipp": canary_ipp(i),
            "phones": [], "email": None, "tokens": {"url": None, "hostname": None},
        })
    add_canaries(db, canaries)
    db.close()


def write_trail(path: Path, lines: int, canaries: int, hit_every: int) -> int:
    rng = random.Random(7)
    hits = 0
    chunk: list[str] = []
    with open(path, "w", encoding="utf-8") as out:
        for n in range(lines):
            second = n // 200
            stamp = f"2026-11-14 {8 + second // 3600 % 12:02d}:{second // 60 % 60:02d}:{second % 60:02d}+01:00"
            if n % hit_every == hit_every // 2:
                patient = canary_ipp(rng.randrange(canaries))
                hits += 1
            else:
                patient = str(rng.randrange(10_000_000, 40_000_000))
            chunk.append(f"{stamp} user={USERS[n % 800]} ip=10.{n % 7}.{n % 250}.{n % 199} "
                         f"action={ACTIONS[n % 5]} ipp={patient} module=dPpatients\n")
            if len(chunk) >= 100_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return hits


def throughput(db_path: Path, trail: Path) -> tuple[float, float, dict]:
    db = open_db(db_path)
    source = add_source(db, SYSTEM, f"file://{trail}", "mediboard", name="bench-file")
    follower = FileFollower(db, source)
    wall, cpu = time.perf_counter(), time.process_time()
    follower.poll()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    follower.close()
    counters = get_source(db, "bench-file")
    db.close()
    return wall, cpu, counters


def grep_reference(trail: Path, ids: Path) -> tuple[float, str]:
    if not shutil.which("grep"):
        return float("nan"), "grep not found"
    start = time.perf_counter()
    result = subprocess.run(["grep", "-c", "-F", "-f", str(ids), str(trail)], capture_output=True, text=True,
                            env={**os.environ, "LC_ALL": "C"})
    return time.perf_counter() - start, result.stdout.strip()


def _event_count(db) -> int:
    return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def _wait_event(db, before: int, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if _event_count(db) > before:
            return time.perf_counter()
        time.sleep(0.002)
    raise RuntimeError("no event within 10 s")


def file_latency(db_path: Path, workdir: Path, samples: int) -> list[float]:
    db = open_db(db_path)
    log = workdir / "live.log"
    log.touch()
    service = FileTailService(db_path, add_source(db, SYSTEM, f"file://{log}", "mediboard", name="bench-live"))
    service.start()
    service.ready.wait(10)
    delays = []
    try:
        for i in range(samples):
            before = _event_count(db)
            with open(log, "a", encoding="utf-8") as handle:
                start = time.perf_counter()
                handle.write(f"2026-11-28 10:00:{i % 60:02d} user=lat{i} ip=10.0.0.1 action=view "
                             f"ipp={canary_ipp(i)}\n")
            delays.append(_wait_event(db, before) - start)
            time.sleep(0.05)
    finally:
        service.stop()
        db.close()
    return delays


def syslog_latency(db_path: Path, samples: int) -> dict[str, list[float]]:
    db = open_db(db_path)
    service = SyslogService(db_path, add_source(db, SYSTEM, "syslog://127.0.0.1:0", "mediboard", name="bench-syslog"))
    service.start()
    out: dict[str, list[float]] = {"udp": [], "tcp": []}
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.create_connection(("127.0.0.1", service.tcp_port))
        for i in range(samples):
            for transport in ("udp", "tcp"):
                before = _event_count(db)
                message = (f"<134>1 2026-11-28T10:00:00Z bench mediboard - - - user=sys{transport}{i} "
                           f"action=view ipp={canary_ipp(1000 + i)}").encode()
                start = time.perf_counter()
                if transport == "udp":
                    udp.sendto(message, ("127.0.0.1", service.udp_port))
                else:
                    tcp.sendall(f"{len(message)} ".encode() + message)
                out[transport].append(_wait_event(db, before) - start)
                time.sleep(0.02)
        udp.close()
        tcp.close()
    finally:
        service.stop()
        db.close()
    return out


# A relay flushing its backlog: paced sender in its own process, so the receiver's core is its own.
_BURST_SENDER = r"""
import socket, sys, time
port, count, rate, hits = (int(a) for a in sys.argv[1:5])
every = count // hits
conn = socket.create_connection(("127.0.0.1", port))
chunk, start, n = [], time.perf_counter(), 0
while n < count:
    for _ in range(min(1000, count - n)):
        patient = 50000000 + (n // every) if n % every == every // 2 and n // every < hits else 10000000 + n
        chunk.append(f"<38>Nov 14 09:33:11 srv-dpi mediboard[812]: user=b{n} ip=10.0.0.1 "
                     f"action=dPpatients.vw_full_patients ipp={patient} module=dPpatients\n")
        n += 1
    conn.sendall("".join(chunk).encode())
    chunk.clear()
    ahead = n / rate - (time.perf_counter() - start)
    if ahead > 0:
        time.sleep(ahead)
conn.close()
print(f"{time.perf_counter() - start:.3f}")
"""


def _send_burst(port: int, count: int, rate: int, hits: int) -> float:
    done = subprocess.run([sys.executable, "-c", _BURST_SENDER, str(port), str(count), str(rate), str(hits)],
                          check=True, capture_output=True, text=True, timeout=600)
    return float(done.stdout.strip())


def _plain_reader(count: int, rate: int, hits: int) -> tuple[float, int]:
    """Reference: a bare socket reader that only counts newlines, fed by the same sender."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    seen = 0
    result: dict[str, float] = {}

    def read() -> None:
        nonlocal seen
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                seen += data.count(b"\n")
        result["end"] = time.perf_counter()

    import threading
    reader = threading.Thread(target=read)
    reader.start()
    start = time.perf_counter()
    _send_burst(port, count, rate, hits)
    reader.join()
    server.close()
    return result["end"] - start, seen


def syslog_burst(db_path: Path, count: int, rate: int, hits: int) -> dict:
    """300,000 lines at ~100,000 lines/s over one TCP connection, ``hits`` of them canary reads: how
    long until every line is counted and every read is an event."""
    db = open_db(db_path)
    source = add_source(db, SYSTEM, "syslog+tcp://127.0.0.1:0", "mediboard", name="bench-burst")
    service = SyslogService(db_path, source)
    service.start()
    events_before = _event_count(db)
    cpu_before = time.process_time()
    start = time.perf_counter()
    try:
        sent_in = _send_burst(service.tcp_port, count, rate, hits)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            row = get_source(db, "bench-burst")
            if row["lines_received"] >= count and row["lines"] >= count and service.queue.empty():
                break
            time.sleep(0.05)
        wall = time.perf_counter() - start
        service.stop()
        row = get_source(db, "bench-burst")
        return {"wall": wall, "cpu": time.process_time() - cpu_before, "sent_in": sent_in, "lines": row["lines"],
                "lines_received": row["lines_received"], "bytes_received": row["bytes_received"],
                "malformed": row["malformed"], "events": _event_count(db) - events_before}
    finally:
        service.stop()
        db.close()


def _summary(delays: list[float]) -> str:
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"median {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms over {len(ordered)} lines")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--canaries", type=int, default=10_000)
    parser.add_argument("--hit-every", type=int, default=10_000, help="one line in N names a canary")
    parser.add_argument("--samples", type=int, default=30, help="latency samples per channel")
    parser.add_argument("--burst", type=int, default=300_000, help="syslog TCP burst: lines (0: skip)")
    parser.add_argument("--burst-rate", type=int, default=100_000, help="syslog TCP burst: lines/s sent")
    parser.add_argument("--burst-only", action="store_true", help="run only the syslog TCP burst")
    parser.add_argument("--workdir", type=Path, help="where to write the trail (default: a temporary folder)")
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="canary-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "bench.db"
    for leftover in workdir.glob("bench.db*"):
        leftover.unlink()
    try:
        start = time.perf_counter()
        make_registry(db_path, args.canaries)
        if args.burst:
            reads = min(500, args.canaries)
            burst = syslog_burst(db_path, args.burst, args.burst_rate, reads)
            ref_wall, ref_lines = _plain_reader(args.burst, args.burst_rate, reads)
            print(f"syslog TCP burst, {args.burst:,} lines sent at {args.burst_rate:,} lines/s "
                  f"(sender took {burst['sent_in']:.2f} s), {reads} canary reads: canary {burst['wall']:.2f} s wall, "
                  f"{burst['cpu']:.2f} s CPU -> {burst['lines'] / burst['wall']:,.0f} lines/s; "
                  f"received {burst['lines_received']:,} lines ({burst['bytes_received']:,} bytes), counted "
                  f"{burst['lines']:,}, malformed {burst['malformed']}, events {burst['events']} of {reads}")
            print(f"reference: plain socket reader counting newlines, same sender: {ref_wall:.2f} s, "
                  f"{ref_lines:,} lines -> {ref_lines / ref_wall:,.0f} lines/s")
            if args.burst_only:
                return
        trail = workdir / "access.log"
        hits = write_trail(trail, args.lines, args.canaries, args.hit_every)
        ids = workdir / "ids.txt"
        ids.write_text("".join(f"ipp={canary_ipp(i)}\n" for i in range(args.canaries)), encoding="ascii")
        size = trail.stat().st_size
        print(f"setup: {args.canaries} canaries, {args.lines:,} lines ({size / 1e6:.0f} MB), {hits} naming a "
              f"canary, in {time.perf_counter() - start:.1f} s")

        wall, cpu, counters = throughput(db_path, trail)
        print(f"canary (file tailer path, 1 thread): {wall:.2f} s wall, {cpu:.2f} s CPU -> "
              f"{args.lines / wall:,.0f} lines/s ({size / wall / 1e6:.0f} MB/s); "
              f"matched {counters['matched']}, events {counters['events']}, malformed {counters['malformed']}")
        g_wall, g_out = grep_reference(trail, ids)
        print(f"reference: grep -c -F -f ids.txt access.log: {g_wall:.2f} s -> {args.lines / g_wall:,.0f} "
              f"lines/s, count {g_out} (matching only, no parsing, no storing)")
        if counters["matched"] != hits:
            print(f"WARNING: matched {counters['matched']} lines, expected {hits}")

        print(f"latency file append -> event stored: {_summary(file_latency(db_path, workdir, args.samples))}")
        for transport, delays in syslog_latency(db_path, args.samples).items():
            print(f"latency syslog {transport} send -> event stored: {_summary(delays)}")
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
