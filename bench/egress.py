"""Benchmark of the egress watch: latency an ICAP check adds to uploads through Squid, and MB/s per core.

    python3 bench/egress.py [--canaries 1000] [--small 300] [--large 20]

One Squid (Debian) with two ports: one without ICAP (the reference: the proxy alone) and one whose
uploads go to the ICAP service (monitor mode, as deployed by default), which runs in its own process
as under ``canary serve --icap``. A local HTTP server receives the uploads. Each upload is a POST of
CSV text without canaries (the everyday case: every byte is still matched), sent one after the other
over keep-alive connections; 10 KB bodies ``--small`` times and 5 MB bodies ``--large`` times per
port, the ports alternating so that load changes hit both alike. Printed: p50 and p99 latency per
port and size, the p99 the check adds, and the ICAP process's CPU seconds, as MB matched per
CPU-second (MB/s per core). Bounded: at most (small + large) x 2 uploads, each with a 60 s timeout.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMALL = 10 * 1024
LARGE = 5 * 1024 * 1024


def prepare(db_path: Path, count: int) -> None:
    from canary.generate.seeding import derive_token
    from canary.store import open_db
    from canary.store.registry import add_canaries, add_system
    from tests.support.records import make_record

    db = open_db(db_path)
    add_system(db, "ehr-bench", "ehr")
    add_canaries(db, [{"id": f"bench{i:05d}", "system": "ehr-bench", "generation": 1,
                       "created_at": "2026-01-01T00:00:00Z", "token": derive_token("bench", f"bench{i:05d}"),
                       **make_record(i)} for i in range(count)])
    db.close()


def serve(db_path: str, port_file: str) -> None:
    """Child process: the ICAP service alone, until stdin closes."""
    from canary.watch.egress.icap import IcapService

    service = IcapService(Path(db_path), "127.0.0.1", 0)
    service.start()
    Path(port_file).write_text(str(service.port))
    sys.stdin.read()
    service.stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def huge_upload(port: int, megabytes: int, allow_204: bool) -> tuple[bool, int, float]:
    """One REQMOD of ``megabytes`` MB sent in 1 MiB chunks while the answer is read (and discarded)."""
    import socket
    import threading

    head = b"POST http://exfil.example.net/huge HTTP/1.1\r\nHost: exfil.example.net\r\n\r\n"
    icap = (f"REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\n"
            f"{'Allow: 204' + chr(13) + chr(10) if allow_204 else ''}"
            f"Encapsulated: req-hdr=0, req-body={len(head)}\r\n\r\n").encode()
    piece = b"%x\r\n" % (1 << 20) + b"y" * (1 << 20) + b"\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    started = time.perf_counter()

    def send() -> None:
        sock.sendall(icap + head)
        for _ in range(megabytes * 1_000_000 >> 20):
            sock.sendall(piece)
        sock.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    tail = b""
    status = 0
    while True:
        data = sock.recv(1 << 20)
        if not data:
            break
        if not status:
            status = int(data.split(b" ", 2)[1])
        tail = (tail + data)[-64:]
        if status == 204 and tail.endswith(b"\r\n\r\n") or tail.endswith(b"\r\n0\r\n\r\n"):
            break
    seconds = time.perf_counter() - started
    sender.join(120)
    sock.close()
    return allow_204, status, seconds


def body(size: int, seed: int) -> bytes:
    """CSV rows that look like an export (names, dates, amounts) but hold no canary."""
    rng = random.Random(seed)
    names = ["LEROY", "SIMON", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "ROUX", "FOURNIER", "GIRARD"]
    rows = []
    total = 0
    while total < size:
        row = (f"{rng.randrange(10**6):06d};{rng.choice(names)};{rng.choice(names).title()};"
               f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1930, 2020)};"
               f"{rng.randrange(10**5) / 100:.2f};commande {rng.randrange(10**4)}\n")
        rows.append(row)
        total += len(row)
    return "".join(rows).encode()[:size]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canaries", type=int, default=1000)
    parser.add_argument("--small", type=int, default=300, help="10 KB uploads per port")
    parser.add_argument("--large", type=int, default=20, help="5 MB uploads per port")
    parser.add_argument("--huge-mb", type=int, default=0,
                        help="also send one body of this many MB straight to the ICAP service, with and without "
                             "Allow: 204 (the issue's 2 GB upload: --huge-mb 2048)")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return

    import requests

    from tests.support.peers.egress import SQUID, Squid, UploadTarget

    if SQUID is None:
        sys.exit("squid is not installed (Debian package 'squid')")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "canary.db"
        prepare(db_path, args.canaries)
        port_file = Path(tmp) / "port"
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(db_path), str(port_file)],
                                 stdin=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 60
            while not port_file.exists() or not port_file.read_text():
                if time.monotonic() > deadline or child.poll() is not None:
                    sys.exit("the ICAP service did not start")
                time.sleep(0.05)
            icap_port = int(port_file.read_text())
            services = {"plain": None, "icap": f"icap://127.0.0.1:{icap_port}/reqmod"}
            with UploadTarget() as target, Squid(services, auth=False) as squid:
                session = {name: requests.Session() for name in services}
                for s in session.values():
                    s.trust_env = False
                results: dict[tuple[str, int], list[float]] = {}
                cpu: dict[int, float] = {}
                for size, count in ((SMALL, args.small), (LARGE, args.large)):
                    payloads = [body(size, i) for i in range(min(count, 8))]
                    cpu_before = cpu_seconds(child.pid)
                    for i in range(count):
                        for name in services:
                            data = payloads[i % len(payloads)]
                            started = time.perf_counter()
                            answer = session[name].post(target.url(f"/{name}/{size}/{i}"), data=data, timeout=60,
                                                        headers={"Content-Type": "text/csv"},
                                                        proxies={"http": squid.proxy(name, None)})
                            elapsed = time.perf_counter() - started
                            if answer.status_code != 200 or target.received.pop(f"/{name}/{size}/{i}") != data:
                                sys.exit(f"upload {name} {size} {i} failed: {answer.status_code}")
                            results.setdefault((name, size), []).append(elapsed * 1000)
                    cpu[size] = cpu_seconds(child.pid) - cpu_before
            huge = [huge_upload(icap_port, args.huge_mb, allow_204) for allow_204 in (True, False)] \
                if args.huge_mb else []
            peak_rss = peak_rss_mb(child.pid)
        finally:
            child.stdin.close()  # type: ignore[union-attr]
            child.wait(30)
    print(f"canaries in the registry: {args.canaries}; bodies: CSV without canaries; ICAP in monitor mode")
    print(f"{'size':>7} {'port':>6} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for size, label in ((SMALL, "10 KB"), (LARGE, "5 MB")):
        for name in ("plain", "icap"):
            values = results[(name, size)]
            print(f"{label:>7} {name:>6} {len(values):>4} {statistics.median(values):8.1f} "
                  f"{percentile(values, 0.99):8.1f} {statistics.fmean(values):8.1f}")
        added = percentile(results[("icap", size)], 0.99) - percentile(results[("plain", size)], 0.99)
        total_mb = size * len(results[("icap", size)]) / 1e6
        print(f"{label:>7} added p99: {added:.1f} ms; ICAP process {cpu[size]:.2f} CPU-s for {total_mb:.1f} MB: "
              f"{total_mb / max(cpu[size], 1e-9):.1f} MB/s per core")
    for allow_204, status, seconds in huge:
        print(f"{args.huge_mb} MB straight to ICAP, {'Allow: 204' if allow_204 else 'no 204 (echoed)'}: "
              f"ICAP {status} after {seconds:.1f} s ({args.huge_mb / seconds:.0f} MB/s)")
    print(f"ICAP process peak RSS: {peak_rss:.0f} MB")


if __name__ == "__main__":
    main()
