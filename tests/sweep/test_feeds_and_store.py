"""URLs on a real local HTTP server, feeds (unreachable then reachable), schedules, catch-up, storage."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from canary.errors import CanaryError
from canary.store.events import list_events
from canary.watch.sweep.feeds import add_feed, due_feeds, get_feed, run_feed, run_sweep
from canary.watch.sweep.findings import store_findings, sweep_findings
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.schedule import is_due, parse_schedule
from canary.watch.sweep.services import FeedScheduler
from tests.support.ports import free_port
from tests.support.sweep import ROWS, found, serve_folder
from tests.support.wait import wait_for


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "paste.txt").write_text(ROWS, encoding="utf-8")
    server = serve_folder(folder)
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_url_scan_over_http(run_scan, site):
    _, base = site
    report = run_scan(f"{base}/paste.txt", f"{base}/missing.txt")
    assert set(found(report)) == {"sw0000", "sw0001", "sw0003"}
    assert {f.file for f in report.findings} == {f"{base}/paste.txt"}
    assert report.skipped == [{"file": f"{base}/missing.txt", "reason": "unreachable: HTTP 404"}]


def test_download_cap(run_scan, site):
    _, base = site
    report = run_scan(f"{base}/paste.txt", limits=Limits(max_download_bytes=10))
    assert report.findings == [] and "max_download_bytes" in report.skipped[0]["reason"]


def test_feed_of_json_url_list_unreachable_then_reachable(db, sweep_canaries, tmp_path):
    folder = tmp_path / "feedsite"
    folder.mkdir()
    port = free_port()
    (folder / "a.txt").write_text(ROWS, encoding="utf-8")
    (folder / "list.json").write_text(json.dumps([f"http://127.0.0.1:{port}/a.txt"]), encoding="utf-8")
    add_feed(db, "cert", f"http://127.0.0.1:{port}/list.json", "mon 03:00")

    outcome = run_feed(db, "cert")  # nothing listens yet
    assert outcome["status"] == "failed" and "unreachable" in outcome["error"]
    feed = get_feed(db, "cert")
    assert feed["last_success_at"] is None and feed["last_status"] == "failed"
    assert due_feeds(db) == ["cert"]  # retried at the next run

    server = serve_folder(folder, port)
    try:
        outcome = run_feed(db, "cert")
    finally:
        server.shutdown()
        server.server_close()
    assert outcome["status"] == "ok" and outcome["findings"] == 3
    assert get_feed(db, "cert")["last_success_at"] is not None
    assert due_feeds(db) == []
    rows = sweep_findings(db, outcome["sweep_id"])
    assert {r["file"] for r in rows} == {f"http://127.0.0.1:{port}/a.txt"}


def test_folder_and_glob_feeds(db, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    (drops / "sub").mkdir(parents=True)
    (drops / "sub" / "x.csv").write_text(ROWS, encoding="utf-8")
    (drops / "y.log").write_text("rien\n", encoding="utf-8")
    add_feed(db, "forum", str(drops))
    add_feed(db, "logs", str(drops / "**" / "*.log"), "daily")
    assert run_feed(db, "forum")["findings"] == 3
    assert run_feed(db, "logs") == {"feed": "logs", "sweep_id": 2, "status": "ok", "findings": 0, "new_events": 0,
                                    "error": None,
                                    "files": 1, "skipped": 0}
    with pytest.raises(CanaryError):
        add_feed(db, "forum", str(drops))
    with pytest.raises(CanaryError):
        add_feed(db, "bad", str(drops), "sometimes")
    with pytest.raises(CanaryError):
        add_feed(db, "gone", str(tmp_path / "nowhere"))


def test_a_missing_folder_fails_the_feed_without_raising(db, sweep_canaries, tmp_path):
    drops = tmp_path / "later"
    drops.mkdir()
    add_feed(db, "later", str(drops))
    drops.rmdir()
    outcome = run_feed(db, "later")
    assert outcome["status"] == "failed" and "no such file" in outcome["error"]


def test_findings_become_grouped_events_once(db, sweep_canaries, tmp_path):
    path = tmp_path / "dump.csv"
    path.write_text(ROWS, encoding="utf-8")
    sweep_id, report = run_sweep(db, [str(path)])
    events = list_events(db, channel="leak")
    assert len(events) == 3
    by_canary = {e["canary_id"]: e for e in events}
    assert by_canary["sw0000"]["severity"] == "critical"  # a phone: a strong marker
    assert by_canary["sw0001"]["severity"] == "high"  # name + first name + birth date
    assert by_canary["sw0003"]["system"] == "lab-nord"
    details = by_canary["sw0001"]["details"]
    assert details["group"] == f"sweep:{sweep_id}" and details["file"] == str(path)
    assert details["fields"] == ["name", "first_name", "birth_date"] and details["confidence"] == "medium"
    assert by_canary["sw0001"]["source"] == str(path)

    assert store_findings(db, sweep_id, report.findings) == 0  # the same sweep again: nothing new
    assert len(list_events(db, channel="leak")) == 3
    assert len(sweep_findings(db, sweep_id)) == 3
    run_sweep(db, [str(path)])  # a new sweep is a new sighting
    assert len(list_events(db, channel="leak")) == 6


def test_schedules():
    assert parse_schedule("weekly").period == timedelta(weeks=1)
    assert parse_schedule("Mon 03:00").cron == "0 3 * * mon"
    assert parse_schedule("daily 04:30").cron == "30 4 * * *"
    assert parse_schedule("0 3 * * 1").cron == "0 3 * * mon"  # cron's Monday, not APScheduler's Tuesday
    assert parse_schedule("*/15 * * * *").period == timedelta(minutes=15)
    fire = parse_schedule("0 3 * * 1").trigger().get_next_fire_time(None, datetime(2026, 11, 28, tzinfo=UTC))
    assert fire == datetime(2026, 11, 30, 3, 0, tzinfo=UTC) and fire.weekday() == 0
    for bad in ("monday", "mon 25:00", "0 3 * *", "99 * * * *"):
        with pytest.raises(CanaryError):
            parse_schedule(bad)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    weekly = parse_schedule("weekly")
    assert is_due(None, weekly, now)
    assert is_due("2026-11-20T12:00:00.000Z", weekly, now)
    assert not is_due("2026-11-25T12:00:00.000Z", weekly, now)


def test_catch_up_after_downtime(db, db_path, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "x.csv").write_text(ROWS, encoding="utf-8")
    for name in ("missed", "recent", "never"):
        add_feed(db, name, str(drops), "weekly")
    long_ago = (datetime.now(UTC) - timedelta(days=9)).isoformat()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    db.execute("UPDATE sweep_feeds SET last_success_at = ? WHERE name = 'missed'", [long_ago])
    db.execute("UPDATE sweep_feeds SET last_success_at = ? WHERE name = 'recent'", [yesterday])

    scheduler = BackgroundScheduler(timezone="UTC")
    service = FeedScheduler(db_path, scheduler)
    service.start()
    jobs = {job.id for job in scheduler.get_jobs()}
    assert {"sweep:feed:missed", "sweep:feed:recent", "sweep:feed:never", "sweep:sync"} <= jobs
    assert {"sweep:catchup:missed", "sweep:catchup:never"} <= jobs and "sweep:catchup:recent" not in jobs
    assert service.sync() == []  # seen feeds are not caught up again on every sync

    scheduler.start()
    try:
        wait_for(lambda: get_feed(db, "missed")["last_run_at"] and get_feed(db, "never")["last_run_at"],
                 timeout=20, interval=0.1, message="the missed and never-run feeds were not caught up")
    finally:
        scheduler.shutdown(wait=True)
        service.stop()
    assert get_feed(db, "missed")["last_status"] == "ok" and get_feed(db, "never")["last_status"] == "ok"
    assert get_feed(db, "recent")["last_run_at"] is None
    assert due_feeds(db) == []


def test_cli_scan_json_contract(cli, sweep_canaries, tmp_path):
    path = tmp_path / "dump.csv"
    path.write_text(ROWS, encoding="utf-8")
    result = cli("scan", str(path), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) == {"findings", "files", "bytes", "skipped", "status"}
    assert payload["files"] == 1 and payload["bytes"] == len(ROWS.encode())
    first = payload["findings"][0]
    assert {"canary_id", "system", "file", "fields", "confidence", "line", "offset", "evidence"} <= set(first)


def test_cli_feed_and_sweep(cli, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "x.csv").write_text(ROWS, encoding="utf-8")
    assert cli("feed", "add", "forum-drops", str(drops), "--schedule", "weekly").exit_code == 0
    listed = json.loads(cli("feed", "list", "--json").output)
    assert [f["name"] for f in listed] == ["forum-drops"] and listed[0]["schedule"] == "weekly"
    result = cli("sweep", "--feed", "forum-drops", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["findings"] == 3
    result = cli("sweep", "--feed", "nope")
    assert result.exit_code == 1 and "unknown feed" in result.output


def test_parallel_jobs_split_a_big_file_and_number_lines(db, sweep_canaries, tmp_path):
    path = tmp_path / "big.csv"
    filler = "".join(f"{i};DURAND;Paul;01/01/1950\n" for i in range(20000))
    path.write_text(filler + "BERNARD-MARTIN;Nathalie;18/06/1981\n" + filler + "06 12 34 56 78\n", encoding="utf-8")
    from canary.watch.sweep.index import build_index
    from canary.watch.sweep.scanner import scan

    single = scan(build_index(db), [str(path)], Limits(), jobs=1)
    parallel = scan(build_index(db), [str(path)], Limits(), jobs=2, split_min=64 * 1024)
    assert [(f.canary_id, f.line, f.offset) for f in parallel.findings] == \
        [(f.canary_id, f.line, f.offset) for f in single.findings]
    assert [f.line for f in single.findings] == [20001, 40002]
    assert parallel.bytes == single.bytes == path.stat().st_size and parallel.files == 1


@pytest.mark.skipif(sys.platform != "linux", reason="fork-based worker pool")
def test_subprocess_scan(db_path, sweep_canaries, tmp_path):
    import subprocess

    path = tmp_path / "dump.csv"
    path.write_text(ROWS, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db_path), "scan", str(path), "--jobs", "2"],
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "3 canari(s)" in done.stdout and "ehr-lyon" in done.stdout


def test_cli_sweep_exit_code_and_remove(cli, db, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    drops.mkdir()
    (tmp_path / "urls.json").write_text(json.dumps([f"http://127.0.0.1:{free_port()}/gone.csv"]), encoding="utf-8")
    assert cli("feed", "add", "local", str(drops)).exit_code == 0
    assert cli("feed", "add", "list-file", str(tmp_path / "urls.json"), "--schedule", "0 3 * * 1").exit_code == 0
    result = cli("sweep", "--json")
    assert result.exit_code == 1  # every feed ran, one failed
    outcomes = {o["feed"]: o for o in json.loads(result.output[: result.output.rindex("]") + 1])}
    assert outcomes["local"]["status"] == "ok"
    assert outcomes["list-file"]["status"] == "failed" and "unreachable" in outcomes["list-file"]["error"]
    assert cli("feed", "remove", "list-file").exit_code == 0
    assert [f["name"] for f in json.loads(cli("feed", "list", "--json").output)] == ["local"]


def test_daemon_mode_catches_up_and_stops_on_sigterm(db, db_path, sweep_canaries, tmp_path):
    import signal
    import subprocess

    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "x.csv").write_text(ROWS, encoding="utf-8")
    add_feed(db, "drops", str(drops))
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db_path), "sweep", "--daemon"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: get_feed(db, "drops")["last_status"] is not None or proc.poll() is not None,
                 timeout=30, interval=0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert get_feed(db, "drops")["last_status"] == "ok", err
    assert proc.returncode == 0, err
    assert len(list_events(db, channel="leak")) == 3


def test_an_unchanged_feed_file_swept_twice_is_recorded_once(cli, db, sweep_canaries, tmp_path):
    drops = tmp_path / "drops"
    drops.mkdir()
    (drops / "x.csv").write_text(ROWS, encoding="utf-8")
    assert cli("feed", "add", "forum-drops", str(drops)).exit_code == 0
    first = json.loads(cli("sweep", "--feed", "forum-drops", "--json").output)[0]
    again = json.loads(cli("sweep", "--feed", "forum-drops", "--json").output)[0]
    assert first["findings"] == again["findings"] == 3  # the sweep still says what it saw
    assert (first["new_events"], again["new_events"]) == (3, 0)
    events = list_events(db, channel="leak")
    assert len(events) == 3
    # the second sweep's findings point at the events the first one recorded
    assert {r["event_id"] for r in sweep_findings(db, again["sweep_id"])} == {e["id"] for e in events}
    # the file changes (the rows moved down a line): a new sighting is recorded
    (drops / "x.csv").write_text("ligne ajoutée\n" + ROWS, encoding="utf-8")
    third = json.loads(cli("sweep", "--feed", "forum-drops", "--json").output)[0]
    assert third["new_events"] == 3 and len(list_events(db, channel="leak")) == 6
