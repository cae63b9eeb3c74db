"""A dump re-encoded to slip past a scanner: every canary found, or the status says what was not read.

One small dump (a CSV with a header, 2,000 decoy rows and the 5 canaries of the sweep tests' registry
spread among them) is written in each evasion form a seller or a thief could use: other charsets
(with and without byte-order marks, switching in the middle of the file), transfer encodings
(base64, quoted-printable, hex, URL-encoding, a JSON string), and combinations of them.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import quopri
import random
import urllib.parse
import zipfile

import pytest

from canary.watch.sweep.limits import Limits
from canary.watch.sweep.regions import RegionReader
from tests.support.sweep import zip_bytes

DECOY_NAMES = ["GARNIER", "FAURE", "ROUSSEL", "BLANC", "GUERIN", "MULLER", "HENRY", "ROUSSEAU", "NICOLAS", "PERRIN",
               "MORIN", "MATHIEU", "CLEMENT", "GAUTHIER", "DUMONT", "LOPEZ", "FONTAINE", "CHEVALIER", "ROBIN"]
DECOY_FIRST = ["Camille", "Léa", "Chloé", "Manon", "Inès", "Lucas", "Hugo", "Théo", "Nathan", "Enzo", "Gaëlle"]
ROWS = 2000
CANARY_ROWS = (150, 700, 1180, 1640, 1930)  # one canary each, in file order


def dump(canaries: list[dict]) -> str:
    """The CSV: a header, decoys, and each canary's name, first name and birth date on its row."""
    rng = random.Random(29)
    lines = ["id;nom;prenom;ddn;ville"]
    planted = dict(zip(CANARY_ROWS, canaries, strict=True))
    for i in range(ROWS):
        canary = planted.get(i)
        if canary:
            year, month, day = canary["birth_date"].split("-")
            lines.append(f"{i};{canary['birth_name']};{canary['first_names'][0]};{day}/{month}/{year};Lyon")
        else:
            lines.append(f"{i};{rng.choice(DECOY_NAMES)};{rng.choice(DECOY_FIRST)};"
                         f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1930, 2010)};Lyon")
    return "\n".join(lines) + "\n"


def _switch_at(text: str, at: int) -> tuple[str, str]:
    """The text cut at the first line boundary after ``at`` bytes of UTF-8."""
    cut = text.encode("utf-8")[:at].decode("utf-8", "ignore").rfind("\n") + 1
    return text[:cut], text[cut:]


def _nul_padded(text: str) -> bytes:
    return b"".join(line.encode("cp1252") + b"\r\n" + b"\x00" * (64 - len(line) % 64)
                    for line in text.splitlines())


def _hex_lines(data: bytes) -> bytes:
    text = data.hex()
    return b"\n".join(text[i:i + 64].encode() for i in range(0, len(text), 64)) + b"\n"


def _in_zip(name: str, data: bytes) -> bytes:
    return zip_bytes({name: data})


