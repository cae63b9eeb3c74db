"""Each input format and container: a canary planted inside is found, with its file and line."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import tarfile
from datetime import date

import pytest

from tests.support.sweep import found, zip_bytes

NATHALIE = "sw0001"  # BERNARD-MARTIN Nathalie, born 1981-06-18, phone +33612340101
HELENE = "sw0000"

CSV = ("id;nom;prenom;ddn;tel\n"
       "1;DURAND;Paul;01/02/1950;0700000000\n"
       "2;BERNARD-MARTIN;Nathalie;18/06/1981;\n")


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_csv_any_delimiter(tmp_path, run_scan, delimiter):
    path = tmp_path / "patients.csv"
    path.write_text(CSV.replace(";", delimiter), encoding="utf-8")
    report = run_scan(path)
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    finding = report.findings[0]
    assert (finding.file, finding.line, finding.system) == (str(path), 3, "ehr-lyon")
    assert finding.confidence == "medium" and finding.severity == "high"
    assert "Nathalie" not in finding.evidence and "18/06/1981" not in finding.evidence


def test_json_pretty_printed_object_is_one_record(tmp_path, run_scan):
    patients = [{"id": 1, "nom": "DURAND", "prenom": "Paul", "naissance": "1950-02-01"},
                {"id": 2, "identite": {"nom": "Bernard-Martin", "prenom": "Nathalie"}, "adresse": "x",
                 "commentaire": "suivi", "naissance": "1981-06-18"}]
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(patients, indent=2), encoding="utf-8")
    assert set(found(run_scan(path))[NATHALIE]) >= {"name", "birth_date"}


def test_jsonl_and_unicode_escapes(tmp_path, run_scan):
    path = tmp_path / "dump.jsonl"
    lines = [json.dumps({"nom": "Durand", "ddn": "1950-02-01"}),
             json.dumps({"nom": "Lef\u00e8vre", "prenom": "H\u00e9l\u00e8ne", "ddn": "1965-03-12"})]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")  # json.dumps writes \u00e8 escapes
    assert "\\u00e8" in path.read_text()
    assert found(run_scan(path)) == {HELENE: ["name", "first_name", "birth_date"]}


def test_sql_extended_insert_with_mysql_escaping(tmp_path, run_scan):
    tuples = ",".join(f"({i},'NOM{i}','Pr\\'enom','1950-01-01','06{i:08d}')" for i in range(2000))
    sql = ("-- MySQL dump\nINSERT INTO `patients` VALUES " + tuples
           + ",(9999,'BERNARD-MARTIN','Nathalie','1981-06-18','0600000000'),"
           + "(10000,'L\\'Autre','Zo\\\"e','1990-01-01','')"
           + ";\n")
    path = tmp_path / "mediboard.sql"
    path.write_text(sql, encoding="utf-8")
    report = run_scan(path)
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    assert report.findings[0].line == 2


def test_sql_tuple_boundaries_keep_records_apart(tmp_path, run_scan):
    # Nathalie's name in one tuple and her birth date in the next: two records, no finding.
    sql = "INSERT INTO p VALUES (1,'BERNARD-MARTIN','Paul','1950-01-01'),(2,'DURAND','Nathalie','1981-06-18');\n"
    path = tmp_path / "p.sql"
    path.write_text(sql * 3, encoding="utf-8")
    assert found(run_scan(path)) == {}


def test_html_xml_log_hl7(tmp_path, run_scan):
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    (tmp_path / "page.html").write_text(
        "<table><tr><td>H&eacute;l&egrave;ne</td><td>LEF&Egrave;VRE</td><td>12/03/1965</td></tr></table>",
        encoding="utf-8")
    (tmp_path / "export.xml").write_text(
        "<patients>\n  <patient>\n    <nom>BERNARD-MARTIN</nom>\n    <prenom>Nathalie</prenom>\n"
        "    <naissance>1981-06-18</naissance>\n  </patient>\n</patients>\n", encoding="utf-8")
    (tmp_path / "app.log").write_text(
        "2026-01-01 10:00:00 INFO sms sent to +33 6 12 34 01 02 ok\n", encoding="utf-8")
    (tmp_path / "adt.hl7").write_bytes(
        b"MSH|^~\\&|EHR|CHU|LAB|CHU|20260101||ADT^A01|1|P|2.5\r"
        b"PID|1||40000103^^^CHU^PI||PETIT-MARTIN^Sylvie^^^^^L||19830820|M\r")
    report = run_scan(tmp_path)
    by_file = {f.file.rsplit("/", 1)[-1]: f.canary_id for f in report.findings}
    assert by_file == {"page.html": HELENE, "export.xml": NATHALIE, "app.log": "sw0002", "adt.hl7": "sw0003"}
    assert report.files == 4


def test_xlsx_with_dates_and_excel_serials(tmp_path, run_scan):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Patients"
    sheet.append(["nom", "prenom", "naissance"])
    sheet.append(["DURAND", "Paul", date(1950, 2, 1)])
    sheet.append(["Bernard-Martin", "Nathalie", date(1981, 6, 18)])
    serial = (date(1965, 3, 12) - date(1899, 12, 30)).days
    sheet.append(["Lefèvre", "Hélène", serial])  # a birth date typed without a date format
    path = tmp_path / "export.xlsx"
    book.save(path)
    report = run_scan(path)
    assert set(found(report)) == {NATHALIE, HELENE}
    assert {f.file for f in report.findings} == {f"{path}!Patients"}
    assert {f.canary_id: f.line for f in report.findings} == {NATHALIE: 3, HELENE: 4}


def _compress(kind: str, data: bytes) -> bytes:
    return {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](data)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz"])
def test_compressed_streams(tmp_path, run_scan, kind):
    path = tmp_path / f"leak.csv.{kind}"
    path.write_bytes(_compress(kind, CSV.encode()))
    report = run_scan(path)
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    assert report.findings[0].file == str(path)
    assert report.bytes == len(CSV.encode())


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_zip_tar_and_nesting_name_members(tmp_path, run_scan):
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    inner = zip_bytes({"export/patients.csv": CSV.encode()})
    (tmp_path / "outer.zip").write_bytes(zip_bytes({"readme.txt": b"nothing here", "inner.zip": inner}))
    (tmp_path / "dump.tar.gz").write_bytes(_tar({"db/patients.csv": CSV.encode()}, mode="w:gz"))
    (tmp_path / "plain.tar").write_bytes(_tar({"a/b.txt": b"tel 06.12.34.56.78\n"}))
    report = run_scan(tmp_path)
    files = sorted((f.file.replace(str(tmp_path) + "/", ""), f.canary_id) for f in report.findings)
    assert files == [("dump.tar.gz!db/patients.csv", NATHALIE), ("outer.zip!inner.zip!export/patients.csv", NATHALIE),
                     ("plain.tar!a/b.txt", HELENE)]


def test_7z(tmp_path, run_scan):
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "leak.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(CSV.encode(), "dump/patients.csv")
    report = run_scan(path)
    assert [(f.file, f.canary_id) for f in report.findings] == [(f"{path}!dump/patients.csv", NATHALIE)]


def test_a_real_export_of_generated_canaries_is_found_in_full(cli, db, tmp_path):
    """End to end with the real generator: every canary of a CSV or JSON export, on a strong marker."""
    assert cli("config", "set", "pool.phones", "+33756120000-+33756129999").exit_code == 0
    assert cli("config", "set", "pool.mail_domains", "messagerie-famille.fr").exit_code == 0
    assert cli("system", "add", "ehr-gen", "--kind", "ehr").exit_code == 0
    assert cli("seed", "ehr-gen", "--count", "40", "--seed", "3").exit_code == 0
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("csv", "json"):
        assert cli("export", "--format", fmt, "-o", str(out / f"export.{fmt}")).exit_code == 0
    payload = json.loads(cli("scan", str(out), "--json").output)
    ids = {row[0] for row in db.execute("SELECT id FROM canaries")}
    for fmt in ("csv", "json"):
        findings = [f for f in payload["findings"] if f["file"].endswith(fmt)]
        assert {f["canary_id"] for f in findings} == ids
        assert all(f["confidence"] == "high" and f["severity"] == "critical" for f in findings), fmt
