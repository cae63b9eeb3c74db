"""Trickle planting (plant --over): arrivals spread in IPP order, planted by serve's runner when due, once each,
across a restart of serve; a --over too short is one line with nothing written."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from canary.durations import parse_duration
from canary.errors import CanaryError
from canary.generate.seeding import derive_token
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant
from canary.plant.rotation import rotate
from canary.plant.schedule import SCHEDULE_KEYS, status
from canary.plant.services import TrickleRunner
from canary.plant.timing import arrival_times
from canary.plant.trickle import run_due, schedule_plant
from canary.store import open_db
from canary.store.registry import add_canaries, add_system, save_host_profile
from tests.support.records import make_record
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
# Inserted out of IPP order: the schedule must sort them.
SHUFFLED = [5, 2, 9, 0, 7, 3]


@pytest.fixture(autouse=True)
def short_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two seconds between arrivals (the least the setting allows), so catching up stays quick."""
    monkeypatch.setenv("CANARY_PLANT_TRICKLE_MIN_SPACING", "2")


def stamps(peer) -> list[str]:
    """MSH-7 of every message the peer received, to the second."""
    return [str(m.segment("MSH")(7))[:14] for m in peer.messages]


def add_shuffled(db, system: str = "ehr-a", numbers: list[int] = SHUFFLED, generation: int = 1) -> list[dict]:
    if not db.execute("SELECT 1 FROM systems WHERE name = ?", [system]).fetchone():
        add_system(db, system, "ehr", establishment="Hôpital de test")
    canaries = [{"id": f"t{n:04d}", "system": system, "generation": generation, "created_at": "2026-01-01T00:00:00Z",
                 "token": derive_token("k", f"t{n:04d}"), **make_record(n)} for n in numbers]
    add_canaries(db, canaries)
    return canaries


def schedule_rows(db) -> list[dict[str, Any]]:
    return list(db.query("SELECT s.*, c.record FROM plant_schedule s JOIN canaries c ON c.id = s.canary_id "
                         "ORDER BY s.due_at"))


def ipp_of(row: dict[str, Any]) -> str:
    return json.loads(row["record"])["ipp"]


def test_plant_over_spreads_a_generation_in_ipp_order_and_plants_nothing_now(cli, db, mllp_peer):
    add_shuffled(db)
    result = cli("plant", "ehr-a", "--to", mllp_peer.url, "--over", "30d", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["target"] == mllp_peer.address and len(report["scheduled"]) == len(SHUFFLED)
    rows = schedule_rows(db)
    times = [row["due_at"] for row in rows]
    # Strictly increasing with the IPP: the earliest arrival has the lowest number, as the host hands them out.
    assert [ipp_of(row) for row in rows] == sorted(ipp_of(row) for row in rows)
    assert times == sorted(set(times)) and len(set(times)) == len(SHUFFLED)
    first, last = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (times[0], times[-1]))
    assert last - first > timedelta(days=10)  # spread over the window, not a block
    assert report["first_at"] == times[0] and report["last_at"] == times[-1]
    assert mllp_peer.messages == [] and list_plantings(db) == []
    table = cli("plants", "--schedule").output
    assert "SCHEDULED" in table and mllp_peer.address in table
    listed = json.loads(cli("plants", "--schedule", "--json").output)
    assert len(listed) == 1 and set(listed[0]) == set(SCHEDULE_KEYS)
    assert listed[0]["scheduled"] == len(SHUFFLED) and listed[0]["planted"] == 0
    assert listed[0]["next_at"] == times[0] and listed[0]["state"] == "running"
    # Scheduling the same canaries twice is refused.
    again = cli("plant", "ehr-a", "--to", mllp_peer.url, "--over", "30d")
    assert again.exit_code == 1 and "already scheduled" in again.output


def test_arrivals_keep_the_spacing_and_follow_working_hours():
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)  # a Monday
    times = arrival_times(start, timedelta(days=28), 400, random.Random(3), min_spacing=60)
    assert all(b - a >= timedelta(seconds=60) for a, b in zip(times, times[1:], strict=False))
    assert start <= times[0] and times[-1] <= start + timedelta(days=28)
    from canary.plant.timing import PARIS
    office = sum(1 for t in times if 8 <= t.astimezone(PARIS).hour < 18 and t.astimezone(PARIS).weekday() < 5)
    night = sum(1 for t in times if t.astimezone(PARIS).hour < 6)
    assert office > 0.6 * len(times) and night < 0.05 * len(times)


