"""The shape of sweep sources by kind: one module per kind behind one registry that finds them, and no
sweep module outside the kinds that decides by a kind's name or asks what an input is (read with ast,
as tests/plant/test_channels.py does for planting channels)."""

from __future__ import annotations

import inspect
from pathlib import Path

from canary.watch.sweep.source_kinds import SOURCE_KINDS, kind_of_input
from canary.watch.sweep.source_kinds.base import SourceKind
from tests.support.kinds import decisions_by_name

SWEEP = Path(__file__).resolve().parents[2] / "canary" / "watch" / "sweep"
KIND_DIR = SWEEP / "source_kinds"
# Where an input's shape may be asked: the kinds, and the helpers they share.
INPUT_TESTS = {"is_url", "is_remote"}


def test_every_kind_module_is_in_the_registry_with_the_full_interface():
    modules = sorted(p.stem for p in KIND_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(SOURCE_KINDS) == modules and {"path", "url", "listing"} <= set(modules)
    steps = [name for name, value in inspect.signature(SourceKind).parameters.items()
             if "Callable" in str(value.annotation)]
    assert set(steps) == {"claims", "units", "open", "feed_source", "resolve"}
    for name, kind in SOURCE_KINDS.items():
        assert isinstance(kind, SourceKind) and kind.name == name and kind.summary
        module = f"canary.watch.sweep.source_kinds.{name}"
        # Every step is a function of the kind's own module or one of base's shared ones.
        assert all(getattr(kind, step).__module__ in (module, "canary.watch.sweep.source_kinds.base") for step in steps)
        assert kind.claims.__module__ == kind.units.__module__ == kind.open.__module__ == module


def test_kinds_are_asked_in_one_order_and_the_path_kind_takes_the_rest():
    orders = [kind.order for kind in SOURCE_KINDS.values()]
    assert orders == sorted(orders) and len(set(orders)) == len(orders)
    assert list(SOURCE_KINDS)[-1] == "path"
    examples = {"drops/a.sql.gz": "path", "drops/**/*.csv": "path", "https://x.example/a.csv": "url",
                "https://x.example/drops/": "listing", "s3://bucket/prefix": "listing",
                "file:///shared/drops": "listing"}
    assert {text: kind_of_input(text).name for text in examples} == examples


def _decisions_by_kind(path: Path) -> list[str]:
    """Places that compare with, index by, match on or key a dict with a kind's name, or ask what an input is."""
    return decisions_by_name(path, SOURCE_KINDS, calls=INPUT_TESTS)


def test_no_sweep_module_outside_the_kinds_decides_by_a_kind():
    outside = [p for p in SWEEP.rglob("*.py") if KIND_DIR not in p.parents and p.name != "sources.py"]
    assert len(outside) > 10
    assert [hit for path in outside for hit in _decisions_by_kind(path)] == []


def test_the_check_finds_a_dispatch_by_kind(tmp_path):
    # The check above passes because the code is right, not because it cannot see anything.
    sample = tmp_path / "sample.py"
    sample.write_text('def f(u, item):\n    if u.kind == "url" or is_url(item):\n        return {"path": 1}[u.kind]\n')
    assert len(_decisions_by_kind(sample)) == 3


def test_a_feed_keeps_its_kinds_state(db):
    columns = {row[1] for row in db.execute("PRAGMA table_info(sweep_feeds)")}
    assert "source_state" in columns
