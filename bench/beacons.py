"""Which generated documents fire when a real office suite opens them (LibreOffice, headless).

    python3 bench/beacons.py [--soffice soffice] [--timeout 120]

Too slow for the test suite (LibreOffice takes seconds per file). Every document the CLI writes (PDF,
DOCX and XLSX; compte rendu and ordonnance) is opened by ``soffice --headless --convert-to pdf``, as
a thief converting or printing it would, while the callback listener runs on 127.0.0.1. For each
document the script prints the time taken, the events stored (channel, severity, the picture
mechanism that fired) and, as the reference measured in the same run, the time LibreOffice takes on
a document of the same kind without any link.

Only loopback: the documents are made with ``tripwire.base_url`` on the local listener and without a
DNS zone (a name of a real zone would be resolved through the machine's resolver). The host-name
mechanisms (DOCX footer picture, PDF open actions, XLSX second picture) are replayed against the
DNS listener by the tests instead. Bounded: one conversion per document, each killed after
``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOCUMENTS = [("docx", "compte-rendu"), ("docx", "ordonnance"), ("xlsx", "compte-rendu"), ("pdf", "compte-rendu"),
             ("pdf", "ordonnance")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def convert(soffice: str, source: Path, outdir: Path, profile: Path, timeout: float) -> tuple[float, str]:
    started = time.monotonic()
    try:
        command = [soffice, "--headless", "--norestore", "--nologo", f"-env:UserInstallation={profile.as_uri()}",
                   "--convert-to", "pdf", "--outdir", str(outdir), str(source)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        status = "converted" if done.returncode == 0 and (outdir / f"{source.stem}.pdf").exists() else \
            f"failed ({done.returncode}: {done.stderr.strip()[:80]})"
    except subprocess.TimeoutExpired:
        status = "timed out"
    return time.monotonic() - started, status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--soffice", default="soffice")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    soffice = shutil.which(args.soffice)
    if not soffice:
        print(f"{args.soffice} not found: apt-get install -y --no-install-recommends libreoffice-writer "
              "libreoffice-calc")
        return 1

    from docx import Document

    from canary.generate.seeding import derive_token
    from canary.settings import set_setting
    from canary.store import open_db
    from canary.store.events import list_events
    from canary.store.registry import add_canaries, add_system
    from canary.watch.tripwire.callback import CallbackConfig
    from canary.watch.tripwire.documents import build_document
    from canary.watch.tripwire.services import CallbackService
    from canary.watch.tripwire.writer import EventWriter
    from tests.conftest import make_record

    with tempfile.TemporaryDirectory(prefix="beacons-") as tmp:
        work = Path(tmp)
        db_path = work / "registry.db"
        port = free_port()
        db = open_db(db_path)
        set_setting(db, "tripwire.base_url", f"http://127.0.0.1:{port}")
        add_system(db, "dpi-bench", "ehr", establishment="Centre hospitalier de Vienne")
        add_canaries(db, [{"id": "bench00001", "system": "dpi-bench", "generation": 1,
                           "created_at": "2026-01-01T00:00:00Z", "token": derive_token("bench", "bench00001"),
                           **make_record(1)}])
        files = []
        for fmt, kind in DOCUMENTS:
            path = work / f"{kind}.{fmt}"
            path.write_bytes(build_document(db, "bench00001", fmt=fmt, kind=kind, today=date.today()))
            files.append((fmt, kind, path))
        plain = work / "reference.docx"
        reference = Document()
        reference.add_paragraph("Compte rendu sans lien.")
        buffer = io.BytesIO()
        reference.save(buffer)
        plain.write_bytes(buffer.getvalue())
        config = CallbackConfig.from_settings(db)
        db.close()

        writer = EventWriter(db_path)
        writer.start()
        service = CallbackService(writer, config, "127.0.0.1", port, threads=4)
        service.start()
        profile = work / "profile"
        outdir = work / "out"
        try:
            # The first start of a fresh profile takes longer: warm it up on the reference, then measure it.
            convert(soffice, plain, outdir, profile, args.timeout)
            reference_seconds, reference_status = convert(soffice, plain, outdir, profile, args.timeout)
            rows = []
            for fmt, kind, path in files:
                db = open_db(db_path)
                before = len(list_events(db))
                db.close()
                seconds, status = convert(soffice, path, outdir, profile, args.timeout)
                time.sleep(0.5)  # a fetch still in flight when soffice exits
                db = open_db(db_path)
                events = list_events(db)[before:]
                db.close()
                counts: dict[str, int] = {}
                for e in events:
                    what = e["details"].get("picture") or e["details"].get("path_kind")
                    key = f"{e['channel']}/{e['severity']}/{what}"
                    counts[key] = counts.get(key, 0) + 1
                agents = sorted({str(e["details"].get("user_agent")) for e in events})
                fired = [f"{key} x{count}" for key, count in counts.items()] + [f"user agent {a!r}" for a in agents]
                rows.append((f"{kind}.{fmt}", status, seconds, fired))
        finally:
            service.stop()
            writer.stop()

    version = subprocess.run([soffice, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    print(f"LibreOffice: {version or 'unknown version'}; listener http://127.0.0.1:{port}")
    print(f"{'document':<22} {'soffice':<10} {'seconds':>8}  fired (channel/severity/mechanism)")
    for name, status, seconds, fired in rows:
        print(f"{name:<22} {status:<10} {seconds:8.2f}  {', '.join(fired) or 'nothing'}")
    print(f"{'reference.docx':<22} {reference_status:<10} {reference_seconds:8.2f}  (no link: LibreOffice's own time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
