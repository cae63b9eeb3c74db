"""The typed shapes say what the code really hands around: a seeded canary, a canary read back, an event
row and an alert (page, notice, test) have exactly the keys and value types their TypedDict declares."""

from __future__ import annotations

import types
from datetime import date
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

import pytest

from canary.alert.correlate import correlate_all
from canary.alert.model import alert_rows, get_alert, list_alerts
from canary.alert.notices import notice_payload
from canary.alert.sample_alert import sample_alert
from canary.alert.shapes import Alert, AlertRow, NoticePayload
from canary.generate.patient import PatientGenerator, Pools
from canary.generate.reference import Reference
from canary.generate.seeding import seed_system
from canary.settings import set_setting
from canary.store.events import list_events, record_event
from canary.store.registry import add_system, get_canary, list_canaries
from canary.store.shapes import CanaryRecord, EventRow


def problems(value: Any, hint: Any, where: str = "") -> list[str]:
    """What in ``value`` breaks ``hint`` (a TypedDict, list[...], X | None, a class), one line each."""
    if hint is Any:
        return []
    if is_typeddict(hint):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {value!r}"]
        hints = get_type_hints(hint)
        out = [f"{where}.{key}: missing" for key in sorted(hint.__required_keys__ - value.keys())]
        out += [f"{where}.{key}: not declared" for key in sorted(value.keys() - hints.keys())]
        for key in sorted(value.keys() & hints.keys()):
            out += problems(value[key], hints[key], f"{where}.{key}")
        return out
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        # A value that is not null is judged by the options that are not null: their problems say more.
        options = [problems(value, option, where) for option in get_args(hint)
                   if value is None or option is not type(None)]
        return [] if any(not found for found in options) else min(options, key=len)
    if origin is list:
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {value!r}"]
        element_hint = get_args(hint)[0]
        return [line for i, element in enumerate(value) for line in problems(element, element_hint, f"{where}[{i}]")]
    if origin is dict:
        return [] if isinstance(value, dict) else [f"{where}: expected an object, got {value!r}"]
    if hint is type(None):
        return [] if value is None else [f"{where}: expected null, got {value!r}"]
    if hint is int and isinstance(value, bool):
        return [f"{where}: expected an integer, got {value!r}"]
    return [] if isinstance(value, hint) else [f"{where}: expected {hint.__name__}, got {value!r}"]


def test_the_checker_sees_a_missing_an_extra_and_a_wrong_key():
    event: dict[str, Any] = {"id": 1, "time": "t", "recorded_at": "t", "channel": "http", "canary_id": None,
                             "system": None, "source": None, "severity": "low", "account": None, "action": None,
                             "details": {}}
    assert problems(event, EventRow) == []
    assert problems({**event, "id": "1"}, EventRow) == [".id: expected int, got '1'"]
    assert problems({k: v for k, v in event.items() if k != "details"} | {"extra": 1}, EventRow) == [
        ".details: missing", ".extra: not declared"]


@pytest.fixture(scope="module")
def generator() -> PatientGenerator:
    phones = tuple(f"+336123{i:05d}" for i in range(500)) + tuple(f"+33{zone}4567{i:04d}" for zone in "12345"
                                                                   for i in range(100))
    return PatientGenerator(Reference.load(), Pools(phones=phones, mail_domains=("messagerie-durand.fr",)))


def test_a_seeded_canary_and_the_same_read_back_are_canary_records(db, generator):
    set_setting(db, "tripwire.base_url", "https://portail-patient.example.fr")
    add_system(db, "ehr-shapes", "ehr", establishment="Hôpital des formes")
    seeded = seed_system(db, "ehr-shapes", 25, generator, seed=7, today=date(2026, 11, 28))
    for canary in seeded:
        assert problems(canary, CanaryRecord, canary["id"]) == []
        assert "token" in canary and "contact_points" not in canary
    for canary in list_canaries(db, system="ehr-shapes") + [get_canary(db, seeded[0]["id"])]:
        assert problems(canary, CanaryRecord, canary["id"]) == []
        assert canary["status"] == "active" and "token" not in canary  # the secret stays out of the record
    assert any(c["gp"] for c in seeded) and any(c["coverage"]["amc"] for c in seeded)  # nested shapes exercised


def test_events_and_alerts_have_their_declared_shapes(db, add_hand_canaries):
    (canary,) = add_hand_canaries(count=1)
    for source in ("203.0.113.5", "203.0.113.6"):
        record_event(db, channel="http", canary_id=canary["id"], source=source, severity="high", account="dr.x",
                     details={"group": "tripwire:http:from:203.0.113.5", "path": "/mon-espace"})
    events = list_events(db)
    assert len(events) == 2 and all(problems(event, EventRow) == [] for event in events)

    correlate_all(db)
    (row,) = alert_rows(db, "SELECT * FROM alerts")
    assert problems(row, AlertRow) == []
    (alert,) = list_alerts(db)
    assert problems(alert, Alert) == [] and alert["by_system"][0]["events"] == 2
    assert alert["window"] is not None and alert["window"]["systems"]["ehr-test"]["from"]  # its shape checked too
    assert problems(get_alert(db, alert["id"]), Alert) == []
    resolved = {**alert, "state": "resolved", "resolved_by": "astreinte", "resolved_at": alert["last_seen"]}
    notice = notice_payload(resolved, "resolved", "open")
    assert problems(notice, NoticePayload) == [] and notice["notice"]["from"] == "open"
    assert problems(sample_alert(), Alert) == []
