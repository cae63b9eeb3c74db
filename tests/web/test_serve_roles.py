"""``canary serve --role``: processes of different roles on one registry; the delivery lease moves on a death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canary.alert.destinations import add_destination
from canary.serve import parse_roles
from canary.settings import set_setting
from canary.store import open_db
from canary.store.leases import Holder, acquire, current, release
from tests.support.peers.alert_receiver import Receiver, hit
from tests.support.processes import read_line
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _serve(db_path: Path, *roles: str) -> subprocess.Popen[str]:
    args = [a for role in roles for a in ("--role", role)]
    return subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0", "--callback-port", "0", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)


def _holder_pid(db, role: str) -> int | None:
    lease = current(db, role)
    return int(lease["pid"]) if lease else None  # type: ignore[call-overload]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.down()


def test_killing_the_delivery_holder_hands_over_nothing_lost_nothing_twice(db, db_path, add_hand_canaries,
                                                                          receiver) -> None:
    set_setting(db, "alert.allowed_target_cidrs", "127.0.0.1/32")
    set_setting(db, "alert.poll_seconds", "0.05")
    set_setting(db, "serve.lease_seconds", "3")
    add_destination(db, receiver.url)
    canaries = add_hand_canaries("ehr-a", 4)
    dmz = _serve(db_path, "callbacks", "delivery")  # the first to start takes the delivery lease
    inside = None
    try:
        wait_for(lambda: _holder_pid(db, "delivery") == dmz.pid, timeout=30)
        inside = _serve(db_path, "web", "logs", "delivery")
        hit(db, canaries[0]["id"], channel="leak", severity="critical", group="sweep:1")
        wait_for(lambda: len(receiver.received) == 1, timeout=30)
        # Delivery is at least once: a holder killed between the peer's answer and its own commit
        # sends again (same Idempotency-Key). What must never repeat is a delivery already recorded.
        wait_for(lambda: _outbox_states(db) == {"delivered": 1}, timeout=30)
        assert _holder_pid(db, "delivery") == dmz.pid  # the second process waits

        dmz.send_signal(signal.SIGKILL)
        dmz.wait(timeout=30)
        hit(db, canaries[1]["id"], channel="leak", severity="critical", group="sweep:2")
        hit(db, canaries[2]["id"], channel="leak", severity="critical", group="sweep:3")
        # Same host, dead pid: taken over at the next try (a third of the lease), not after expiry.
        wait_for(lambda: _holder_pid(db, "delivery") == inside.pid, timeout=30)
        wait_for(lambda: _outbox_states(db) == {"delivered": 3}, timeout=30)
        # A late duplicate would go out before a later alert: once that one is delivered, none is coming.
        hit(db, canaries[3]["id"], channel="leak", severity="critical", group="sweep:4")
        wait_for(lambda: _outbox_states(db) == {"delivered": 4} and len(receiver.received) >= 4, timeout=30)
    finally:
        for process in (dmz, inside):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.communicate(timeout=30)
    assert sorted(receiver.hits.values()) == [1, 1, 1, 1]  # each alert once
    assert db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 4
    assert inside.returncode == 0
    assert current(db, "delivery") is None  # released on a clean stop


def _outbox_states(db) -> dict[str, int]:
    return dict(db.execute("SELECT state, COUNT(*) FROM alert_outbox GROUP BY state").fetchall())


def test_a_role_given_twice_or_unknown_is_one_line(cli, db_path) -> None:
    result = cli("serve", "--port", "0", "--role", "dns", "--role", "dns")
    assert result.exit_code == 1 and result.output.strip() == "error: role 'dns' given twice"
    result = cli("serve", "--port", "0", "--role", "console")
    assert result.exit_code == 1 and "unknown role 'console'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_parse_roles_defaults_to_every_role() -> None:
    assert parse_roles(()) == frozenset({"web", "callbacks", "dns", "smtp", "logs", "scheduler", "delivery"})
    assert parse_roles(("smtp", "dns")) == frozenset({"smtp", "dns"})


def test_lease_rules_live_other_host_waits_for_expiry_dead_local_pid_at_once(db_path) -> None:
    db = open_db(db_path)
    try:
        me = Holder()
        other_host = Holder(host="dmz-1", pid=os.getpid())
        assert acquire(db, "scheduler", other_host, ttl=60)
        assert not acquire(db, "scheduler", me, ttl=60)  # another host, not expired: wait
        db.execute("UPDATE leases SET expires_at = 0 WHERE name = 'scheduler'")
        assert acquire(db, "scheduler", me, ttl=60)  # expired: taken over
        assert not acquire(db, "scheduler", other_host, ttl=60)

        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        gone = Holder(pid=dead.pid)
        release(db, "scheduler", me)
        assert acquire(db, "scheduler", gone, ttl=60)
        assert acquire(db, "scheduler", me, ttl=60)  # same host, its process is gone: at once
        assert current(db, "scheduler")["holder"] == me.id  # type: ignore[index]
    finally:
        db.close()


class Recorder:
    """A stand-in service of the test (not project code) that says whether it runs."""

    name = "recorder"

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def start(self) -> None:
        self.log.append("start")

    def stop(self) -> None:
        self.log.append("stop")


def test_a_lost_lease_stops_the_services_and_a_clean_stop_releases_it(db_path) -> None:
    from canary.web.runner import LeasedServices

    db = open_db(db_path)
    log: list[str] = []
    leased = LeasedServices(db_path, "scheduler", lambda: [Recorder(log)], lease_seconds=0.6)
    try:
        leased.start()
        wait_for(lambda: log == ["start"], timeout=10)
        # Another live holder takes the row (e.g. our host was paused past expiry): we must stop acting.
        db.execute("UPDATE leases SET holder = 'dmz-1:1:x', host = 'dmz-1', expires_at = ? WHERE name = 'scheduler'",
                   [time.time() + 60])
        db.conn.commit()
        wait_for(lambda: log == ["start", "stop"], timeout=10)
        assert not leased.held.is_set()
        db.execute("UPDATE leases SET expires_at = 0 WHERE name = 'scheduler'")  # that holder is gone
        db.conn.commit()
        wait_for(lambda: log == ["start", "stop", "start"], timeout=10)  # taken back, services rebuilt
    finally:
        leased.stop()
    assert log[-1] == "stop" and current(db, "scheduler") is None
    db.close()


@pytest.mark.parametrize("roles", [(), ("callbacks", "delivery")], ids=["console", "no-console"])
def test_a_stop_asked_during_start_up_is_a_clean_stop(db, db_path, roles) -> None:
    args = [arg for role in roles for arg in ("--role", role)]
    process = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--port", "0",
                                "--callback-port", "0", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    read_line(process.stderr)  # the first line of its start (services are starting): stop it now
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert current(db, "delivery") is None  # leases released on the way out
