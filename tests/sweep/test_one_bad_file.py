"""One hostile or broken file never hides the rest of a dump: it becomes a `skipped` entry with its reason."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.support.sweep import LAUGHS, NATHALIE_ID, NATHALIE_ROW, found, xlsx_bytes, zip_bytes

HELENE = "sw0000"
EXTERNAL = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'


def with_doctype(xlsx: bytes, member: str, doctype: bytes, entity: bytes = b"&lol9;") -> bytes:
    """The same workbook with ``doctype`` in front of ``member``'s XML and an entity used in its first cell."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == member:
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                body = body.replace(b"<v>", b"<v>" + entity, 1) if b"<v>" in body else body
                data = doctype + body
            target.writestr(info, data)
    return out.getvalue()


HELENE_SHEET = ("Patients", [["nom", "prenom", "ddn"], ["LEFÈVRE", "Hélène", "12/03/1965"]])
NATHALIE_SHEET = ("Autres", [["nom", "prenom", "ddn"], ["BERNARD-MARTIN", "Nathalie", "18/06/1981"]])


@pytest.mark.parametrize("doctype", [LAUGHS, EXTERNAL], ids=["entity-expansion", "external-entity"])
@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml",
                                    "[Content_Types].xml"])
def test_xlsx_with_a_doctype_is_skipped_and_the_dump_still_reported(cli, sweep_canaries, tmp_path, doctype, member):
    dump = tmp_path / "dump"
    dump.mkdir()
    hostile = with_doctype(xlsx_bytes(HELENE_SHEET), member, doctype,
                           entity=b"&secret;" if doctype is EXTERNAL else b"&lol9;")
    (dump / "a-hostile.xlsx").write_bytes(hostile)
    (dump / "b-clean.csv").write_bytes(NATHALIE_ROW)
    result = cli("scan", str(dump), "--json")
    assert result.exit_code == 3, result.output  # some inputs skipped (documented exit code)
    payload = json.loads(result.stdout)
    assert {f["canary_id"] for f in payload["findings"]} == {NATHALIE_ID}
    skipped = [s for s in payload["skipped"] if s["file"].startswith(str(dump / "a-hostile.xlsx"))]
    assert skipped and all(s["reason"] for s in skipped)
    assert any("XML" in s["reason"] or "DTD" in s["reason"] or "ntit" in s["reason"] for s in skipped), skipped


def test_one_bad_sheet_does_not_hide_the_next_one(tmp_path, run_scan):
    book = with_doctype(xlsx_bytes(HELENE_SHEET, NATHALIE_SHEET), "xl/worksheets/sheet1.xml", LAUGHS)
    (tmp_path / "book.xlsx").write_bytes(book)
    report = run_scan(tmp_path / "book.xlsx")
    assert found(report) == {NATHALIE_ID: ["name", "first_name", "birth_date"]}
    assert [s["file"] for s in report.skipped] == [f"{tmp_path}/book.xlsx!Patients"]


def test_hostile_xlsx_inside_a_zip_skips_only_that_member(tmp_path, run_scan):
    hostile = with_doctype(xlsx_bytes(HELENE_SHEET), "xl/workbook.xml", LAUGHS)
    (tmp_path / "leak.zip").write_bytes(zip_bytes({"a.xlsx": hostile, "b.csv": NATHALIE_ROW}))
    report = run_scan(tmp_path / "leak.zip")
    assert found(report) == {NATHALIE_ID: ["name", "first_name", "birth_date"]}
    assert [s["file"] for s in report.skipped] == [f"{tmp_path}/leak.zip!a.xlsx"]


