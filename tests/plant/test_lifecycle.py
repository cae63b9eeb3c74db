"""The plantings lifecycle through the CLI: listing, retiring, rotation keeping the dates."""

from __future__ import annotations

import json

import pytest

from canary.errors import CanaryError
from canary.generate.seeding import seed_system
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant
from canary.plant.rotation import rotate
from tests.support.records import FixtureGenerator

KEYS = {"id", "canary_id", "system", "generation", "channel", "target", "receiver", "state", "external_id", "resources",
        "attempts", "planned_at", "planted_at", "retired_at", "error", "updated_at"}


def test_plants_json_contract_and_table(db, add_hand_canaries, tmp_path, cli, mllp_peer):
    add_hand_canaries("ehr-a", count=2)
    add_hand_canaries("billing", count=1, kind="billing")
    assert plant(db, "ehr-a", mllp_peer.url).ok
    assert plant(db, "billing", (tmp_path / "b.csv").as_uri()).ok
    result = cli("plants", "--json")
    rows = json.loads(result.output)
    assert len(rows) == 3 and all(set(row) == KEYS for row in rows)
    assert {row["channel"] for row in rows} == {"mllp", "file"}
    # The receiving application and facility (MSH-5/MSH-6) of an MLLP target are shown with its plantings.
    assert {row["channel"]: row["receiver"] for row in rows} == {"mllp": "DPI/CHUX", "file": None}
    only = json.loads(cli("plants", "--system", "billing", "--json").output)
    assert [row["system"] for row in only] == ["billing"]
    table = cli("plants", "--system", "ehr-a").output
    assert "EXTERNAL_ID" in table and "40000000" in table and "RECEIVER" in table and "DPI/CHUX" in table
    assert cli("plants", "--system", "nope").exit_code == 1


def test_retire_needs_one_selector_and_knows_unknown_ids(cli, add_hand_canaries):
    add_hand_canaries("ehr-a", count=1)
    assert "one of them" in cli("retire").output
    assert "one of them" in cli("retire", "1", "--system", "ehr-a").output
    assert "unknown planting or canary '42'" in cli("retire", "42").output
    assert "unknown planting or canary 'nosuchcanary'" in cli("retire", "nosuchcanary").output
    assert "nothing to retire" in cli("retire", "--system", "ehr-a").output


def test_retire_system_everywhere(db, add_hand_canaries, tmp_path, cli, mllp_peer):
    add_hand_canaries("ehr-a", count=2)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    assert plant(db, "ehr-a", (tmp_path / "a.json").as_uri()).ok
    result = cli("retire", "--system", "ehr-a")
    assert result.exit_code == 0 and "4 retired" in result.output
    assert {r["state"] for r in list_plantings(db)} == {"retired"}
    assert json.loads((tmp_path / "a.json").read_text()) == []
    assert mllp_peer.events().count("A31") == 2 and "A29" not in mllp_peer.events()
    assert {row[0] for row in db.execute("SELECT status FROM canaries")} == {"retired"}
    # Retired canaries are not planted again.
    with pytest.raises(CanaryError, match="no active canary"):
        plant(db, "ehr-a", (tmp_path / "a.json").as_uri())


def test_rotate_plants_a_new_generation_and_keeps_the_dates(db, add_hand_canaries, tmp_path, mllp_peer):
    first = add_hand_canaries("ehr-a", count=2)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    assert plant(db, "ehr-a", (tmp_path / "a.csv").as_uri(), mapping="mediboard").ok
    before = {(r["canary_id"], r["target"]): r["planted_at"] for r in list_plantings(db)}

    report = rotate(db, "ehr-a", 3, FixtureGenerator(), seed=7)
    assert report.ok and report.generation == 2 and len(report.canaries) == 3
    rows = list_plantings(db, system="ehr-a")
    old = [r for r in rows if r["generation"] == 1]
    new = [r for r in rows if r["generation"] == 2]
    assert len(old) == 4 and all(r["state"] == "retired" and r["retired_at"] for r in old)
    assert all(r["planted_at"] == before[(r["canary_id"], r["target"])] for r in old)
    assert len(new) == 6 and all(r["state"] == "planted" and r["planted_at"] for r in new)
    assert mllp_peer.events() == ["A28", "A28", "A28", "A28", "A28", "A31", "A31"]
    header, *lines = (tmp_path / "a.csv").read_text().splitlines()
    assert header.startswith("_IPP;nom;") and len(lines) == 3
    status = dict(db.execute("SELECT id, status FROM canaries").fetchall())
    assert all(status[c["id"]] == "retired" for c in first)
    assert all(status[c] == "active" for c in report.canaries)


def test_rotate_keeps_the_old_generation_where_the_new_one_failed(db, add_hand_canaries, mllp_peer):
    add_hand_canaries("ehr-a", count=1)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    mllp_peer.decide = lambda message: "AE"
    report = rotate(db, "ehr-a", 1, FixtureGenerator())
    assert not report.ok and report.kept == [mllp_peer.address]
    states = {r["generation"]: r["state"] for r in list_plantings(db)}
    assert states == {1: "planted", 2: "failed"}


def test_rotate_needs_something_planted(db, add_hand_canaries):
    add_hand_canaries("ehr-a", count=1)
    with pytest.raises(CanaryError, match="nothing of system"):
        rotate(db, "ehr-a", 1, FixtureGenerator())
    assert db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0] == 1


def test_rotate_after_a_rotation_stopped_half_way_completes_it(db, add_hand_canaries, tmp_path, mllp_peer):
    first = add_hand_canaries("ehr-a", count=2)
    assert plant(db, "ehr-a", mllp_peer.url).ok
    # An earlier rotation created generation 2 and stopped before planting it.
    created = seed_system(db, "ehr-a", 2, FixtureGenerator(), generation=2)
    report = rotate(db, "ehr-a", 5, FixtureGenerator(900))
    assert report.resumed and report.ok and sorted(report.canaries) == sorted(c["id"] for c in created)
    assert db.execute("SELECT COUNT(*) FROM canaries").fetchone()[0] == 4  # nothing new generated
    states = {(r["generation"], r["state"]) for r in list_plantings(db)}
    assert states == {(1, "retired"), (2, "planted")}
    assert {c["id"] for c in first} == {r[0] for r in db.execute("SELECT id FROM canaries WHERE status='retired'")}
    # Once complete, the next rotation generates again.
    assert not rotate(db, "ehr-a", 1, FixtureGenerator(950)).resumed
