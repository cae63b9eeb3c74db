"""The native sweep core against the pure-Python engine: same squeezed bytes, same hits, same findings."""

from __future__ import annotations

import json
import os
import random
import sys

import pytest

from canary.errors import CanaryError
from canary.watch.sweep.index import build_index
from canary.watch.sweep.matcher import StreamMatcher
from canary.watch.sweep.search import native_module, resolve_engine
from canary.watch.sweep.textnorm import squeeze_blocks, squeeze_slices
from tests.support.sweep import HELENE

native = native_module()
needs_native = pytest.mark.skipif(native is None and not os.environ.get("CI"),
                                  reason="native core not built (no Hyperscan headers); CI builds it")

# Bytes that exercise every rewrite, cut rewrites, stray lead bytes and both encodings' high halves.
_PIECES = [b"\xc5\x92", b"\xc5\x93", b"\xe2\x80\x99", b"\xc2\xa0", b"\xe2\x80\xaf", b"\xc3\xa9", b"\xc3\x89", b"\n",
           b"a", b"Z", b"1", b" ", b";", b"|", b"\t", b"@", b"\x8c", b"\xdf", b"\xc6", b"\xe6", b"\x9c", b"\xc5",
           b"\xe2\x80", b"-", b"/", b"(0)", b"),", b"},", b"), ", b")", b"}", b"(", b"abcdefghijklmnop", b"0123456789"]


@needs_native
def test_native_squeeze_is_byte_identical_to_python() -> None:
    assert native is not None
    rng = random.Random(20261128)
    for _ in range(1500):
        # Mostly-ASCII runs long enough for the 16-byte vector path, broken by rewrites and high bytes.
        data = b"".join(rng.choice(_PIECES) if rng.random() < 0.9 else bytes([rng.randrange(256)])
                        for _ in range(rng.randrange(0, 200)))
        for encoding in ("utf-8", "cp1252"):
            for block in (1, 5, 17, 64, 4096):
                assert squeeze_blocks(data, encoding, block, native) == squeeze_blocks(data, encoding, block)
            cuts = sorted({0, *(rng.randrange(len(data) + 1) for _ in range(3))}) if data else []
            assert squeeze_slices(data, encoding, cuts, native) == squeeze_slices(data, encoding, cuts)


@needs_native
def test_native_squeeze_rejects_bad_cuts() -> None:
    assert native is not None
    with pytest.raises(ValueError, match="cuts"):
        squeeze_slices(b"abc", "utf-8", [1, 2], native)
    with pytest.raises(ValueError, match="cuts"):
        squeeze_slices(b"abc", "utf-8", [0, 9], native)


def _corpus(canaries: list[dict], rng: random.Random) -> bytes:
    """Rows where canary birth dates meet their names on the line, far away, or not at all."""
    rows = []
    for i in range(3000):
        canary = rng.choice(canaries)
        birth = canary["birth_date"]
        day = f"{birth[8:10]}/{birth[5:7]}/{birth[:4]}"
        name = canary["birth_name"]
        kind = i % 4
        if kind == 0:
            rows.append(f"{i};{name};{day};rue X")  # a pair on one line
        elif kind == 1:
            rows.append(f"{i};MARTIN;{day};" + "x" * 500 + name)  # the other half too far away
        elif kind == 2:
            rows.append(f"({i},'{name.title()}','{birth}'),")  # SQL tuple, ISO date
        else:
            rows.append(f"{i};DURAND;{day}")  # no other half
    return "\n".join(rows).encode()


@needs_native
def test_engines_keep_the_same_hits_and_find_the_same_canaries(db, sweep_canaries) -> None:
    index = build_index(db)
    python = StreamMatcher(index, "python")
    fast = StreamMatcher(index, "native")
    data = _corpus(sweep_canaries, random.Random(7))
    squeezed, _starts, _newlines = squeeze_blocks(data, "utf-8", 16 * 1024)
    assert python.search is not None and fast.search is not None
    python_hits = sorted(python.search.hits(squeezed))
    assert python_hits  # the corpus has pairs
    assert sorted(fast.search.hits(squeezed)) == python_hits
    assert len(python_hits) < data.count(b"\n")  # far and missing halves were dropped

    def findings(matcher: StreamMatcher) -> list[tuple]:
        return [(f.canary_id, f.line, f.fields, f.confidence)
                for f in matcher.scan(iter([data[:40_000], data[40_000:]]), "corpus.csv", "utf-8")]

    assert findings(fast) == findings(python)
    assert {f[0] for f in findings(fast)} == {c["id"] for c in sweep_canaries}


