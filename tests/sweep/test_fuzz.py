"""Fuzzing the readers: thousands of mutated archives and spreadsheets never stop a scan nor hide a clean file.

Deterministic (fixed seed). Each batch is one `canary scan` of a folder holding the mutants and one clean
file: the scan must end normally, report the clean file's canary and give a reason for every skip.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import random
import tarfile
import zipfile

import pytest

from tests.support.sweep import LAUGHS, NATHALIE_ID, NATHALIE_ROW, xlsx_bytes, zip_bytes

HELENE_ROW = "LEFÈVRE;Hélène;12/03/1965\n".encode()
MUTANTS_PER_SEED = 160  # x 14 seeds: 2240 mutated inputs
BATCHES = 4


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _7z(members: dict[str, bytes]) -> bytes:
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


def seeds() -> dict[str, bytes]:
    """Valid inputs of every container the sweep opens, each holding HELENE (never the clean file's canary)."""
    rows = b"nom;prenom;ddn\n" + HELENE_ROW * 3
    book = xlsx_bytes(("Patients", [["nom", "prenom", "ddn"], ["LEFÈVRE", "Hélène", "12/03/1965"]] * 20),
                      ("Autres", [["DURAND", "Paul", "01/02/1950"]]))
    return {
        "zip": zip_bytes({"a.csv": rows, "b/c.txt": rows}),
        "tar": _tar({"a.csv": rows}),
        "tgz": _tar({"a.csv": rows, "b.csv": rows}, "w:gz"),
        "tbz": _tar({"a.csv": rows}, "w:bz2"),
        "txz": _tar({"a.csv": rows}, "w:xz"),
        "gz": gzip.compress(rows),
        "bz2": bz2.compress(rows),
        "xz": lzma.compress(rows),
        "7z": _7z({"a.csv": rows}),
        "xlsx": book,
        "xlsx-in-zip": zip_bytes({"export.xlsx": book, "notes.txt": rows}),
        "zip-in-tgz": _tar({"inner.zip": zip_bytes({"a.csv": rows})}, "w:gz"),
        "utf16": b"\xff\xfe" + rows.decode().encode("utf-16-le"),
        "csv": rows,
    }


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(max(len(buf), 1))
        if op == 0 and buf:  # flip a few bits
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncate
            del buf[pos:]
        elif op == 2:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.randint(1, 64))
        elif op == 3 and buf:  # overwrite with an interesting value
            value = rng.choice([b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"])
            buf[pos:pos + len(value)] = value
        elif op == 4:  # duplicate a region
            end = min(len(buf), pos + rng.randint(1, 256))
            buf[pos:pos] = buf[pos:end]
        else:  # delete a region
            del buf[pos:pos + rng.randint(1, 64)]
    return bytes(buf)


def _mutate_member(data: bytes, rng: random.Random) -> bytes:
    """Keep the zip valid and break one member's content (hostile XML, garbage, truncation)."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        infos = source.infolist()
        victim = rng.choice(infos).filename
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
            for info in infos:
                body = source.read(info)
                if info.filename == victim:
                    body = rng.choice([
                        lambda b: LAUGHS + b.split(b"?>", 1)[-1],
                        lambda b: b[: rng.randrange(len(b) + 1)],
                        lambda b: _mutate_bytes(b, rng),
                        lambda b: b.replace(b"<", b"<!DOCTYPE x SYSTEM 'http://127.0.0.1:9/x'><", 1),
                    ])(body)
                target.writestr(info.filename, body)
    return out.getvalue()


def mutants(rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for kind, data in seeds().items():
        for i in range(MUTANTS_PER_SEED):
            if kind in ("zip", "xlsx", "xlsx-in-zip") and i % 2:
                out.append((f"{kind}-{i:03d}", _mutate_member(data, rng)))
            else:
                out.append((f"{kind}-{i:03d}", _mutate_bytes(data, rng)))
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("batch", range(BATCHES))
def test_mutated_archives_and_spreadsheets_never_stop_a_scan(cli, sweep_canaries, tmp_path, batch):
    rng = random.Random(20261204 + batch)
    every = mutants(rng)
    share = every[batch::BATCHES]
    folder = tmp_path / "dump"
    folder.mkdir()
    for name, data in share:
        (folder / name).write_bytes(data)
    (folder / "zz-clean.csv").write_bytes(NATHALIE_ROW)
    result = cli("scan", str(folder), "--json")
    assert result.exit_code in (0, 3), result.output[-2000:]  # 3: some inputs skipped
    payload = json.loads(result.stdout)
    clean = [f for f in payload["findings"] if f["file"] == str(folder / "zz-clean.csv")]
    assert [f["canary_id"] for f in clean] == [NATHALIE_ID]
    assert all(isinstance(s["reason"], str) and s["reason"] and "\n" not in s["reason"] for s in payload["skipped"])
    # The mutants really were hostile: many of them were skipped, with a reason.
    assert len({s["file"].split("!")[0] for s in payload["skipped"]}) > len(share) // 10