VARIANTS = {
    "latin-1": lambda t: t.encode("cp1252"),
    "crlf-nul-padding": _nul_padded,
    "quoted-printable": lambda t: quopri.encodestring(t.encode("utf-8")),
    "fffe0a00-then-utf8": lambda t: b"\xff\xfe\x0a\x00" + t.encode("utf-8"),
    "utf-32-bom": lambda t: t.encode("utf-32"),
    "utf-32le-no-bom": lambda t: t.encode("utf-32-le"),
    "utf-32be-no-bom": lambda t: t.encode("utf-32-be"),
    "utf-16be-no-bom": lambda t: t.encode("utf-16-be"),
    "utf-16le-no-bom": lambda t: t.encode("utf-16-le"),
    "utf-16-bom": lambda t: t.encode("utf-16"),
    "utf8-bom-then-utf16le": lambda t: b"\xef\xbb\xbf" + t.encode("utf-16-le"),
    "base64-whole-file": lambda t: base64.encodebytes(t.encode("utf-8")),
    "base64-one-line": lambda t: base64.b64encode(t.encode("utf-8")),
    "72k-utf8-then-utf16le": lambda t: _switch_at(t, 72_000)[0].encode("utf-8") +
    _switch_at(t, 72_000)[1].encode("utf-16-le"),
    "utf8-then-utf16be-with-bom": lambda t: _switch_at(t, 30_000)[0].encode("utf-8") + b"\xfe\xff" +
    _switch_at(t, 30_000)[1].encode("utf-16-be"),
    "utf8-then-latin1": lambda t: _switch_at(t, 40_000)[0].encode("utf-8") + _switch_at(t, 40_000)[1].encode("cp1252"),
    "utf8-bom-mid-file": lambda t: _switch_at(t, 40_000)[0].encode("utf-8") + b"\xef\xbb\xbf" +
    _switch_at(t, 40_000)[1].encode("utf-8"),
    "hex-dump": lambda t: _hex_lines(t.encode("utf-8")),
    "url-encoded": lambda t: urllib.parse.quote(t).encode("ascii"),
    "json-string": lambda t: json.dumps(t).encode("ascii"),
    "base64-block-in-a-paste": lambda t: b"Voici un extrait de la base :\n\n" +
    base64.encodebytes(t.encode("utf-8")) + b"\nContactez-moi pour le reste.\n",
    "base64-inside-utf16-inside-zip": lambda t: _in_zip("vente/extrait.txt", (
        "Extrait :\n" + base64.encodebytes(t.encode("utf-8")).decode("ascii") + "fin\n").encode("utf-16")),
    "base64-of-a-zip": lambda t: base64.encodebytes(_in_zip("patients.csv", t.encode("utf-8"))),
    "base64-inside-base64": lambda t: base64.encodebytes(base64.encodebytes(t.encode("utf-8"))),
    "gzip-then-base64-in-utf16": lambda t: ("pièce jointe :\n" + base64.encodebytes(
        __import__("gzip").compress(t.encode("cp1252"))).decode("ascii")).encode("utf-16-le"),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_canary_found_in_each_encoding(tmp_path, sweep_canaries, run_scan, variant):
    path = tmp_path / f"dump-{variant}.bin"
    path.write_bytes(VARIANTS[variant](dump(sweep_canaries)))
    report = run_scan(path)
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}, report.to_json()
    assert report.status == "complete", report.skipped
    assert all(f.confidence in ("medium", "high") for f in report.findings), [f.to_json() for f in report.findings]


def test_a_utf16_dump_keeps_its_lines_and_structure(tmp_path, sweep_canaries, run_scan):
    path = tmp_path / "dump.csv"
    path.write_bytes(dump(sweep_canaries).encode("utf-16-be"))  # no byte-order mark
    report = run_scan(path)
    assert sorted(f.line for f in report.findings) == [row + 2 for row in CANARY_ROWS]
    assert all(f.structured for f in report.findings)


def test_switch_mid_file_keeps_the_header_and_line_numbers(tmp_path, sweep_canaries, run_scan):
    path = tmp_path / "dump.csv"
    path.write_bytes(VARIANTS["72k-utf8-then-utf16le"](dump(sweep_canaries)))
    report = run_scan(path)
    assert sorted(f.line for f in report.findings) == [row + 2 for row in CANARY_ROWS]
    assert all(f.structured for f in report.findings)


def test_a_block_is_named_after_where_it_was(tmp_path, sweep_canaries, run_scan):
    path = tmp_path / "paste.txt"
    path.write_bytes(VARIANTS["base64-inside-utf16-inside-zip"](dump(sweep_canaries)))
    report = run_scan(path)
    assert {f.file.rsplit("@", 1)[0] for f in report.findings} == {f"{path}!vente/extrait.txt!base64"}
    assert report.files == 2  # the member, and the block decoded out of it