@pytest.mark.parametrize("engine", ["python", pytest.param("native", marks=needs_native)])
def test_damaged_cache_is_rebuilt(db, sweep_canaries, engine) -> None:
    index = build_index(db)
    assert index.cache is not None
    StreamMatcher(index, engine)
    blob = index.cache.read_bytes()
    # Right key, garbage database (the native one may be empty: its own passes find every pattern here).
    garbage = b"\0" * max(len(blob) - 64, 64)
    index.cache.write_bytes(blob[:64] + garbage)
    matcher = StreamMatcher(index, engine)
    assert index.cache.read_bytes()[64:] != garbage
    text = f"{HELENE['birth_name']};12/03/1965\n".encode()
    assert [f.canary_id for f in matcher.scan(iter([text]), "x.csv", "utf-8")] == ["sw0000"]
    assert oct(index.cache.stat().st_mode & 0o777) == "0o600"


@needs_native
def test_native_engine_refuses_a_foreign_database() -> None:
    assert native is not None
    with pytest.raises(native.NativeError, match="cannot load"):
        native.Engine(b"not a database", [b"ABC"], [None], 400, 48)
    with pytest.raises(ValueError, match="differ"):
        native.Engine(native.compile([b"ABC"]), [b"ABC", b"ABCD"], [None], 400, 48)
    with pytest.raises(TypeError, match="bytes"):
        native.Engine(native.compile([b"ABC"]), [3], [None], 400, 48)


def test_unknown_engine_is_a_clear_error() -> None:
    with pytest.raises(CanaryError, match="sweep.engine"):
        resolve_engine("turbo")
    assert resolve_engine("python") == "python"
    assert resolve_engine("auto") == ("native" if native is not None else "python")


@pytest.mark.parametrize("engine", ["python", pytest.param("native", marks=needs_native)])
def test_pre_check_stays_inside_one_tuple_of_an_extended_insert(db, sweep_canaries, engine) -> None:
    matcher = StreamMatcher(build_index(db), engine)
    assert matcher.search is not None
    name, birth = HELENE["birth_name"], HELENE["birth_date"]
    apart = f"INSERT INTO p VALUES (1,'{name}','x'),(2,'MARTIN','{birth}'),(3,'DURAND','y');".encode()
    together = f"INSERT INTO p VALUES (1,'x','x'),(2,'{name}','{birth}'), (3,'DURAND','y');".encode()
    for line, expected in ((apart, 0), (together, 1)):
        squeezed, _starts, _newlines = squeeze_blocks(line, "utf-8", 16 * 1024, matcher.native)
        assert squeezed.count(b"\x1e") == 2  # "),(" and "), (" mark the tuples
        assert len(matcher.search.hits(squeezed)) == expected


@needs_native
def test_engines_agree_on_random_record_layouts(db, sweep_canaries) -> None:
    """Short lines, long lines, tuples, objects, pairs near and far: the same hits from both engines."""
    index = build_index(db)
    python, fast = StreamMatcher(index, "python"), StreamMatcher(index, "native")
    assert python.search is not None and fast.search is not None
    rng = random.Random(11)
    words = [c["birth_name"] for c in sweep_canaries] + \
        [f"{c['birth_date'][8:]}/{c['birth_date'][5:7]}/{c['birth_date'][:4]}" for c in sweep_canaries] + \
        ["\n", "\n  ", "\n ", "\n\t", "),(", "), (", "},{", "}, {", ";", ",", "MARTIN", "x" * 60, "y" * 300,
         "12 rue des Écoles"]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 60))).encode()
        squeezed, _starts, _newlines = squeeze_blocks(text, "utf-8", 16 * 1024)
        assert sorted(fast.search.hits(squeezed)) == sorted(python.search.hits(squeezed)), text


