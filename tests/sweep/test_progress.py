"""Progress of one big file advances with the bytes read, not only when the file is done."""

from __future__ import annotations

import gzip

from canary.watch.sweep.index import build_index
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.scanner import scan


def _progress_of(db, path) -> tuple[list[tuple[int, int]], int]:
    seen: list[tuple[int, int]] = []
    report = scan(build_index(db), [str(path)], Limits(engine="python"), progress=lambda d, t: seen.append((d, t)))
    return seen, report.files


def test_one_big_plain_file_reports_intermediate_progress(db, sweep_canaries, tmp_path):
    dump = tmp_path / "big.csv"
    dump.write_bytes(b"nom;prenom;ville\n" + b"MARTIN;Paul;Lyon\n" * 250_000)  # about 4 MiB: four chunks
    seen, files = _progress_of(db, dump)
    total = dump.stat().st_size
    assert files == 1 and seen[0] == (0, total) and seen[-1] == (total, total)
    inside = {done for done, _ in seen if 0 < done < total}
    assert len(inside) >= 2, seen
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never goes back


def test_compressed_file_progress_counts_compressed_bytes(db, sweep_canaries, tmp_path):
    dump = tmp_path / "big.csv.gz"
    dump.write_bytes(gzip.compress(b"MARTIN;Paul;Lyon;" * 1_000_000, compresslevel=1))
    seen, _ = _progress_of(db, dump)
    total = dump.stat().st_size
    assert all(done <= total for done, _ in seen) and seen[-1] == (total, total)
