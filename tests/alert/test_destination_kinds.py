"""The shape of alert destinations by kind: one module per kind behind one registry, every kind with every
part, documented, and no module outside the kinds deciding by a kind's name (read with ast, as
tests/plant/test_channels.py does for the planting channels)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from pathlib import Path

import pytest

from canary.alert.destinations import add_destination, check_jsonl_folder, destination_status, kind_for_url
from canary.alert.kinds import FALLBACK, KINDS, SCHEMES
from canary.alert.kinds.base import DestinationKind
from canary.alert.sample_alert import send_test
from canary.errors import CanaryError
from canary.settings import all_settings, set_setting
from tests.support.kinds import decisions_by_name

ROOT = Path(__file__).resolve().parents[2]
ALERT = ROOT / "canary" / "alert"
KIND_DIR = ALERT / "kinds"
PARTS = ("check_url", "network_targets", "redact", "send", "takes_notices", "check_remote_add")


def _kind_modules() -> list[str]:
    return sorted(p.stem for p in KIND_DIR.glob("*.py") if p.stem not in ("__init__", "base"))


def test_every_kind_module_is_in_the_registry_and_every_kind_has_every_part():
    declared = {}
    for stem in _kind_modules():
        module = importlib.import_module(f"canary.alert.kinds.{stem}")
        found = [value for value in vars(module).values() if isinstance(value, DestinationKind)]
        assert found, f"canary/alert/kinds/{stem}.py declares no DestinationKind"
        declared.update({kind.name: (stem, kind) for kind in found})
    assert sorted(declared) == sorted(KINDS) == ["apprise", "jsonl", "signed-webhook", "syslog", "webhook"]
    for name, (stem, kind) in declared.items():
        assert KINDS[name] is kind
        assert {f.name for f in dataclasses.fields(kind)} >= {"name", "schemes", "example", "settings", *PARTS}
        assert all(callable(getattr(kind, part)) for part in PARTS)
        # What makes the kind what it is lives in its module, not borrowed from another kind's.
        assert kind.send.__module__ == f"canary.alert.kinds.{stem}"
        assert all(getattr(kind, part).__module__ in (f"canary.alert.kinds.{stem}", "canary.alert.kinds.base")
                   for part in PARTS)
        assert kind.example and kind_for_url(kind.example) is kind
        kind.check_url(kind.example)


def test_schemes_choose_one_kind_each_and_one_kind_takes_the_rest():
    assert sum(len(kind.schemes) for kind in KINDS.values()) == len(SCHEMES)
    assert [kind.name for kind in KINDS.values() if not kind.schemes] == [FALLBACK.name]
    assert kind_for_url("mailtos://u:p@smtp.example.fr?to=a@example.fr") is FALLBACK


def test_every_setting_a_kind_reads_is_declared():
    declared = set(all_settings())
    assert {key for kind in KINDS.values() for key in kind.settings} <= declared


def test_docs_list_every_kind_and_its_schemes():
    text = (ROOT / "docs" / "alert.md").read_text(encoding="utf-8")
    section = text.split("## Destinations", 1)[1].split("\n## ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| ")][1:]  # the header row left out
    rows = {row.split("|")[2].strip(" `"): row for row in table}
    assert sorted(rows) == sorted(KINDS)
    for kind in KINDS.values():
        assert all(f"`{scheme}://" in rows[kind.name] for scheme in kind.schemes)
    extending = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")
    assert "## Adding an alert destination" in extending and "canary/alert/kinds/" in extending


def test_redacting_drops_credentials_and_tokens_for_every_kind():
    for kind in KINDS.values():
        scheme = kind.schemes[0] if kind.schemes else "mailtos"
        shown = kind.redact(f"{scheme}://someone:s3cr3tpw@host.example.fr:2525/p?to=a@example.fr&token=t0k3n")
        assert "s3cr3tpw" not in shown and "t0k3n" not in shown


def test_console_additions_are_checked_by_the_kind(db, tmp_path):
    set_setting(db, "alert.jsonl_folder", str(tmp_path / "alerts"))
    check_jsonl_folder(db, f"jsonl://{tmp_path}/alerts/ok.jsonl")
    with pytest.raises(CanaryError, match="alert.jsonl_folder"):
        check_jsonl_folder(db, f"jsonl://{tmp_path}/elsewhere.jsonl")
    check_jsonl_folder(db, "jsons://siem.example.fr/canary")  # other kinds: as from the CLI


def test_notify_test_sends_through_the_kind(db, tmp_path):
    path = tmp_path / "alerts.jsonl"
    destination = add_destination(db, f"jsonl://{path}")
    assert destination_status(db)[0]["kind"] == "jsonl"
    assert send_test(db) == [{"id": destination.id, "url": f"jsonl://{path}", "ok": True, "error": None}]
    assert json.loads(path.read_text(encoding="utf-8"))["test"] is True


def _decisions_by_kind(path: Path) -> list[str]:
    """Places that compare with, index by, or key a dict with a kind's name or one of its schemes."""
    return decisions_by_name(path, set(KINDS) | set(SCHEMES), matches=False)


def test_no_alert_module_outside_the_kinds_decides_by_a_kind():
    outside = [p for p in ALERT.glob("*.py")]
    assert [hit for path in outside for hit in _decisions_by_kind(path)] == []


def test_the_check_finds_a_dispatch_by_kind(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('def f(d):\n    if d.kind == "jsonl":\n        return {"syslog": 1}[d.kind]\n')
    assert len(_decisions_by_kind(sample)) == 2
    assert re.search(r"sample\.py:2", " ".join(_decisions_by_kind(sample)))