def test_falling_back_to_the_python_engine_is_noted_and_the_output_stays_clean(cli, db, sweep_canaries,
                                                                               tmp_path, monkeypatch) -> None:
    import canary.watch.sweep as package
    from canary.settings import get_setting
    from canary.watch.sweep.search import slow_engine_note

    dump = tmp_path / "dump.csv"
    dump.write_text(f"{HELENE['birth_name']};12/03/1965\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "canary.watch.sweep._native", None)  # as if never built: import fails
    monkeypatch.delattr(package, "_native", raising=False)
    note = slow_engine_note(get_setting(db, "sweep.engine"))
    assert note is not None and "Python engine" in note and "libhyperscan-dev" in note
    result = cli("scan", "--json", str(dump))  # not a terminal: the JSON is the whole output
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["findings"][0]["canary_id"] == "sw0000"
    monkeypatch.setenv("CANARY_SWEEP_ENGINE", "python")  # chosen, not fallen back to: nothing to say
    assert slow_engine_note(get_setting(db, "sweep.engine")) is None


@pytest.mark.parametrize("engine", ["python", pytest.param("native", marks=needs_native)])
def test_pre_check_looks_past_a_short_line_only_in_pretty_printed_records(db, sweep_canaries, engine) -> None:
    """A short CSV row is a whole record; an indented short line is a field of a bigger one."""
    matcher = StreamMatcher(build_index(db), engine)
    assert matcher.search is not None
    name, day = HELENE["birth_name"], "12/03/1965"
    rows = f"1;MARTIN;01/01/1950\n2;{name};x\n3;DURAND;{day}\n4;PETIT;02/02/1960\n".encode()
    pretty = f'[\n  {{\n    "nom": "{name}",\n    "ville": "Lyon",\n    "naissance": "{day}"\n  }}\n]\n'.encode()
    for text, expected in ((rows, 0), (pretty, 1)):
        squeezed, _starts, _newlines = squeeze_blocks(text, "utf-8", 16 * 1024, matcher.native)
        assert len(matcher.search.hits(squeezed)) == expected, text


def _every_occurrence(patterns: list[bytes], text: bytes) -> list[tuple[int, int]]:
    """(pattern id, end offset) of every occurrence, overlapping ones included: what a search must report."""
    hits = []
    for pid, pattern in enumerate(patterns):
        at = text.find(pattern)
        while at >= 0:
            hits.append((pid, at + len(pattern)))
            at = text.find(pattern, at + 1)
    return sorted(hits, key=lambda hit: (hit[1], hit[0]))


@needs_native
def test_native_own_passes_find_every_occurrence_in_end_order() -> None:
    """Patterns with a run of 8 digits and other literals of 10+ bytes are found by the core's own passes,
    not by Hyperscan: every occurrence, at the start and end of the text, overlapping, sharing prefixes, in
    the order Hyperscan gives (end offset, then pattern)."""
    assert native is not None
    rng = random.Random(1515)
    digits = [b"12031965", b"19650312", b"120319651", b"1203196512345", b"40123456", b"7561000001",
              b"11111111", b"1111111111"]
    mixed = [b"E604939551", b"293062A004201", b"HZ4K2M9Q7TX3B8N1C5V0", b"HELENELEFEVRE@MAILEXAMPLEFR",
             b"ABCDEFGHIJ"]
    short = [b"AB12CD", b"X1234567", b"1234567"]  # left to Hyperscan
    patterns = digits + mixed + short
    engine = native.Engine(native.compile(patterns), patterns, [None] * len(patterns), 400, 48)
    noise = [b"0", b"7", b"1", b"A", b"Z", b";", b"\n", b"\x1e", b"123", b"99999"]
    for _ in range(1500):
        text = b"".join(rng.choice(patterns) if rng.random() < 0.3 else rng.choice(noise)
                        for _ in range(rng.randrange(0, 40)))
        assert engine.scan(text) == _every_occurrence(patterns, text), text
    assert native.compile(digits + mixed) == b""  # nothing left for Hyperscan
    only_own = native.Engine(b"", digits, [None] * len(digits), 400, 48)
    assert only_own.scan(b"x12031965123456789") == [(0, 9), (2, 10), (3, 14)]
    # A pattern with a run of 8 digits after a letter is found from that run: not before the text's start.
    anchored = native.Engine(native.compile([b"E60493955123"]), [b"E60493955123"], [None], 400, 48)
    assert native.compile([b"E60493955123"]) == b""
    assert anchored.scan(b"60493955123;E60493955123;F60493955123") == [(0, 24)]


@needs_native
def test_native_contains_is_python_in() -> None:
    assert native is not None
    rng = random.Random(3)
    for _ in range(2000):
        hay = bytes(rng.choice(b"CREATBL1\n") for _ in range(rng.randrange(0, 70)))
        needle = bytes(rng.choice(b"CREATBL1\n") for _ in range(rng.randrange(0, 7)))
        assert native.contains(hay, needle) == (needle in hay), (hay, needle)
