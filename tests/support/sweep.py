"""Small helpers of the sweep tests: an in-memory zip, the findings of a report by canary."""

from __future__ import annotations

import io
import zipfile

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
