"""``canary logs`` end to end through the real CLI, and what ``canary serve`` would start."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from canary.serve import ServeContext
from canary.watch.accesslog.fhir_poller import FhirPollService
from canary.watch.accesslog.services import services
from canary.watch.accesslog.sources import add_source, get_position, get_source
from canary.watch.accesslog.supervisor import AccessLogSupervisor
from canary.watch.accesslog.syslog import SyslogService
from canary.watch.accesslog.tailer import FileTailService
from tests.support.accesslog import SYSTEM, access_events, ipp, mediboard_line
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_add_list_remove_sources(cli, canaries, tmp_path: Path) -> None:
    result = cli("logs", "add", SYSTEM, "--from", "syslog://0.0.0.0:5514", "--format", "mediboard")
    assert result.exit_code == 0, result.output
    assert cli("logs", "add", "lab-sil", "--from", f"file://{tmp_path}/sil.log", "--format", "regex",
               "--pattern", r"(?P<user>\w+) (?P<patient>\d+)").exit_code == 0
    assert cli("logs", "add", SYSTEM, "--name", "ehr-fhir", "--from", "fhir-auditevent:https://fhir.example/fhir",
               "--every", "1m").exit_code == 0
    rows = json.loads(cli("logs", "list", "--json").output)
    assert [(r["name"], r["kind"], r["format"], r["every"]) for r in rows] == [
        ("ehr-fhir", "fhir", "fhir-auditevent", 60), (SYSTEM, "syslog", "mediboard", None),
        ("lab-sil", "file", "regex", None)]
    assert {"lines", "malformed", "matched", "events", "last_error"} <= set(rows[0])
    assert "MALFORMED" in cli("logs", "list").output
    assert cli("logs", "remove", "lab-sil").exit_code == 0
    assert len(json.loads(cli("logs", "list", "--json").output)) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "syslog://0.0.0.0:5514", "--format", "mediboard"], "already exists"),
    (["--from", "ftp://x/y", "--format", "mediboard"], "invalid --from"),
    (["--from", "syslog://0.0.0.0", "--format", "mediboard", "--name", "b"], "HOST:PORT"),
    (["--from", "file://relative.log", "--format", "mediboard", "--name", "c"], "file:///"),
    (["--from", "file:///var/log/x.log", "--name", "d"], "--format is required"),
    (["--from", "file:///var/log/x.log", "--format", "regex", "--name", "e"], "--pattern"),
    (["--from", "file:///var/log/x.log", "--format", "jsonl", "--field", "who=x", "--name", "f"], "--field"),
    (["--from", "file:///var/log/x.log", "--format", "jsonl", "--every", "1m", "--name", "g"], "--every"),
    (["--from", "fhir-auditevent:https://f/fhir", "--every", "soon", "--name", "h"], "--every"),
    (["--from", "syslog://0.0.0.0:5514", "--format", "csv", "--name", "i"], "port 5514"),
])
def test_bad_sources_are_refused_with_one_line(cli, canaries, args: list[str], message: str) -> None:
    assert cli("logs", "add", SYSTEM, "--from", "syslog://0.0.0.0:5514", "--format", "mediboard").exit_code == 0
    result = cli("logs", "add", SYSTEM, *args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(json.loads(cli("logs", "list", "--json").output)) == 1


def test_unknown_system_and_source(cli, canaries) -> None:
    result = cli("logs", "add", "nope", "--from", "syslog://0.0.0.0:5514", "--format", "mediboard")
    assert result.exit_code == 1 and "unknown system" in result.output
    result = cli("logs", "remove", "nope")
    assert result.exit_code == 1 and "unknown access-log source" in result.output


@pytest.mark.parametrize("opener", [gzip.open, bz2.open, lzma.open, open])
def test_replay_of_compressed_archives_is_idempotent(cli, db, canaries, tmp_path: Path, opener) -> None:
    assert cli("logs", "add", SYSTEM, "--from", "syslog://0.0.0.0:5514", "--format", "mediboard").exit_code == 0
    archive = tmp_path / "audit-2024-11.log.archive"
    with opener(archive, "wb") as handle:
        for i in range(4):
            handle.write((mediboard_line(ipp(canaries[i]), minute=i) + "\n").encode())
        handle.write(b"garbage\n" + mediboard_line("39999999").encode())  # last line without newline
    result = cli("logs", "replay", SYSTEM, str(archive), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"lines": 6, "malformed": 1, "matched": 4, "events": 4, "critical": 2,
                                         "last_malformed": "line_no 5: no key=value pair"}
    again = json.loads(cli("logs", "replay", SYSTEM, str(archive), "--json").output)
    assert again["events"] == 0
    events = json.loads(cli("events", "--json", "--channel", "access-log").output)
    assert [(e["account"], e["action"]) for e in events][0] == ("jdupont", "dPpatients.vw_full_patients")
    assert events[0]["details"]["line_no"] == 1 and events[0]["details"]["file"] == archive.name


def test_replay_errors(cli, canaries, tmp_path: Path) -> None:
    result = cli("logs", "replay", SYSTEM, str(tmp_path / "missing.log"), "--format", "mediboard")
    assert result.exit_code == 1 and "no such file" in result.output
    result = cli("logs", "replay", SYSTEM, str(tmp_path))
    assert result.exit_code == 1 and "give --format" in result.output
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress((mediboard_line(ipp(canaries[0])) + "\n").encode() * 50)[:-30])
    result = cli("logs", "replay", SYSTEM, str(broken), "--format", "mediboard")
    assert result.exit_code == 1 and "damaged or truncated" in result.output


def test_replay_with_a_regex_through_a_subprocess(db_path, db, canaries, tmp_path: Path) -> None:
    trail = tmp_path / "sil.log"
    trail.write_text(f"09:00 jdupont {ipp(canaries[5])}\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "canary", "--db", str(db_path), "logs", "replay", SYSTEM, str(trail), "--format",
         "regex", "--pattern", r"(?P<time>\S+) (?P<user>\w+) (?P<ipp>\d+)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "1 new events" in result.stdout


def test_allow_rules_commands(cli, canaries) -> None:
    result = cli("logs", "allow", "add", SYSTEM, "--account", "svc-backup", "--owner", "DSI", "--expires",
                 "2099-06-30", "--reason", "sauvegarde nocturne")
    assert result.exit_code == 0 and "until 2099-07-01T00:00:00.000Z" in result.output
    [rule] = json.loads(cli("logs", "allow", "list", "--json").output)
    assert (rule["account"], rule["owner"], rule["active"]) == ("svc-backup", "DSI", True)
    result = cli("logs", "allow", "add", SYSTEM, "--account", "x", "--owner", "o", "--expires", "2001-01-01",
                 "--reason", "r")
    assert result.exit_code == 1 and "past" in result.output
    assert cli("logs", "allow", "remove", str(rule["id"])).exit_code == 0
    assert "no allow-rule" in cli("logs", "allow", "list").output
    assert cli("logs", "allow", "remove", "99").exit_code == 1


def test_serve_supervises_one_service_per_source_and_follows_changes(cli, db_path, canaries,
                                                                    tmp_path: Path) -> None:
    cli("logs", "add", SYSTEM, "--from", "syslog://127.0.0.1:0", "--format", "mediboard")
    cli("logs", "add", SYSTEM, "--name", "f", "--from", f"file://{tmp_path}/a.log", "--format", "jsonl")
    ctx = ServeContext(db_path=db_path, scheduler=BackgroundScheduler())
    assert services(ctx, {"no_access_logs": True}) == []
    [supervisor] = services(ctx, {})
    assert isinstance(supervisor, AccessLogSupervisor)
    supervisor.start()
    try:
        syslog = supervisor.service(SYSTEM)
        assert isinstance(syslog, SyslogService) and syslog.udp_port and syslog.tcp_port
        assert isinstance(supervisor.service("f"), FileTailService)
        # Live changes: a new FHIR source starts, a removed file source stops.
        cli("logs", "add", SYSTEM, "--name", "h", "--from", "fhir-auditevent:http://127.0.0.1:9/fhir")
        cli("logs", "remove", "f")
        supervisor.sync()
        assert supervisor.service("f") is None
        fhir = supervisor.service("h")
        assert isinstance(fhir, FhirPollService) and ctx.scheduler.get_job(fhir.job_id)
    finally:
        supervisor.stop()
    assert supervisor.running == {}


def test_a_source_that_cannot_start_is_reported_and_does_not_stop_the_others(cli, db, db_path, canaries,
                                                                              tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        cli("logs", "add", SYSTEM, "--from", f"syslog+tcp://127.0.0.1:{port}", "--format", "mediboard")
        cli("logs", "add", SYSTEM, "--name", "f", "--from", f"file://{tmp_path}/a.log", "--format", "mediboard")
        supervisor = AccessLogSupervisor(db_path, BackgroundScheduler())
        supervisor.start()
        try:
            assert supervisor.service(SYSTEM) is None
            assert supervisor.service("f") is not None
            assert "cannot start" in get_source(db, SYSTEM)["last_error"]
        finally:
            supervisor.stop()


def test_serve_process_tails_a_file_into_events(db_path, db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    add_source(db, SYSTEM, f"file://{log}", "mediboard")
    process = subprocess.Popen(
        [sys.executable, "-m", "canary", "--db", str(db_path), "serve", "--host", "127.0.0.1", "--port", "0",
         "--callback-port", "0"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: (get_position(db, SYSTEM) or {}).get("inode"), timeout=30)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(mediboard_line(ipp(canaries[0])) + "\n")
        [event] = wait_for(lambda: access_events(db), timeout=15)
        assert event["canary_id"] == canaries[0]["id"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


def test_a_bad_setting_fails_the_start_visibly_not_a_thread(cli, db, db_path, canaries, tmp_path: Path) -> None:
    cli("logs", "add", SYSTEM, "--from", f"file://{tmp_path}/a.log", "--format", "mediboard")
    # `config set` refuses it now; a registry written by an older version may still hold it
    db.execute("INSERT INTO settings (key, value, updated_at) VALUES ('accesslog.timezone', '\"Mars/Olympus_Mons\"', "
               "'2026-01-01T00:00:00')")
    supervisor = AccessLogSupervisor(db_path, BackgroundScheduler())
    supervisor.start()
    try:
        assert supervisor.service(SYSTEM) is None
        assert "not a known time zone" in get_source(db, SYSTEM)["last_error"]
    finally:
        supervisor.stop()