def test_a_truncated_7z_and_a_corrupt_xz_are_skipped(tmp_path, run_scan):
    import lzma

    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(NATHALIE_ROW * 50, "inner.csv")
    (tmp_path / "a.7z").write_bytes(buffer.getvalue()[:-20])
    (tmp_path / "b.csv.xz").write_bytes(lzma.compress(NATHALIE_ROW)[:12] + b"\x00" * 40)
    (tmp_path / "c.csv").write_text("LEFÈVRE;Hélène;12/03/1965\n", encoding="utf-8")
    report = run_scan(tmp_path)
    assert set(found(report)) == {HELENE}
    assert {Path(s["file"]).name.split("!")[0] for s in report.skipped} >= {"a.7z", "b.csv.xz"}


# --- byte-order marks that disagree with the content ----------------------------------------------------


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"], ids=["FFFE", "FEFF"])
def test_a_utf16_bom_before_utf8_text_does_not_blind_the_scan(tmp_path, run_scan, bom):
    (tmp_path / "dump.csv").write_bytes(bom + b"id;nom;prenom;ddn\n1;" + NATHALIE_ROW)
    report = run_scan(tmp_path / "dump.csv")
    assert found(report) == {NATHALIE_ID: ["name", "first_name", "birth_date"]}


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_true_utf16_file_with_its_bom_still_reads(tmp_path, run_scan, encoding):
    bom = b"\xff\xfe" if encoding.endswith("le") else b"\xfe\xff"
    (tmp_path / "dump.csv").write_bytes(bom + "id;nom;prenom;ddn\n1;BERNARD-MARTIN;Nathalie;18/06/1981\n"
                                        .encode(encoding))
    report = run_scan(tmp_path / "dump.csv")
    assert found(report) == {NATHALIE_ID: ["name", "first_name", "birth_date"]}


def test_a_utf16_bom_before_utf8_text_of_a_big_file_split_in_ranges(db, sweep_canaries, tmp_path, monkeypatch):
    import canary.watch.sweep.sources as sources
    from canary.watch.sweep.index import build_index
    from canary.watch.sweep.limits import Limits
    from canary.watch.sweep.scanner import scan

    monkeypatch.setattr(sources, "SPLIT_MIN", 64 * 1024)
    filler = b"".join(b"%d;DURAND;Paul;01/01/1950\n" % i for i in range(20000))
    (tmp_path / "big.csv").write_bytes(b"\xff\xfe" + filler + NATHALIE_ROW + filler)
    report = scan(build_index(db), [str(tmp_path / "big.csv")], Limits(), jobs=2)
    assert {f.canary_id for f in report.findings} == {NATHALIE_ID}


def test_hostile_files_fetched_by_url_are_skipped_and_the_rest_reported(run_scan, tmp_path):
    from tests.support.sweep import serve_folder

    site = tmp_path / "site"
    site.mkdir()
    (site / "export.xlsx").write_bytes(with_doctype(xlsx_bytes(HELENE_SHEET), "xl/workbook.xml", LAUGHS))
    (site / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    (site / "clean.csv").write_bytes(NATHALIE_ROW)
    server = serve_folder(site)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        report = run_scan(f"{base}/export.xlsx", f"{base}/broken.gz", f"{base}/clean.csv")
    finally:
        server.shutdown()
        server.server_close()
    assert found(report) == {NATHALIE_ID: ["name", "first_name", "birth_date"]}
    assert {s["file"] for s in report.skipped} == {f"{base}/export.xlsx", f"{base}/broken.gz"}


def test_a_feed_run_with_one_hostile_file_is_ok_and_reports_the_rest(cli, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "a.xlsx").write_bytes(with_doctype(xlsx_bytes(HELENE_SHEET), "xl/worksheets/sheet1.xml", LAUGHS))
    (drops / "b.csv").write_bytes(NATHALIE_ROW)
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(NATHALIE_ROW * 50, "inner.csv")
    (drops / "c.7z").write_bytes(buffer.getvalue()[:-20])
    assert cli("feed", "add", "drops", str(drops)).exit_code == 0
    result = cli("sweep", "--feed", "drops", "--json")
    assert result.exit_code == 0, result.output
    [outcome] = json.loads(result.stdout)
    assert outcome["status"] == "ok" and outcome["findings"] == 1 and outcome["files"] >= 1, outcome