def _row(canary: dict) -> str:
    year, month, day = canary["birth_date"].split("-")
    return f"{canary['birth_name']};{canary['first_names'][0]};{day}/{month}/{year}"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_short_utf16_file_without_bom(tmp_path, sweep_canaries, run_scan, codec):
    """A few bytes of UTF-16 without a byte-order mark: too short for a window's NUL count to be sure of."""
    for i, canary in enumerate(sweep_canaries):
        text = [canary["nir"], "0" + canary["phones"][0][3:], _row(canary), f"nom;prenom;ddn\n{_row(canary)}\n",
                f"{canary['birth_name']} {canary['first_names'][0]} né(e) le {_row(canary)[-10:]}"][i]
        (tmp_path / f"court-{i}.txt").write_bytes(text.encode(codec))
    report = run_scan(tmp_path)
    assert sorted((f.file, f.canary_id) for f in report.findings) == [
        (str(tmp_path / f"court-{i}.txt"), c["id"]) for i, c in enumerate(sweep_canaries)], report.to_json()
    assert report.status == "complete"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_short_utf16_stretch_without_bom_amid_8_bit_text(tmp_path, sweep_canaries, run_scan, codec):
    """One row of UTF-16 pasted between lines of UTF-8 (or Latin-1): far less than a window of NULs."""
    parts = []
    for i, canary in enumerate(sweep_canaries):
        before = f"Extrait n°{i} de la base, accès complet :\n" * (1 + 3 * i)
        parts.append(before.encode("utf-8" if i % 2 else "cp1252") + f"{_row(canary)}\n".encode(codec)
                     + "Prix à débattre, paiement en cryptomonnaie.\n".encode())
    path = tmp_path / "annonce.txt"
    path.write_bytes(b"".join(parts))
    report = run_scan(path)
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}, report.to_json()
    assert report.status == "complete"


def _xxd(data: bytes) -> bytes:
    """``xxd`` output: offset, eight groups of two bytes, the ASCII column."""
    lines = []
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        groups = " ".join(row[i:i + 2].hex() for i in range(0, len(row), 2))
        ascii_column = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{at:08x}: {groups:<39}  {ascii_column}")
    return ("\n".join(lines) + "\n").encode("ascii")


@pytest.mark.parametrize("codec", ["utf-8", "utf-16-le"])
def test_an_xxd_hex_dump_is_decoded(tmp_path, sweep_canaries, run_scan, codec):
    """The ASCII column shows 16 bytes a line, cut anywhere (a name over two lines, dots for accents and
    NULs): the bytes are read from the hex groups, as a region of their own."""
    path = tmp_path / "dump.hex"
    path.write_bytes(b"Voici un extrait :\n" + _xxd(dump(sweep_canaries).encode(codec)) + b"fin\n")
    report = run_scan(path)
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}, report.to_json()
    assert {f.file for f in report.findings} == {f"{path}!hex@19"}
    assert report.status == "complete"
    assert all(f.confidence in ("medium", "high") for f in report.findings)


def test_an_xxd_dump_cut_by_chunks_anywhere_is_one_block():
    data = "1;LEFÈVRE;Hélène;12/03/1965;Lyon\n".encode() * 40
    text = b"intro\n" + _xxd(data) + b"outro\n"
    for size in (100, 333, 1000, 4096):  # chunks of 1 MiB in a scan: cut anywhere, not before every mark
        skips: list[str] = []
        reader = RegionReader("f", "utf-8", None, 1 << 20, skips.append)
        out = b"".join(reader.read(iter([text[i:i + size] for i in range(0, len(text), size)])))
        [(name, spool)] = reader.blocks
        assert (name, spool.read(), skips) == ("f!hex@6", data, [])
        # The text keeps its length (offsets after the dump stay right): the dump's lines blanked, but for
        # the start of a line cut by a chunk's end, left as it was (it might have been no xxd line).
        assert len(out) == len(text) and out.startswith(b"intro\n") and out.endswith(b"\noutro\n")


# --- bad input: bounded, listed as skipped, the rest read -----------------------------------------------

def test_a_base64_block_over_its_bound_is_cut_and_the_rest_read(tmp_path, sweep_canaries, run_scan):
    # Stands for a block decoding to 4 GB: the bound is sweep.max_spool_bytes (here 64 KiB).
    text = dump(sweep_canaries)
    big = base64.encodebytes(("1;GARNIER;Camille;01/01/1950;Lyon\n" * 20_000).encode())  # 680 KB decoded
    path = tmp_path / "paste.txt"
    path.write_bytes(text.encode() + big + text.encode())
    report = run_scan(path, limits=Limits(max_spool_bytes=64 * 1024))
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}
    assert report.status == "partial"
    [skip] = report.skipped
    assert skip["file"] == str(path)
    assert "decodes to more than 65536 bytes (sweep.max_spool_bytes)" in skip["reason"]


