"""The theft window: between the planting of the newest generation found and the next one, absent."""

from __future__ import annotations

from canary.alert.correlate import correlate_all
from canary.alert.model import list_alerts
from tests.support.peers.alert_receiver import hit


def _set_created(db, canaries, when):
    for canary in canaries:
        db.execute("UPDATE canaries SET created_at = ? WHERE id = ?", [when, canary["id"]])


def _plant(db, canary, when, state="planted"):
    """A row as the planting domain writes it (its table, or a minimal one when that domain is absent)."""
    if not db["plantings"].exists():
        db.execute("CREATE TABLE plantings (id INTEGER PRIMARY KEY, canary_id TEXT NOT NULL, system TEXT NOT NULL, "
                   "state TEXT NOT NULL, planted_at TEXT)")
    row = {"canary_id": canary["id"], "system": canary["system"], "state": state, "planted_at": when}
    since = when or "2026-01-01T00:00:00Z"  # a planting that never succeeded was still planned at some time
    defaults = {"channel": "file", "target": f"t-{canary['id']}", "planned_at": since, "updated_at": since}
    columns = {c.name for c in db["plantings"].columns}
    row.update({k: v for k, v in defaults.items() if k in columns})
    db["plantings"].insert(row)


def test_dump_holding_gen5_but_not_gen6_was_taken_between_their_plantings(db, add_hand_canaries):
    gen5 = add_hand_canaries("ehr-a", 3, generation=5)
    gen6 = add_hand_canaries("ehr-a", 3, generation=6)
    gen7 = add_hand_canaries("ehr-a", 2, generation=7)
    _set_created(db, gen5, "2026-01-05T08:00:00Z")
    _set_created(db, gen6, "2026-02-05T08:00:00Z")
    _set_created(db, gen7, "2026-06-01T08:00:00Z")  # planted after the dump was found: proves nothing
    for canary in gen5[:2]:
        hit(db, canary["id"], channel="leak", severity="critical", group="sweep:3",
            time="2026-03-10T12:00:00.000Z")
    correlate_all(db)
    window = list_alerts(db)[0]["window"]
    assert (window["from"], window["to"], window["basis"]) == ("2026-01-05T08:00:00Z", "2026-02-05T08:00:00Z",
                                                              "canaries.created_at")
    per_system = window["systems"]["ehr-a"]
    assert (per_system["generation_found"], per_system["generation_absent"]) == (5, 6)
    assert "taken between 2026-01-05 09:00 and 2026-02-05 09:00" in list_alerts(db)[0]["text"]["en"]  # Paris time


def test_plantings_table_dates_win_over_creation_dates(db, add_hand_canaries):
    gen1 = add_hand_canaries("lab-b", 2, generation=1)
    gen2 = add_hand_canaries("lab-b", 2, generation=2)
    unplanted = add_hand_canaries("lab-b", 1, generation=3)  # created but never planted: cannot bound
    _set_created(db, unplanted, "2026-02-01T00:00:00Z")
    for canary in gen1:
        _plant(db, canary, "2026-01-10T09:00:00+00:00")
    for canary in gen2:
        _plant(db, canary, "2026-02-20T09:00:00+00:00")
    _plant(db, unplanted[0], None, state="failed")
    for canary in gen1 + gen2:
        hit(db, canary["id"], channel="leak", severity="critical", group="sweep:4", time="2026-04-01T00:00:00Z")
    correlate_all(db)
    window = list_alerts(db)[0]["window"]
    assert (window["from"], window["to"], window["basis"]) == ("2026-02-20T09:00:00Z", None, "plantings")


def test_dump_across_systems_intersects_their_windows(db, add_hand_canaries):
    a1, a2 = add_hand_canaries("ehr-a", 1, generation=1), add_hand_canaries("ehr-a", 1, generation=2)
    b1, b2 = add_hand_canaries("lab-b", 1, generation=1), add_hand_canaries("lab-b", 1, generation=2)
    _set_created(db, a1, "2026-01-01T00:00:00Z")
    _set_created(db, a2, "2026-03-01T00:00:00Z")
    _set_created(db, b1, "2026-02-01T00:00:00Z")
    _set_created(db, b2, "2026-04-01T00:00:00Z")
    for canary in a1 + b1:
        hit(db, canary["id"], channel="leak", severity="critical", group="sweep:5", time="2026-05-01T00:00:00Z")
    correlate_all(db)
    window = list_alerts(db)[0]["window"]
    assert (window["from"], window["to"]) == ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z")
    assert set(window["systems"]) == {"ehr-a", "lab-b"}


def test_a_single_hit_bounds_only_the_start(db, add_hand_canaries):
    old, new = add_hand_canaries("ehr-a", 1, generation=1), add_hand_canaries("ehr-a", 1, generation=2)
    _set_created(db, old, "2026-01-01T00:00:00Z")
    _set_created(db, new, "2026-02-01T00:00:00Z")
    hit(db, old[0]["id"], channel="http", time="2026-03-01T00:00:00Z")
    correlate_all(db)
    window = list_alerts(db)[0]["window"]
    assert (window["from"], window["to"]) == ("2026-01-01T00:00:00Z", None)


def test_a_sighting_before_any_planting_dates_from_creation(db, add_hand_canaries):
    """A value seen before it was planted left from the registry side: the window opens at creation."""
    (canary,) = add_hand_canaries("ehr-c", 1)
    _set_created(db, [canary], "2026-03-01T08:00:00Z")
    _plant(db, canary, "2026-03-20T08:00:00+00:00")
    hit(db, canary["id"], channel="http", severity="high", time="2026-03-10T12:00:00.000Z")
    correlate_all(db)
    window = list_alerts(db)[0]["window"]
    assert window["from"] == "2026-03-01T08:00:00Z"
    assert window["systems"]["ehr-c"]["basis"] == "canaries.created_at (before planting)"