@pytest.mark.parametrize("over, expected", [("5s", "too short for 6 canaries"), ("0d", "invalid duration"),
                                            ("soon", "invalid duration")])
def test_over_too_short_or_unreadable_is_one_line_nothing_written(cli, db, mllp_peer, over, expected):
    add_shuffled(db)
    result = cli("plant", "ehr-a", "--to", mllp_peer.url, "--over", over)
    assert result.exit_code == 1 and expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert db.execute("SELECT COUNT(*) FROM plant_trickles").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM plant_schedule").fetchone()[0] == 0
    assert list_plantings(db) == [] and mllp_peer.messages == []


def test_more_canaries_than_the_host_admits_is_refused(cli, db, mllp_peer):
    add_shuffled(db)
    save_host_profile(db, "ehr-a", {"patients": 5000, "ipp_time": {"new_patients_per_day": 0.5}})
    result = cli("plant", "ehr-a", "--to", mllp_peer.url, "--over", "10d")
    assert result.exit_code == 1 and "admits about 0.5 new patients a day" in result.output
    assert db.execute("SELECT COUNT(*) FROM plant_schedule").fetchone()[0] == 0
    assert cli("plant", "ehr-a", "--to", mllp_peer.url, "--over", "12d").exit_code == 0


def test_the_runner_plants_what_is_due_in_ipp_order_once(db, db_path, mllp_peer):
    add_shuffled(db)
    # Every arrival fell due while no runner was up: the runner plants them all when it starts.
    schedule_plant(db, "ehr-a", mllp_peer.url, timedelta(hours=6), start=datetime.now(UTC) - timedelta(hours=7))
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start()
    runner = TrickleRunner(db_path, scheduler)
    try:
        runner.start()
        wait_for(lambda: len(mllp_peer.messages) == len(SHUFFLED), timeout=30)
        wait_for(lambda: status(db)[0]["state"] == "done", timeout=30)
    finally:
        runner.stop()
        scheduler.shutdown(wait=False)
    ipps = [str(pid(3)(1)(1)) for pid in mllp_peer.pids()]
    assert ipps == sorted(ipps) and len(set(ipps)) == len(SHUFFLED)
    assert mllp_peer.events() == ["A28"] * len(SHUFFLED)
    # Due together (missed while no runner was up), they still arrive apart, never in one second.
    assert len(set(stamps(mllp_peer))) == len(SHUFFLED)
    assert {row["state"] for row in list_plantings(db)} == {"planted"}
    assert status(db)[0]["planted"] == len(SHUFFLED) and status(db)[0]["next_at"] is None
    # Nothing left to do: a second pass plants nothing.
    assert run_due(db) == []


def test_two_runners_at_once_plant_each_arrival_once(db, db_path, mllp_peer):
    import threading

    add_shuffled(db, numbers=list(range(8)))
    schedule_plant(db, "ehr-a", mllp_peer.url, timedelta(hours=1), start=datetime.now(UTC) - timedelta(hours=2))

    def runner() -> None:
        mine = open_db(db_path)
        try:
            while db.execute("SELECT COUNT(*) FROM plant_schedule WHERE state IN ('scheduled', 'claimed')"
                             ).fetchone()[0]:
                run_due(mine)
        finally:
            mine.close()

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ipps = [str(pid(3)(1)(1)) for pid in mllp_peer.pids()]
    assert sorted(ipps) == sorted({make_record(n)["ipp"] for n in range(8)})  # each once
    assert mllp_peer.events().count("A28") == 8


def test_a_plain_plant_leaves_scheduled_canaries_to_their_trickle(db, mllp_peer):
    add_shuffled(db)
    schedule_plant(db, "ehr-a", mllp_peer.url, parse_duration("30d"))
    add_shuffled(db, numbers=[20, 21])
    report = plant(db, "ehr-a", mllp_peer.url)
    assert report.ok and sorted(report.planted) == ["t0020", "t0021"] and report.scheduled == len(SHUFFLED)
    assert report.as_dict()["scheduled"] == len(SHUFFLED)


class RecordGenerator:
    """The seeding protocol filled with fixture-shaped records (numbers far from the test's)."""

    def __init__(self, start: int = 500) -> None:
        self.next = start

    def generate(self, rng, *, today, taken):
        self.next -= 1  # decreasing: the schedule must still sort the new generation by IPP
        return make_record(self.next)


