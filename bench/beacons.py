"""Reader x document: which planted documents fire when real readers open them, how the hit is graded, how fast.

    python3 bench/beacons.py [--readers libreoffice,evince,...] [--window 8] [--timeout 120]

Too slow for the test suite (each reader takes seconds per file). Every document the CLI writes (DOCX and
XLSX compte rendu, DOCX ordonnance, PDF compte rendu and ordonnance) is opened by every installed reader
that opens its format, while the callback listener runs on 127.0.0.1:

- converters run to the end: LibreOffice (``soffice --headless --convert-to pdf``, as a thief converting or
  printing it), ``pdftoppm`` (poppler, the engine of Evince and Okular), ``mutool draw`` (MuPDF);
- viewers are started on a virtual display (``xvfb-run``) with a fresh profile and left open ``--window``
  seconds: Evince, MuPDF (mupdf-x11), Okular, Chromium (its PDF viewer, PDFium), Firefox (pdf.js).

For each reader and document the script prints what fired (channel/severity/mechanism, with the noise tag
of a low hit), the latency of the first hit after the reader started, and the reader's own time. The
reference, measured in the same run and on the same reader: a document of the same format without any link
(its time, and that it fires nothing). A reader that is not installed gets a row saying so.

``--forensics`` instead compares each document's package with a reference the office suite available
here writes for the same content (LibreOffice re-saving our DOCX and XLSX, and exporting our DOCX to PDF):
ZIP entry dates, host system and order, XML declarations, fonts, theme, tab stop, thumbnail, styles size,
PDF version, producer, embedded fonts, XMP metadata. It prints every difference left. Where the document
imitates Word/Excel 16 on Windows (application name, Office's fixed entry dates) a difference from
LibreOffice is by design; the others are what is left to do.

Only loopback: the documents are made with ``tripwire.base_url`` on the local listener and without a DNS
zone (a real zone's name would go through the machine's resolver), so the PDF open actions point at the
listener too and any reader that ran them would show an HTTP hit. Debian packages: libreoffice-writer-nogui
libreoffice-calc-nogui poppler-utils mupdf-tools mupdf evince okular chromium firefox-esr xvfb xauth.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOCUMENTS = [("docx", "compte-rendu"), ("docx", "ordonnance"), ("xlsx", "compte-rendu"), ("pdf", "compte-rendu"),
             ("pdf", "ordonnance")]


@dataclass(frozen=True)
class ReaderSpec:
    name: str
    binary: str
    formats: tuple[str, ...]
    viewer: bool  # left open for --window seconds on a virtual display; else run to the end

    def command(self, path: Path, work: Path) -> list[str]:
        profile = work / f"profile-{self.binary}"
        if self.binary == "soffice":
            return ["soffice", "--headless", "--norestore", "--nologo", f"-env:UserInstallation={profile.as_uri()}",
                    "--convert-to", "pdf", "--outdir", str(work / "out"), str(path)]
        if self.binary == "pdftoppm":
            return ["pdftoppm", "-r", "50", str(path), str(work / "out" / path.stem)]
        if self.binary == "mutool":
            return ["mutool", "draw", "-q", "-r", "50", "-o", str(work / "out" / f"{path.stem}-%d.png"), str(path)]
        display = ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24"]
        if self.binary == "chromium":
            return display + ["chromium", "--no-sandbox", "--no-first-run", "--disable-gpu",
                              f"--user-data-dir={profile}", path.as_uri()]
        if self.binary == "firefox-esr":
            profile.mkdir(parents=True, exist_ok=True)
            return display + ["firefox-esr", "--no-remote", "--profile", str(profile), path.as_uri()]
        return display + [self.binary, str(path)]


READERS = [
    ReaderSpec("LibreOffice (headless convert)", "soffice", ("docx", "xlsx", "pdf"), viewer=False),
    ReaderSpec("pdftoppm (poppler)", "pdftoppm", ("pdf",), viewer=False),
    ReaderSpec("mutool draw (MuPDF)", "mutool", ("pdf",), viewer=False),
    ReaderSpec("Evince", "evince", ("pdf",), viewer=True),
    ReaderSpec("MuPDF viewer", "mupdf", ("pdf",), viewer=True),
    ReaderSpec("Okular", "okular", ("pdf",), viewer=True),
    ReaderSpec("Chromium PDF viewer", "chromium", ("pdf",), viewer=True),
    ReaderSpec("Firefox pdf.js", "firefox-esr", ("pdf",), viewer=True),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_with(reader: ReaderSpec, path: Path, work: Path, window: float, timeout: float) -> tuple[float, str]:
    """Run the reader on ``path``; return its own time and how it ended. Its whole process group is ended."""
    (work / "out").mkdir(exist_ok=True)
    started = time.monotonic()
    process = subprocess.Popen(reader.command(path, work), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        _, err = process.communicate(timeout=window if reader.viewer else timeout)
        status = "done" if process.returncode == 0 else f"exit {process.returncode}: {err.decode()[-60:].strip()}"
    except subprocess.TimeoutExpired:
        status = f"open {window:.0f} s" if reader.viewer else "timed out"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return time.monotonic() - started, status


def reference_document(fmt: str) -> bytes:
    """A document of the format without any link: the reader's own time, and a control that nothing fires."""
    buffer = io.BytesIO()
    if fmt == "docx":
        from docx import Document

        document = Document()
        document.add_paragraph("Compte rendu sans lien.")
        document.save(buffer)
    elif fmt == "xlsx":
        import openpyxl

        workbook = openpyxl.Workbook()
        workbook.active["A1"] = "Synthèse sans lien"
        workbook.save(buffer)
    else:
        from reportlab.pdfgen import canvas

        page = canvas.Canvas(buffer)
        page.drawString(72, 720, "Compte rendu sans lien.")
        page.save()
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", help="comma-separated binaries to run (default: every installed one)")
    parser.add_argument("--window", type=float, default=8.0, help="seconds a viewer stays open")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a converter may take")
    parser.add_argument("--forensics", action="store_true", help="diff each package against LibreOffice's instead")
    args = parser.parse_args()
    if args.forensics:
        return forensics(args.timeout)
    wanted = set(args.readers.split(",")) if args.readers else None

    from canary.generate.seeding import derive_token
    from canary.settings import set_setting
    from canary.store import open_db
    from canary.store.events import list_events
    from canary.store.registry import add_canaries, add_system
    from canary.watch.tripwire.callback import CallbackConfig
    from canary.watch.tripwire.documents import build_document
    from canary.watch.tripwire.services import CallbackService
    from canary.watch.tripwire.writer import EventWriter
    from tests.support.records import make_record

    rows: list[tuple[str, str, str, float, str, str]] = []
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
            files.append((fmt, path))
        for fmt in ("docx", "xlsx", "pdf"):
            path = work / f"reference.{fmt}"
            path.write_bytes(reference_document(fmt))
            files.append((fmt, path))
        config = CallbackConfig.from_settings(db)
        db.close()

        writer = EventWriter(db_path)
        writer.start()
        service = CallbackService(writer, config, "127.0.0.1", port, threads=4)
        service.start()
        try:
            for reader in READERS:
                if wanted is not None and reader.binary not in wanted:
                    continue
                if not shutil.which(reader.binary) or (reader.viewer and not shutil.which("xvfb-run")):
                    rows.append((reader.name, "-", "not installed", 0.0, "-", "-"))
                    continue
                # A fresh profile's first start is slower: warm it up on a reference document first.
                warm = next(p for f, p in files if p.stem == "reference" and f in reader.formats)
                open_with(reader, warm, work, args.window, args.timeout)
                for fmt, path in files:
                    if fmt not in reader.formats:
                        continue
                    db = open_db(db_path)
                    before = len(list_events(db))
                    db.close()
                    launched = datetime.now(UTC)
                    seconds, status = open_with(reader, path, work, args.window, args.timeout)
                    time.sleep(0.5)  # a fetch still in flight when the reader ends
                    db = open_db(db_path)
                    events = list_events(db)[before:]
                    db.close()
                    counts: dict[str, int] = {}
                    for e in events:
                        what = e["details"].get("picture") or e["details"].get("path_kind")
                        noise = e["details"].get("noise")
                        key = f"{e['channel']}/{e['severity']}/{what}" + (f" ({noise})" if noise else "")
                        counts[key] = counts.get(key, 0) + 1
                    fired = ", ".join(f"{key} x{count}" for key, count in counts.items()) or "nothing"
                    first = min((datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in events),
                                default=None)
                    latency = f"{(first - launched).total_seconds():.1f} s" if first else "-"
                    rows.append((reader.name, path.name, status, seconds, latency, fired))
        finally:
            service.stop()
            writer.stop()

    versions = []
    for binary, flag in (("soffice", "--version"), ("chromium", "--version"), ("firefox-esr", "--version"),
                         ("evince", "--version"), ("pdftoppm", "-v"), ("mutool", "-v")):
        if shutil.which(binary):
            done = subprocess.run([binary, flag], capture_output=True, text=True, timeout=60)
            versions.append((done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr)
                            else binary)
    print("readers: " + "; ".join(versions))
    print(f"listener http://127.0.0.1:{port}; viewers open {args.window:.0f} s each on a virtual display")
    print(f"| {'reader':<30} | {'document':<22} | {'reader run':<14} | {'seconds':>7} | {'first hit':>9} | fired |")
    print(f"|{'-' * 32}|{'-' * 24}|{'-' * 16}|{'-' * 9}|{'-' * 11}|---|")
    for name, document, status, seconds, latency, fired in rows:
        print(f"| {name:<30} | {document:<22} | {status[:14]:<14} | {seconds:7.1f} | {latency:>9} | {fired} |")
    return 0


