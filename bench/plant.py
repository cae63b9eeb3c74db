"""Planting throughput against local peers, beside the bare protocol cost of the same traffic.

    python3 bench/plant.py [--count N]

For each channel it plants N hand-made canaries through `canary.plant` (lifecycle rows committed
before and after each message) and then sends the same payloads with the bare library (hl7 MLLP
client, requests, csv writer) with no registry at all: the difference is what our bookkeeping costs.
`mllps` is MLLP inside TLS (a throwaway CA, the hl7 server wrapped in an ssl context, ECDSA P-256,
one connection per run): its bare line uses the same client context, so the TLS cost shows against
the plain `mllp` lines. Peers are the test peers of tests/plant on 127.0.0.1. The deliberate spacing
between two canaries (`plant.send_spacing`) is turned off: this measures the machinery, not the pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CANARY_PLANT_SEND_SPACING", "0")

import hl7  # noqa: E402
import hl7.mllp  # noqa: E402
import requests  # noqa: E402

from canary.generate.seeding import derive_token  # noqa: E402
from canary.plant.channels.fhir.bundle import Establishment, build_bundle  # noqa: E402
from canary.plant.channels.file.export import MAPPINGS  # noqa: E402
from canary.plant.channels.mllp.client import MllpClient  # noqa: E402
from canary.plant.channels.mllp.hl7v2 import Peer, build_adt  # noqa: E402
from canary.plant.channels.mllp.tls import TlsConfig, client_context  # noqa: E402
from canary.plant.planter import plant  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.registry import add_canaries, add_system, list_canaries  # noqa: E402
from tests.support.peers.fhir import FhirServer, RunningServer  # noqa: E402
from tests.support.peers.mllp import MllpPeer, RunningMllp  # noqa: E402
from tests.support.pki import make_pki, server_context  # noqa: E402
from tests.support.records import make_record  # noqa: E402


def registry(folder: Path, system: str, count: int):
    db = open_db(folder / f"{system}.db")
    add_system(db, system, "ehr", establishment="Hôpital de banc")
    add_canaries(db, [{"id": f"b{i:07d}", "system": system, "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                       "token": derive_token("k", f"b{i:07d}"), **make_record(i)} for i in range(count)])
    return db


def start_mllp() -> tuple[MllpPeer, asyncio.AbstractEventLoop]:
    peer, loop, ready = MllpPeer(), asyncio.new_event_loop(), threading.Event()

    async def main() -> None:
        server = await hl7.mllp.start_hl7_server(peer.handle, "127.0.0.1", 0, encoding="utf-8")
        peer.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True).start()
    ready.wait(5)
    return peer, loop


def bare_mllp(db, system: str, port: int, context: ssl.SSLContext | None = None) -> float:
    """The same A28 messages over one hl7 MLLP connection, no registry: seconds taken."""
    link_peer = Peer("GAM", "", "", "", "X")
    messages = [build_adt(r, "A28", link_peer, f"C{i}") for i, r in enumerate(list_canaries(db, system=system))]

    async def send_all() -> None:
        reader, writer = await hl7.mllp.open_hl7_connection("127.0.0.1", port, encoding="utf-8", ssl=context)
        for message in messages:
            writer.writeblock(message.encode())
            await writer.drain()
            await reader.readmessage()
        writer.close()

    started = time.perf_counter()
    asyncio.run(send_all())
    return time.perf_counter() - started


def bench_mllp(folder: Path, count: int) -> tuple[float, float]:
    peer, _ = start_mllp()
    db = registry(folder, "mllp", count)
    started = time.perf_counter()
    assert plant(db, "mllp", peer.url).ok
    ours = time.perf_counter() - started
    return ours, bare_mllp(db, "mllp", peer.port)


def bench_mllps(folder: Path, count: int) -> tuple[float, float]:
    pki = make_pki(folder / "pki")
    peer = MllpPeer()
    running = RunningMllp(peer, ssl_context=server_context(pki.server))
    db = registry(folder, "mllps", count)
    started = time.perf_counter()
    assert plant(db, "mllps", peer.url, tls_ca=pki.ca.cert).ok
    ours = time.perf_counter() - started
    bare = bare_mllp(db, "mllps", peer.port, client_context(TlsConfig(ca_file=pki.ca.cert)))
    running.stop()
    return ours, bare


def bench_connect(folder: Path, times: int = 50) -> None:
    """Connection setup alone (TCP, and for mllps the handshake and the wait for the server's TLS 1.3
    acceptance), with and without a client certificate."""
    pki = make_pki(folder / "pki-connect")
    setups = [("mllp", None, None), ("mllps", TlsConfig(ca_file=pki.ca.cert), server_context(pki.server)),
              ("mllps+mTLS", TlsConfig(ca_file=pki.ca.cert, cert_file=pki.client.cert, key_file=pki.client.key),
               server_context(pki.server, client_ca=pki.client_ca))]
    for name, tls, context in setups:
        peer = MllpPeer()
        running = RunningMllp(peer, ssl_context=context)
        started = time.perf_counter()
        for _ in range(times):
            MllpClient("127.0.0.1", peer.port, timeout=5, tls=tls).connect().close()
        elapsed = time.perf_counter() - started
        running.stop()
        print(f"connect {name:11} {elapsed / times * 1000:8.2f}ms per connection ({times} connections, "
              "MllpClient connect + close)")


def bench_fhir(folder: Path, count: int) -> tuple[float, float]:
    server = FhirServer()
    running = RunningServer(server)
    db = registry(folder, "fhir", count)
    started = time.perf_counter()
    assert plant(db, "fhir", server.url).ok
    ours = time.perf_counter() - started
    site = Establishment("Hôpital de banc", None, "urn:oid:1.2.3")
    bundles = [build_bundle(r | {"ipp": "9" + r["ipp"]}, site) for r in list_canaries(db, system="fhir")]
    session = requests.Session()
    started = time.perf_counter()
    for bundle in bundles:
        session.post(server.url, json=bundle, headers={"Content-Type": "application/fhir+json"}).raise_for_status()
    bare = time.perf_counter() - started
    running.stop()
    return ours, bare


def bench_file(folder: Path, count: int) -> tuple[float, float]:
    db = registry(folder, "file", count)
    target = folder / "patients.csv"
    started = time.perf_counter()
    assert plant(db, "file", target.as_uri(), mapping="mediboard").ok
    ours = time.perf_counter() - started
    columns, _ = MAPPINGS["mediboard"]
    records = list_canaries(db, system="file")
    started = time.perf_counter()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), delimiter=";")
    writer.writeheader()
    writer.writerows({name: column(r) for name, column in columns.items()} for r in records)
    (folder / "bare.csv").write_text(buffer.getvalue())
    return ours, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    count = parser.parse_args().count
    print(f"{count} canaries per channel, peers on 127.0.0.1, {sys.platform}, Python {sys.version.split()[0]}")
    print(f"{'channel':8} {'canary.plant':>14} {'per canary':>12} {'bare library':>14} {'per canary':>12} "
          f"{'overhead':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, run in (("mllp", bench_mllp), ("mllps", bench_mllps), ("fhir", bench_fhir), ("file", bench_file)):
            ours, bare = run(Path(tmp), count)
            print(f"{name:8} {ours:13.2f}s {ours / count * 1000:10.2f}ms {bare:13.2f}s {bare / count * 1000:10.2f}ms "
                  f"{ours / bare:8.1f}x")
        bench_connect(Path(tmp))


if __name__ == "__main__":
    main()