def test_utf16_with_an_odd_byte_count(tmp_path, sweep_canaries, run_scan):
    path = tmp_path / "dump.csv"
    path.write_bytes(dump(sweep_canaries).encode("utf-16") + b"\x41")
    report = run_scan(path)
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}
    assert report.status == "partial"
    assert [s["reason"] for s in report.skipped] == [
        f"1 byte at the end of utf-16-le text (an odd byte count: a cut code unit) not read, "
        f"before byte {path.stat().st_size}"]


def test_an_endless_run_of_byte_order_marks(tmp_path, sweep_canaries, run_scan):
    path = tmp_path / "dump.csv"
    path.write_bytes(b"\xff\xfe" * 1_500_000 + dump(sweep_canaries).encode("utf-8"))  # 3 MB of marks
    report = run_scan(path)
    assert {f.canary_id for f in report.findings} == {c["id"] for c in sweep_canaries}
    assert report.status == "partial"
    assert [s["reason"] for s in report.skipped] == [
        "3000000 bytes of repeated byte-order marks at byte 0 (not text) skipped"]


def test_random_noise_in_the_base64_alphabet_is_not_a_part(tmp_path, run_scan):
    rng = random.Random(5)
    noise = b"\n".join(binascii.hexlify(rng.randbytes(40)) for _ in range(200))  # hashes, keys: not text
    path = tmp_path / "hashes.txt"
    path.write_bytes(noise)
    report = run_scan(path)
    assert report.findings == [] and report.status == "complete" and report.files == 1


def test_plain_utf8_goes_through_untouched():
    """The fast path hands each chunk on as it is: no decoding and no copy for a clean dump."""
    chunks = [("1;DUPONT;Jean;01/02/1950;Lyon\n" * 1000).encode(), "2;LEFÈVRE;Hélène;12/03/1965\n".encode() * 100]
    reader = RegionReader("f", "utf-8", None, 1 << 20, lambda reason: None)
    assert all(a is b for a, b in zip(reader.read(iter(chunks)), chunks, strict=True))


def test_zip_members_are_unchanged(tmp_path, sweep_canaries, run_scan):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.csv", dump(sweep_canaries).encode("utf-16"))
    path = tmp_path / "a.zip"
    path.write_bytes(buffer.getvalue())
    report = run_scan(path)
    assert {f.file for f in report.findings} == {f"{path}!a.csv"}
    assert report.status == "complete"


def test_native_text_flags_agree_with_the_python_test():
    """The native core's one-pass test and the Python engine's give the same flags (a run of the base64
    alphabet aside: the native test flags every run of 47 and some shorter, the Python one from 47)."""
    from canary.watch.sweep.regions import FLAG_RUN, text_flags
    from canary.watch.sweep.search import native_module

    native = native_module()
    if native is None:
        pytest.skip("the native core is not built")
    rng = random.Random(11)
    pieces = ["12;DUPONT;Jean;01/02/1950\n", "Hélène;Lefèvre;", "\x00", "\ufeff", "%20", "=C3=A9", "\\n", "\\u00e9",
              "€’œ", "=\n", "\r\n", base64.b64encode(rng.randbytes(60)).decode(), "000000", "a0: 3b", "0: ", "12:30"]
    for _ in range(3000):
        data = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))).encode("utf-8")
        data = data[:len(data) - rng.randint(0, 3)] if rng.random() < 0.3 else data
        data = data.replace("é".encode(), b"\xe9") if rng.random() < 0.3 else data
        data = data.replace(b"\x00", "\ufeff".encode("utf-16-le")) if rng.random() < 0.2 else data
        assert native.text_flags(data) & ~FLAG_RUN == text_flags(data, None) & ~FLAG_RUN, data
        if text_flags(data, None) & FLAG_RUN:
            assert native.text_flags(data) & FLAG_RUN, data