def _package_traits(data: bytes) -> dict[str, str]:
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        parts = {i.filename: archive.read(i.filename) for i in infos}
    first_xml = next(d for n, d in parts.items() if n.endswith((".xml", ".rels")))
    theme = next((d for n, d in parts.items() if n.endswith("theme/theme1.xml")), b"")
    app = parts.get("docProps/app.xml", b"")
    styles = next((d for n, d in parts.items() if n.endswith("styles.xml")), b"")
    fonts = re.findall(rb'<w:font w:name="([^"]+)"', parts.get("word/fontTable.xml", b""))
    tab = re.search(rb'defaultTabStop w:val="(\d+)"', parts.get("word/settings.xml", b""))

    def font(kind: str) -> str:
        found = re.search(rb"<a:" + kind.encode() + rb'Font>\s*<a:latin typeface="([^"]*)"', theme)
        return found[1].decode() if found else "-"

    return {
        "entry dates": ", ".join(sorted({"{:04d}-{:02d}-{:02d} {:02d}:{:02d}".format(*i.date_time[:5])
                                         for i in infos})[:2]),
        "entry host system": ", ".join(sorted({"FAT" if i.create_system == 0 else "Unix" if i.create_system == 3
                                               else str(i.create_system) for i in infos})),
        "first entries": " ".join(i.filename for i in infos[:3]),
        "entries": " ".join(sorted(parts)),
        "XML declaration": first_xml.split(b"?>")[0].decode() + "?>" + ("+CRLF" if b"?>\r\n" in first_xml else ""),
        "application": (re.search(rb"<Application>([^<]*)<", app) or [b"", b"-"])[1].decode(),
        "theme fonts (major/minor)": f"{font('major')}/{font('minor')}",
        "font table": ", ".join(f.decode() for f in fonts) or "-",
        "defaultTabStop": tab[1].decode() if tab else "-",
        "thumbnail": "yes" if any(n.startswith("docProps/thumbnail") for n in parts) else "no",
        "custom properties part": "yes" if "docProps/custom.xml" in parts else "no",
        "styles.xml bytes": str(len(styles)),
        "Mac namespaces (mo/mv)": "yes" if b"xmlns:mv=" in b"".join(parts.values()) else "no",
    }


