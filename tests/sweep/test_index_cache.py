"""The sweep index cache: reused while the registry is unchanged, rebuilt after any change, never trusted unsigned."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from pathlib import Path

from canary.generate.seeding import derive_token
from canary.store.registry import add_canaries
from canary.watch.sweep.index import build_index
from canary.watch.sweep.index_cache import FORMAT, LazyCanaries
from tests.support.records import make_record


def _cache(db) -> Path:
    index = build_index(db)
    assert index.registry is not None
    return Path(f"{index.registry}-sweep.index")


def test_index_is_cached_owner_only_and_reused(db, sweep_canaries) -> None:
    first = build_index(db)
    cache = _cache(db)
    assert cache.exists() and oct(cache.stat().st_mode & 0o777) == "0o600"
    assert cache.resolve() in first.private_files()  # never scanned as a leak
    written = cache.stat().st_mtime_ns
    second = build_index(db)
    assert cache.stat().st_mtime_ns == written  # loaded, not rebuilt
    assert second.patterns == first.patterns and second.weak_others == first.weak_others
    assert set(second.canaries) == {c["id"] for c in sweep_canaries}
    assert second.cache == first.cache and second.registry == first.registry


def test_cached_canaries_are_read_when_needed_and_equal_the_built_ones(db, sweep_canaries) -> None:
    build_index(db)
    cached = build_index(db)
    built = build_index(db, use_cache=False)
    assert isinstance(cached.canaries, LazyCanaries) and len(cached.canaries) == len(sweep_canaries)
    assert "sw0001" in cached.canaries and "nobody" not in cached.canaries
    assert all(cached.canaries[cid] == built.canaries[cid] for cid in built.canaries)
    shipped = pickle.loads(pickle.dumps(cached))  # as a Dask worker receives it
    assert shipped.canaries["sw0000"] == built.canaries["sw0000"]


def test_a_new_canary_invalidates_the_cache(db, sweep_canaries) -> None:
    build_index(db)
    add_canaries(db, [{"id": "late0001", "system": "ehr-lyon", "generation": 1, "created_at": "2026-02-01T00:00:00Z",
                       "token": derive_token("k", "late0001"), **make_record(900)}])
    assert "late0001" in build_index(db).canaries


def test_a_marker_change_invalidates_the_cache(db, sweep_canaries) -> None:
    before = build_index(db)
    db.execute("DELETE FROM markers WHERE canary_id = ? AND kind = 'email'", ["sw0000"])
    db.conn.commit()
    after = build_index(db)
    assert before.canaries["sw0000"].email and after.canaries["sw0000"].email is None


def test_an_unsigned_cache_is_never_unpickled(db, sweep_canaries, tmp_path) -> None:
    cache = _cache(db)
    header = cache.read_bytes()[32:].split(b"\n", 2)
    assert header[0] == FORMAT
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    body = header[0] + b"\n" + header[1] + b"\n" + pickle.dumps(Payload())
    cache.write_bytes(hmac.new(b"wrong key", body, hashlib.sha256).digest() + body)
    index = build_index(db)
    assert not marker.exists()
    assert "sw0000" in index.canaries  # rebuilt from the registry


def test_a_truncated_cache_is_rebuilt(db, sweep_canaries) -> None:
    cache = _cache(db)
    cache.write_bytes(cache.read_bytes()[:100])
    assert len(build_index(db).canaries) == len(sweep_canaries)
    assert len(cache.read_bytes()) > 100
