"""Input from attackers: bombs, deep nesting, ../ names, endless lines, garbage. Bounded, reported, survived."""

from __future__ import annotations

import gzip
import os

from canary.watch.sweep.limits import Limits
from tests.support.sweep import found, zip_bytes

NATHALIE_ROW = b"BERNARD-MARTIN;Nathalie;18/06/1981\n"
NATHALIE = "sw0001"


def test_zip_bomb_is_skipped_and_the_rest_scanned(tmp_path, run_scan):
    bomb = zip_bytes({"zeros.csv": b"0" * (20 * 1024 * 1024), "ok.csv": NATHALIE_ROW})
    assert len(bomb) < 100_000
    (tmp_path / "bomb.zip").write_bytes(bomb)
    report = run_scan(tmp_path / "bomb.zip", limits=Limits(max_ratio=100))
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    assert [s["file"] for s in report.skipped] == [f"{tmp_path}/bomb.zip!zeros.csv"]
    assert "ratio" in report.skipped[0]["reason"]


def test_gzip_bomb_stops_at_ratio_keeping_what_came_before(tmp_path, run_scan):
    data = NATHALIE_ROW + b"\0" * (30 * 1024 * 1024)
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(data))
    report = run_scan(tmp_path / "bomb.gz", limits=Limits(max_ratio=100))
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    assert "ratio" in report.skipped[0]["reason"]
    assert report.bytes < 30 * 1024 * 1024


def test_expanded_size_budget(tmp_path, run_scan):
    (tmp_path / "big.gz").write_bytes(gzip.compress(os.urandom(3 * 1024 * 1024)))
    report = run_scan(tmp_path / "big.gz", limits=Limits(max_expanded_bytes=1024 * 1024))
    assert "expanded size limit" in report.skipped[0]["reason"]


def test_nesting_deeper_than_the_cap_is_skipped(tmp_path, run_scan):
    data = zip_bytes({"leak.csv": NATHALIE_ROW})
    for level in range(8):
        data = zip_bytes({f"level{level}.zip": data})
    (tmp_path / "deep.zip").write_bytes(data)
    (tmp_path / "shallow.zip").write_bytes(zip_bytes({"a.zip": zip_bytes({"leak.csv": NATHALIE_ROW})}))
    report = run_scan(tmp_path / "deep.zip", tmp_path / "shallow.zip", limits=Limits(max_depth=4))
    assert [f.file for f in report.findings] == [f"{tmp_path}/shallow.zip!a.zip!leak.csv"]
    assert len(report.skipped) == 1 and "nested deeper" in report.skipped[0]["reason"]


def test_dotdot_member_names_are_labels_never_paths(tmp_path, run_scan):
    work = tmp_path / "in"
    work.mkdir()
    (work / "evil.zip").write_bytes(zip_bytes({"../../escaped.csv": NATHALIE_ROW, "/etc/abs.csv": NATHALIE_ROW}))
    run_scan(work / "evil.zip")  # the first scan also writes the compiled-pattern cache beside the registry
    before = set(os.listdir(tmp_path))
    report = run_scan(work / "evil.zip")
    assert sorted(f.file for f in report.findings) == [f"{work}/evil.zip!../../escaped.csv",
                                                       f"{work}/evil.zip!/etc/abs.csv"]
    assert set(os.listdir(tmp_path)) == before and not (tmp_path.parent / "escaped.csv").exists()


def test_very_long_line_with_marker_at_the_end(tmp_path, run_scan):
    path = tmp_path / "oneline.txt"
    with open(path, "wb") as handle:
        for _ in range(12):
            handle.write(b"x;" * (512 * 1024))  # 12 MiB without a newline
        handle.write(b";tel:+33 6 12 34 56 78")
    report = run_scan(path)
    assert found(report) == {"sw0000": ["phone"]}
    # The offset is where the record (here a window of the endless line) around the sighting starts.
    assert report.findings[0].line == 1 and report.findings[0].offset > 12 * 1024 * 1024 - 32 * 1024


def test_marker_across_a_chunk_boundary(tmp_path, run_scan):
    from canary.watch.sweep.matcher import CHUNK

    path = tmp_path / "cut.txt"
    prefix = b"y" * (CHUNK - 5)
    path.write_bytes(prefix + b"\n06 12 34 56 78\n")
    assert found(run_scan(path)) == {"sw0000": ["phone"]}


def test_garbage_and_bad_encodings(tmp_path, run_scan):
    work = tmp_path / "in"
    work.mkdir()
    (work / "random.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    (work / "mixed.csv").write_bytes(b"\xfe\xfa\x00garbage\x81\n" + "LEFÈVRE;Hélène;12/03/1965\n".encode("cp1252")
                                     + "DUPRÉ;Hélène;12/03/1965\n".encode() + b"\xc3\x28\xa0\xa1\n")
    (work / "truncated.gz").write_bytes(gzip.compress(NATHALIE_ROW + os.urandom(50_000).hex().encode())[:-200])
    (work / "notzip.zip").write_bytes(b"PK\x03\x04" + os.urandom(5000))
    report = run_scan(work)
    assert set(found(report)) == {"sw0000", NATHALIE}  # the truncated gzip still gave what it had
    reasons = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in report.skipped}
    assert set(reasons) == {"truncated.gz", "notzip.zip"}
    assert report.files == 3


def test_binary_file_with_an_embedded_marker_is_still_read(tmp_path, run_scan):
    # A database file is binary too: its text columns leak like any CSV.
    (tmp_path / "db.bin").write_bytes(os.urandom(4096) + b"\x00+33612345678\x00" + os.urandom(4096))
    assert found(run_scan(tmp_path / "db.bin")) == {"sw0000": ["phone"]}


def test_missing_input_is_reported_not_fatal(tmp_path, run_scan):
    (tmp_path / "ok.csv").write_bytes(NATHALIE_ROW)
    report = run_scan(tmp_path / "nope.csv", tmp_path / "*.none", tmp_path / "ok.csv")
    assert set(found(report)) == {NATHALIE}
    assert [s["reason"] for s in report.skipped] == ["no such file or folder", "no file matches this pattern"]


def test_the_registry_and_its_cache_are_never_scanned(tmp_path, db_path, run_scan):
    (tmp_path / "ok.csv").write_bytes(NATHALIE_ROW)
    run_scan(tmp_path / "ok.csv")  # writes the compiled-pattern cache beside the registry
    report = run_scan(tmp_path)
    assert set(found(report)) == {NATHALIE}
    assert {s["file"].rsplit("/", 1)[-1] for s in report.skipped} >= {"canary.db", "canary.db-sweep.hsdb"}


def test_an_empty_registry_scans_nothing_and_says_so(tmp_path, db):
    from canary.watch.sweep.index import build_index
    from canary.watch.sweep.scanner import scan

    (tmp_path / "ok.csv").write_bytes(NATHALIE_ROW)
    report = scan(build_index(db), [str(tmp_path / "ok.csv")], Limits())
    assert report.findings == [] and report.files == 1


def test_a_7z_with_one_high_ratio_member_skips_that_member_and_reads_the_others(tmp_path, run_scan):
    import pytest

    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "leak.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"0" * (20 * 1024 * 1024), "zeros.csv")
        archive.writestr(NATHALIE_ROW + os.urandom(4096).hex().encode(), "patients.csv")
    report = run_scan(path, limits=Limits(max_ratio=100))
    assert found(report) == {NATHALIE: ["name", "first_name", "birth_date"]}
    assert [s["file"] for s in report.skipped] == [f"{path}!zeros.csv"]
    assert "ratio" in report.skipped[0]["reason"]