def test_rotate_over_trickles_the_new_generation_then_retires_the_old(db, mllp_peer):
    add_shuffled(db, numbers=[1, 2])
    assert plant(db, "ehr-a", mllp_peer.url).ok
    with pytest.raises(CanaryError, match="too short"):
        rotate(db, "ehr-a", 3, RecordGenerator(), over=timedelta(seconds=3))
    assert db.execute("SELECT MAX(generation) FROM canaries").fetchone()[0] == 1  # nothing generated
    report = rotate(db, "ehr-a", 3, RecordGenerator(), over=timedelta(days=2))
    assert report.generation == 2 and len(report.trickles) == 1 and report.plants == []
    with pytest.raises(CanaryError, match="still under way"):
        rotate(db, "ehr-a", 3, RecordGenerator())
    # The old generation stays until the new one is all there.
    later = lambda: datetime.now(UTC) + timedelta(days=3)  # noqa: E731
    # The runner stops right after the last arrival (serve stopped): the ending is left for the next check.
    done = run_due(db, clock=later, stopping=lambda: len(mllp_peer.messages) >= 5)
    assert [a.state for a in done] == ["planted"] * 3
    assert status(db)[0]["state"] == "running" and mllp_peer.events().count("A31") == 0
    assert run_due(db, clock=later) == []
    states = {r["canary_id"]: r["state"] for r in list_plantings(db)}
    assert states["t0001"] == states["t0002"] == "retired"
    assert mllp_peer.events() == ["A28", "A28", "A28", "A28", "A28", "A31", "A31"]
    assert "2 previous retired" in status(db)[0]["outcome"]


def _serve(db_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CANARY_PLANT_TIMEOUT": "60", "CANARY_PLANT_SEND_SPACING": "0",
           "CANARY_PLANT_TRICKLE_CHECK_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0",
                             "--callback-port", "0", "--role", "scheduler", "--no-sweeps"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def test_serve_killed_mid_send_and_restarted_plants_nothing_twice(db, db_path, mllp_peer):
    add_shuffled(db)
    schedule_plant(db, "ehr-a", mllp_peer.url, timedelta(hours=1), start=datetime.now(UTC) - timedelta(hours=2))
    # The peer takes the second message and never answers it: serve is killed while it waits.
    mllp_peer.decide = lambda message: "silent" if len(mllp_peer.messages) == 2 else "AA"
    first = _serve(db_path)
    try:
        wait_for(lambda: len(mllp_peer.messages) == 2, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert db.execute("SELECT COUNT(*) FROM plant_schedule WHERE state = 'claimed'").fetchone()[0] == 1
    mllp_peer.decide = lambda message: "AA"
    second = _serve(db_path)
    try:
        wait_for(lambda: status(db)[0]["state"] == "done", timeout=60)
    finally:
        second.terminate()
        second.wait(20)
    ipps = [str(pid(3)(1)(1)) for pid in mllp_peer.pids()]
    events = mllp_peer.events()
    creates = [ipp for ipp, event in zip(ipps, events, strict=True) if event == "A28"]
    # One create per canary; the one whose answer never came is sent again as an update (A31), not created twice.
    assert sorted(creates) == sorted(set(creates)) and len(creates) == len(SHUFFLED)
    assert events.count("A31") == 1 and ipps[2] == ipps[1]
    assert creates == sorted(creates)  # still in IPP order across the restart
    assert len(set(stamps(mllp_peer))) == len(stamps(mllp_peer))
    assert {row["state"] for row in list_plantings(db)} == {"planted"}
    assert status(db)[0]["planted"] == len(SHUFFLED)


def test_serve_runs_the_trickle_under_the_one_scheduler_lease(db_path):
    """Sweep feeds and the trickle runner share the scheduler role: one lease, both services under it (two
    holders of one role in one process would take the lease from each other)."""
    from canary.serve import ServeContext
    from canary.web.runner import LeasedServices, build_services

    open_db(db_path).close()
    built = build_services(ServeContext(db_path), {"roles": frozenset({"scheduler"})})
    leased = [s for s in built if isinstance(s, LeasedServices)]
    assert [s.role for s in leased] == ["scheduler"]
    assert {type(s).__name__ for s in leased[0].factory()} == {"TrickleRunner", "FeedScheduler"}
