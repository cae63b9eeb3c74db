"""The shape of tripwire sightings by kind: one module per kind behind one registry, each kind handed over by
the listener it names with the payload it declares, documented, and no tripwire module outside the kinds
deciding by a kind's name (read with ast, as tests/plant/test_channels.py does for the planting channels)."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

import pytest

from canary.store.events import list_events
from canary.watch.tripwire.hits import Hit
from canary.watch.tripwire.kinds import KINDS
from canary.watch.tripwire.kinds.base import SightingKind
from canary.watch.tripwire.kinds.mail import mail_payload
from canary.watch.tripwire.noise import NoisePolicy
from canary.watch.tripwire.sightings import SightingStore, hit_payload
from tests.support.kinds import decisions_by_name

ROOT = Path(__file__).resolve().parents[2]
TRIPWIRE = ROOT / "canary" / "watch" / "tripwire"
KIND_DIR = TRIPWIRE / "kinds"
# Modules that compare an event's channel (named like some kinds: http, dns), never a sighting's kind.
CHANNEL_READERS = {"noise.py"}


def test_every_kind_module_is_in_the_registry_with_every_part():
    modules = sorted(p.stem for p in KIND_DIR.glob("*.py") if p.stem not in ("__init__", "base"))
    assert sorted(KINDS) == modules == ["dns", "http", "mail", "webhook"]
    for name, kind in KINDS.items():
        module = importlib.import_module(f"canary.watch.tripwire.kinds.{name}")
        assert module.KIND is kind and isinstance(kind, SightingKind)
        assert {f.name for f in dataclasses.fields(kind)} == {"name", "listener", "payload_keys", "store"}
        assert kind.store.__module__ == module.__name__ and kind.payload_keys


def _sighting_calls(path: Path) -> list[tuple[str, ast.expr]]:
    """(kind, payload expression) of every ``<store>.sighting("kind", payload)`` in a module."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "sighting" \
                and node.args and isinstance(node.args[0], ast.Constant):
            calls.append((node.args[0].value, node.args[1]))
    return calls


def test_each_kind_is_handed_over_by_its_listener_with_the_payload_it_declares():
    handed: dict[str, list[ast.expr]] = {}
    for path in TRIPWIRE.glob("*.py"):
        for name, payload in _sighting_calls(path):
            assert name in KINDS, f"{path.name} hands over an unknown sighting kind {name!r}"
            assert KINDS[name].listener == f"canary.watch.tripwire.{path.stem}"
            handed.setdefault(name, []).append(payload)
    assert sorted(handed) == sorted(KINDS)
    for name, payloads in handed.items():
        for payload in payloads:
            if isinstance(payload, ast.Dict):
                keys = [key.value for key in payload.keys if isinstance(key, ast.Constant)]
                assert tuple(keys) == KINDS[name].payload_keys
    built = mail_payload(b"x", peer="198.51.100.7", mail_from=None, rcpt_to=[], helo=None, tls=None,
                         received="2026-01-01T00:00:00Z", digest={})
    assert tuple(built) == KINDS["mail"].payload_keys


def test_docs_list_every_kind():
    text = (ROOT / "docs" / "tripwire.md").read_text(encoding="utf-8")
    section = text.split("A sighting's kind says", 1)[1].split("\n\n", 2)[1]
    rows = [line.split("|")[1].strip(" `") for line in section.splitlines()[2:]]
    assert sorted(rows) == sorted(KINDS)
    assert "## Adding a tripwire kind" in (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")


def test_an_unknown_kind_is_refused_at_hand_over_and_at_replay(db):
    store = SightingStore(NoisePolicy.from_settings(db))
    with pytest.raises(ValueError, match="unknown sighting kind 'fax'"):
        store.sighting("fax", {})
    with pytest.raises(ValueError, match="unknown sighting kind 'fax'"):
        store.replay(db, {"id": "j1", "kind": "fax", "payload": {}})


def test_a_replayed_hit_keeps_its_dedup_key_whatever_its_kind(canaries, db):
    store = SightingStore(NoisePolicy.from_settings(db))
    hit = Hit(channel="http", source="198.51.100.7", source_ip="198.51.100.7", details={"path": "/d/x"})
    entry = {"id": "abc123", "kind": "http", "payload": {"hit": hit_payload(hit), "candidates": [canaries[0]["token"]]}}
    store.replay(db, entry)
    store.replay(db, entry)  # a second replay of the same entry stores nothing more
    events = list_events(db)
    assert [(e["canary_id"], e["channel"]) for e in events] == [(canaries[0]["id"], "http")]


def _decisions_by_kind(path: Path) -> list[str]:
    return decisions_by_name(path, KINDS, dict_keys=0, subscripts=False, matches=False)


def test_no_tripwire_module_outside_the_kinds_decides_by_a_kind_name():
    outside = [p for p in TRIPWIRE.glob("*.py") if p.name not in CHANNEL_READERS]
    assert [hit for path in outside for hit in _decisions_by_kind(path)] == []


def test_the_check_finds_a_dispatch_by_kind(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('def f(kind):\n    if kind == "mail":\n        return 1\n')
    assert _decisions_by_kind(sample) == ["sample.py:2"]
