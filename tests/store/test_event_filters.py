"""Filters that match nothing must not read as quiet: bad --since, unknown systems and channels are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from canary.store.events import record_event
from canary.store.registry import add_system


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def events_db(db, add_hand_canaries):
    canaries = add_hand_canaries("ehr-a", 2)
    add_system(db, "lab-b", "lab")
    now = datetime.now(UTC)
    for days, canary, channel in ((10, 0, "http"), (3, 1, "dns"), (0, 0, "leak")):
        record_event(db, channel=channel, canary_id=canaries[canary]["id"], severity="high",
                     time=_iso(now - timedelta(days=days, minutes=5)), details={"group": f"g{days}"})
    return db


@pytest.mark.parametrize("since", ["yesterday", "2026-13-45", "7 jours", "-1d"])
def test_bad_since_is_refused(cli, events_db, since):
    result = cli("events", f"--since={since}")
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: invalid --since {since!r}") and "24h" in line


def test_relative_and_iso_since(cli, events_db):
    def channels(*args):
        return [e["channel"] for e in json.loads(cli("events", "--json", *args).output)]

    assert channels("--since", "24h") == ["leak"]
    assert channels("--since", "7d") == ["dns", "leak"]
    assert channels("--since", "2w") == ["http", "dns", "leak"]
    day = (datetime.now(UTC) - timedelta(days=4)).date().isoformat()
    assert channels("--since", day) == ["dns", "leak"]
    assert channels("--since", f"{day}T00:00:00+02:00") == ["dns", "leak"]


def test_unknown_system_and_channel_are_refused(cli, events_db):
    unknown_system = cli("events", "--system", "nope")
    assert unknown_system.exit_code == 1
    assert unknown_system.output.strip() == "error: unknown system 'nope'; see 'canary system list'"
    bogus = cli("events", "--channel", "bogus")
    assert bogus.exit_code == 1
    (line,) = bogus.output.strip().splitlines()
    assert line.startswith("error: unknown channel 'bogus'") and "http" in line and "access-log" in line
    # a known system or channel with nothing yet is a real "nothing"
    assert cli("events", "--system", "lab-b").exit_code == 0
    assert cli("events", "--channel", "smtp").exit_code == 0


def test_events_limit_keeps_the_newest(cli, events_db):
    rows = json.loads(cli("events", "--json", "--limit", "2").output)
    assert [e["channel"] for e in rows] == ["dns", "leak"]


def test_alerts_by_system_and_since(cli, events_db, db):
    all_alerts = json.loads(cli("alerts", "--json").output)
    assert len(all_alerts) == 3
    assert len(json.loads(cli("alerts", "--json", "--since", "7d").output)) == 2
    assert len(json.loads(cli("alerts", "--json", "--system", "ehr-a").output)) == 3
    assert json.loads(cli("alerts", "--json", "--system", "lab-b").output) == []
    assert cli("alerts", "--system", "nope").exit_code == 1
    assert cli("alerts", "--since", "yesterday").exit_code == 1