def _pdf_traits(data: bytes) -> dict[str, str]:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    fonts, embedded = set(), 0
    for page in reader.pages:
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            font = font.get_object()
            fonts.add(str(font.get("/BaseFont")))
            descriptor = font.get("/FontDescriptor")
            descendants = font.get("/DescendantFonts")
            if descendants:
                descriptor = descendants[0].get_object().get("/FontDescriptor")
            if descriptor and any(k in descriptor.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                embedded += 1
    info = reader.metadata or {}
    return {
        "header": data[:8].decode(errors="replace"),
        "producer": str(info.get("/Producer")),
        "creator": str(info.get("/Creator")),
        "fonts": ", ".join(sorted(fonts)),
        "fonts embedded": f"{embedded} of {len(fonts)}",
        "XMP metadata": "yes" if "/Metadata" in reader.trailer["/Root"] else "no",
        "object streams": "yes" if b"/ObjStm" in data else "no",
        "tagged (StructTreeRoot)": "yes" if "/StructTreeRoot" in reader.trailer["/Root"] else "no",
        "document ID": "yes" if "/ID" in reader.trailer else "no",
    }


def forensics(timeout: float) -> int:
    """Each document's package beside LibreOffice's package of the same content; every difference printed."""
    if not shutil.which("soffice"):
        print("soffice not found: apt-get install -y --no-install-recommends libreoffice-writer-nogui "
              "libreoffice-calc-nogui")
        return 1
    from canary.generate.seeding import derive_token
    from canary.settings import set_setting
    from canary.store import open_db
    from canary.store.registry import add_canaries, add_system
    from canary.watch.tripwire.documents import build_document
    from tests.support.records import make_record

    with tempfile.TemporaryDirectory(prefix="forensics-") as tmp:
        work = Path(tmp)
        db = open_db(work / "registry.db")
        set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
        add_system(db, "dpi-bench", "ehr", establishment="Centre hospitalier de Vienne")
        add_canaries(db, [{"id": "bench00001", "system": "dpi-bench", "generation": 1,
                           "created_at": "2026-01-01T00:00:00Z", "token": derive_token("bench", "bench00001"),
                           **make_record(1)}])
        profile = (work / "profile").as_uri()
        left = 0
        for fmt, target, source_fmt in (("docx", "docx:MS Word 2007 XML", "docx"), ("xlsx", "xlsx", "xlsx"),
                                        ("pdf", "pdf", "docx")):
            ours = build_document(db, "bench00001", fmt=fmt, kind="compte-rendu", today=date.today())
            source = work / f"source.{source_fmt}"
            source.write_bytes(build_document(db, "bench00001", fmt=source_fmt, kind="compte-rendu",
                                              today=date.today()))
            subprocess.run(["soffice", "--headless", "--norestore", f"-env:UserInstallation={profile}",
                            "--convert-to", target, "--outdir", str(work / "ref"), str(source)],
                           capture_output=True, timeout=timeout, check=False)
            reference = (work / "ref" / f"source.{fmt}").read_bytes()
            traits = _pdf_traits if fmt == "pdf" else _package_traits
            mine, theirs = traits(ours), traits(reference)
            print(f"\n{fmt.upper()}: ours vs LibreOffice 7.4 re-saving the same content")
            for key in mine:
                if mine[key] != theirs[key] and key == "entries":
                    left += 1
                    ours_set, their_set = set(mine[key].split()), set(theirs[key].split())
                    print(f"  entries only ours: {' '.join(sorted(ours_set - their_set)) or '-'}; only "
                          f"LibreOffice's: {' '.join(sorted(their_set - ours_set)) or '-'}")
                elif mine[key] != theirs[key]:
                    left += 1
                    print(f"  {key}:\n    ours:        {mine[key][:150]}\n    LibreOffice: {theirs[key][:150]}")
                else:
                    print(f"  {key}: same ({mine[key][:80]})")
        db.close()
    print(f"\n{left} differences left (see docs/tripwire.md, Metadata, for those kept by design)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
