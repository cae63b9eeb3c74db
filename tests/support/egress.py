"""What the egress tests share: ICAP and milter services started on loopback, the events and counters
they record, and bodies that carry canaries (CSV, gzip, zip, XLSX and other encodings)."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.worksheet.worksheet import Worksheet

from canary.store import open_db
from canary.store.events import list_events
from canary.store.shapes import EventRow
from canary.watch.egress.icap import IcapService
from canary.watch.egress.inspect import EgressConfig, Inspector
from canary.watch.egress.milter import MilterService


def start_icap(db_path: Path, **config: Any) -> IcapService:
    settings = dataclasses.replace(EgressConfig(), **config)
    service = IcapService(db_path, "127.0.0.1", 0, Inspector(db_path, config=settings))
    service.start()
    return service


def events_for(db_path: Path, url_part: str) -> list[EventRow]:
    db = open_db(db_path)
    try:
        return [e for e in list_events(db) if url_part in str(e["details"].get("url", "")) or
                url_part in str(e["details"].get("subject", ""))]
    finally:
        db.close()


def passed_counts(db_path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    db = open_db(db_path)
    try:
        return {(r[0], r[1]): (r[2], r[3]) for r in
                db.execute("SELECT channel, reason, SUM(count), SUM(bytes) FROM egress_passed GROUP BY 1, 2")}
    finally:
        db.close()


def csv_rows(*canaries: dict[str, Any], phone_only: bool = False) -> bytes:
    lines = ["nom;prenom;naissance;nir;telephone"]
    for c in canaries:
        phone = "0" + c["phones"][0][3:]
        if phone_only:
            lines.append(f"X;Y;;;{phone[:2]} {phone[2:4]} {phone[4:6]} {phone[6:8]} {phone[8:]}")
        else:
            lines.append(f"{c['birth_name']};{c['first_names'][0]};{c['birth_date']};{c['nir']};{phone}")
    lines.append("DURAND;Paul;1970-01-01;;")
    return ("\n".join(lines) + "\n").encode("utf-8")


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def xlsx(*canaries: dict[str, Any]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)
    sheet.append(["Nom", "Prénom", "NIR", "Téléphone"])
    for c in canaries:
        sheet.append([c["birth_name"], c["first_names"][0], c["nir"], "0" + c["phones"][0][3:]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def start_milter(db_path: Path, **config: Any) -> MilterService:
    settings = dataclasses.replace(EgressConfig(), **config)
    service = MilterService(db_path, "127.0.0.1", 0, Inspector(db_path, config=settings))
    service.start()
    return service


def _deflate_raw(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def _zstd(data: bytes) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        from backports import zstd
    return zstd.compress(data)


def _multipart_base64(data: bytes) -> tuple[dict[str, str], bytes]:
    boundary = "----canarytest"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"fichier\"; filename=\"export.csv\"\r\n"
            "Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() + \
        base64.encodebytes(data) + f"\r\n--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def xlsx_with_doctype(*canaries: dict[str, Any]) -> bytes:
    """A workbook whose sheet carries a harmless ``<!DOCTYPE worksheet>`` (openpyxl reads it anyway)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx(*canaries)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"?>", b"?><!DOCTYPE worksheet>", 1)
            target.writestr(info.filename, data)
    return buffer.getvalue()


def encoded_bodies(canary: dict[str, Any]) -> dict[str, tuple[dict[str, str], bytes]]:
    """Each encoding a web server accepts or a receiver decodes: (HTTP headers, body)."""
    import brotli  # type: ignore[import-untyped]

    data = csv_rows(canary)
    return {
        "deflate (zlib)": ({"Content-Type": "text/csv", "Content-Encoding": "deflate"}, zlib.compress(data)),
        "deflate (raw)": ({"Content-Type": "text/csv", "Content-Encoding": "deflate"}, _deflate_raw(data)),
        "br": ({"Content-Type": "text/csv", "Content-Encoding": "br"}, brotli.compress(data)),
        "zstd": ({"Content-Type": "text/csv", "Content-Encoding": "zstd"}, _zstd(data)),
        "gzip then br": ({"Content-Type": "text/csv", "Content-Encoding": "gzip, br"},
                         brotli.compress(gzip.compress(data))),
        "base64 body": ({"Content-Type": "text/plain"}, base64.encodebytes(data)),
        "base64 in json": ({"Content-Type": "application/json"},
                           json.dumps({"nom": "export", "contenu": base64.b64encode(data).decode()}).encode()),
        "json escapes": ({"Content-Type": "application/json"}, json.dumps({"csv": data.decode()}).encode()),
        "multipart part in base64": _multipart_base64(data),
        "xlsx with a doctype": ({"Content-Type": "application/octet-stream"}, xlsx_with_doctype(canary)),
    }
