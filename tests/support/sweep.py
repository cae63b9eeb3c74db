"""Small helpers of the sweep tests: canaries and rows to find, hostile and in-memory files (zip, xlsx), the
findings of a report by canary, a folder served over HTTP."""

from __future__ import annotations

import io
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from canary.watch.sweep.scanner import ScanReport

# The first canary of the sweep tests' registry (a married woman: birth name and used name differ).
HELENE = {
    "sex": "F", "birth_name": "LEFÈVRE", "used_name": "DUPRÉ", "first_names": ["Hélène", "Marie"],
    "birth_date": "1965-03-12", "nir": "265036912345678", "phones": ["+33612345678"],
    "email": "helene.lefevre@mail.example.fr", "ipp": "40123456",
    "address": {"line": "12 rue des Écoles", "postcode": "69003", "city": "Lyon", "commune_code": "69383"},
}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive of ``members`` (name -> content), built in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def found(report: ScanReport) -> dict[str, list[str]]:
    """canary id -> matched fields."""
    return {f.canary_id: f.fields for f in report.findings}

# The second canary of the sweep tests' registry, and a row that names her.
NATHALIE_ID = "sw0001"
NATHALIE_ROW = b"BERNARD-MARTIN;Nathalie;18/06/1981\n"

# Dumps with these rows find Nathalie and the phone of the first canary.
ROWS = "BERNARD-MARTIN;Nathalie;18/06/1981\nPETIT-MARTIN;Sylvie;20/08/1983\ntel 06 12 34 56 78\n"

# An XML bomb's prologue (a billion laughs, nine levels of ten).
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>\n")


def xlsx_bytes(*sheets: tuple[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    default = book.active
    assert default is not None
    book.remove(default)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve_folder(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    """The files of ``folder`` over HTTP on 127.0.0.1 (``port`` 0: any), served from a thread; shut it down after."""
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
