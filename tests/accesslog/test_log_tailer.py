"""Following a file: partial lines, rotation (rename + new file), truncation, restart at the
remembered offset without duplicates, and the running service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from canary.store import open_db
from canary.watch.accesslog.sources import add_source, get_position, get_source
from canary.watch.accesslog.tailer import FileFollower, FileTailService
from tests.support.accesslog import SYSTEM, access_events, ipp, mediboard_line
from tests.support.wait import wait_for


def append(path: Path, *lines: str, end: str = "\n") -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + end)


def test_new_lines_are_read_and_a_partial_line_waits_for_its_end(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, mediboard_line("39999999"), mediboard_line(ipp(canaries[0])))
    source = add_source(db, SYSTEM, f"file://{log}", "mediboard")
    follower = FileFollower(db, source)
    assert follower.poll() == 2
    assert len(access_events(db)) == 1
    line = mediboard_line(ipp(canaries[1]), minute=1)
    append(log, line[:30], end="")
    assert follower.poll() == 0
    append(log, line[30:])
    assert follower.poll() == 1
    events = access_events(db)
    assert [e["canary_id"] for e in events] == [canaries[0]["id"], canaries[1]["id"]]
    assert events[1]["details"]["offset"] == len(mediboard_line("39999999")) + len(mediboard_line(ipp(canaries[0]))) + 2
    assert events[1]["details"]["file"] == str(log)
    position = get_position(db, SYSTEM)
    assert position["offset"] == log.stat().st_size and position["inode"] == log.stat().st_ino
    follower.close()


def test_rotation_by_rename_reads_the_old_tail_then_the_new_file(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, mediboard_line(ipp(canaries[0])))
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    follower.poll()
    append(log, mediboard_line(ipp(canaries[1]), minute=1))
    append(log, mediboard_line(ipp(canaries[2]), user="late", minute=2), end="")  # never finished
    os.rename(log, tmp_path / "access.log.1")
    append(log, mediboard_line(ipp(canaries[3]), user="new", minute=3))
    follower.poll()
    assert [e["canary_id"] for e in access_events(db)] == [c["id"] for c in canaries[:4]]
    assert get_position(db, SYSTEM)["inode"] == log.stat().st_ino
    follower.close()


# An EHR process that keeps writing to its open descriptor after logrotate renamed the file (create),
# and opens the path again only when told (as after its postrotate reload).
_WRITER = r"""
import sys
path = sys.argv[1]
out = open(path, "a", buffering=1)
for line in sys.stdin:
    command, _, text = line.rstrip("\n").partition(" ")
    if command == "write":
        out.write(text + "\n")
    elif command == "reopen":
        out.close()
        out = open(path, "a", buffering=1)
    elif command == "close":
        out.close()
    print("ok", flush=True)
"""


class Writer:
    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def do(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def finish(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def test_rename_rotation_reads_what_the_writer_still_writes_to_the_renamed_file(
        db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = Writer(log)
    try:
        lines = [mediboard_line(ipp(canaries[i % 6]) if i % 10 == 0 else str(39000000 + i), user=f"u{i}")
                 for i in range(60)]
        for line in lines[:20]:
            writer.do(f"write {line}")
        follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
        assert follower.poll() == 20
        os.rename(log, tmp_path / "access.log.1")  # logrotate create: rename, then a new empty file
        log.write_text("")
        follower.poll()  # sees the rotation while the writer still holds the renamed file
        for line in lines[20:40]:  # late writes through the old descriptor
            writer.do(f"write {line}")
        follower.poll()
        writer.do("reopen")  # the writer's reload: from now on it writes to the new file
        for line in lines[40:]:
            writer.do(f"write {line}")
        wait_for(lambda: follower.poll() >= 0 and get_source(db, SYSTEM)["lines"] == 60)
    finally:
        writer.finish()
    assert len(access_events(db)) == 6
    assert get_position(db, SYSTEM)["inode"] == log.stat().st_ino
    row = get_source(db, SYSTEM)
    assert row["lines_received"] == 60
    assert row["bytes_received"] == sum(len(line) + 1 for line in lines)
    assert get_source(db, SYSTEM)["last_error"] is None
    follower.close()


def test_a_writer_that_never_lets_go_of_the_renamed_file_is_followed_for_the_grace_then_reported(
        db, canaries, tmp_path: Path) -> None:
    from canary.settings import set_setting

    set_setting(db, "accesslog.rotation_grace", "0.3")
    log = tmp_path / "access.log"
    writer = Writer(log)
    try:
        writer.do(f"write {mediboard_line(ipp(canaries[0]))}")
        follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
        follower.poll()
        os.rename(log, tmp_path / "access.log.1")
        append(log, mediboard_line(ipp(canaries[1]), user="new"))
        writer.do(f"write {mediboard_line(ipp(canaries[2]), user='late')}")
        wait_for(lambda: follower.poll() >= 0 and len(access_events(db)) == 3)
        error = get_source(db, SYSTEM)["last_error"]
        assert "still open" in error and "access.log.1" in error
    finally:
        writer.finish()
    follower.close()


def test_truncation_in_place_starts_again_from_the_top(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, mediboard_line(ipp(canaries[0])), mediboard_line("39999999", user="filler-filler-filler"))
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    follower.poll()
    with open(log, "w", encoding="utf-8") as handle:  # copytruncate
        handle.write(mediboard_line(ipp(canaries[1]), minute=7) + "\n")
    follower.poll()
    events = access_events(db)
    assert [e["canary_id"] for e in events] == [canaries[0]["id"], canaries[1]["id"]]
    assert events[1]["details"]["offset"] == 0
    follower.close()


def test_restart_resumes_at_the_offset_with_nothing_missed_or_twice(db_path, db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, *(mediboard_line(ipp(canaries[i]), minute=i * 20) for i in range(2)))
    source = add_source(db, SYSTEM, f"file://{log}", "mediboard")
    first = FileFollower(db, source)
    first.poll()
    first.close()
    # While stopped: more lines, then a rotation with more lines in the new file.
    append(log, mediboard_line(ipp(canaries[2]), minute=40))
    os.rename(log, tmp_path / "access.log.1")
    append(log, mediboard_line(ipp(canaries[3]), minute=50))
    other = open_db(db_path)  # a new process would open its own connection
    second = FileFollower(other, get_source(other, SYSTEM))
    second.poll()
    second.poll()
    second.close()
    third = FileFollower(other, get_source(other, SYSTEM))
    assert third.poll() == 0
    third.close()
    assert [e["canary_id"] for e in access_events(db)] == [c["id"] for c in canaries[:4]]
    assert get_source(db, SYSTEM)["lines"] == 4
    other.close()


def test_a_crash_before_commit_rereads_the_batch_once(db_path, db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    append(log, mediboard_line(ipp(canaries[0])))
    source = add_source(db, SYSTEM, f"file://{log}", "mediboard")
    follower = FileFollower(db, source)
    follower.poll()
    follower.close()
    # Simulate a stored event whose position was not saved (crash window): the dedup key absorbs it.
    db.execute("UPDATE accesslog_positions SET offset = 0")
    again = FileFollower(db, get_source(db, SYSTEM))
    again.poll()
    again.close()
    assert len(access_events(db)) == 1


def test_file_tail_service_turns_an_appended_line_into_an_event(db_path, db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.touch()
    service = FileTailService(db_path, add_source(db, SYSTEM, f"file://{log}", "mediboard"), poll_interval=0.05)
    service.start()
    try:
        assert service.ready.wait(5)
        append(log, mediboard_line(ipp(canaries[0])))
        wait_for(lambda: access_events(db))
    finally:
        service.stop()
    assert access_events(db)[0]["canary_id"] == canaries[0]["id"]


def test_missing_file_is_reported_and_picked_up_when_it_appears(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "later.log"
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    assert follower.poll() == 0
    assert "not found" in get_source(db, SYSTEM)["last_error"]
    append(log, mediboard_line(ipp(canaries[0])))
    assert follower.poll() == 1
    assert get_source(db, SYSTEM)["last_error"] is None
    follower.close()


def _copytruncate(log: Path, copy: Path) -> None:
    """What logrotate's copytruncate does: copy the file, then truncate it in place."""
    copy.write_bytes(log.read_bytes())
    with open(log, "r+b") as handle:
        handle.truncate(0)


def test_copytruncate_reads_the_tail_left_in_the_rotated_copy(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    append(log, mediboard_line(ipp(canaries[0])))
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    assert follower.poll() == 1
    (tmp_path / "audit.log-20261203").write_text("an older rotation, not ours\n" * 50)
    # Written after our last read and before the rotation: only the copy has these lines.
    append(log, mediboard_line(ipp(canaries[1]), minute=1), mediboard_line(ipp(canaries[2]), minute=2))
    _copytruncate(log, tmp_path / "audit.log.1")
    append(log, mediboard_line(ipp(canaries[3]), minute=3))
    follower.poll()
    assert [e["canary_id"] for e in access_events(db)] == [c["id"] for c in canaries[:4]]
    assert get_source(db, SYSTEM)["last_error"] is None
    follower.poll()  # nothing read twice
    assert len(access_events(db)) == 4
    follower.close()


def test_copytruncate_past_our_offset_is_noticed_by_the_first_bytes(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    append(log, mediboard_line("39999999"))
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    follower.poll()
    append(log, mediboard_line(ipp(canaries[0]), minute=1))
    _copytruncate(log, tmp_path / "audit.log-20261204")
    # The writer went on and the file is already longer than where we were, with other first bytes.
    append(log, *[mediboard_line(ipp(canaries[1]), user="after-rotation", minute=2)] * 3)
    follower.poll()
    assert sorted(e["canary_id"] for e in access_events(db)) == sorted([canaries[0]["id"]] + [canaries[1]["id"]] * 3)
    follower.close()


def test_copytruncate_without_a_copy_says_lines_may_be_lost(db, canaries, tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    append(log, mediboard_line(ipp(canaries[0])), mediboard_line("39999999", user="filler-filler-filler"))
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    follower.poll()
    with open(log, "r+b") as handle:
        handle.truncate(0)
    append(log, mediboard_line(ipp(canaries[1]), minute=7))
    follower.poll()
    assert [e["canary_id"] for e in access_events(db)] == [canaries[0]["id"], canaries[1]["id"]]
    error = get_source(db, SYSTEM)["last_error"]
    assert "truncated" in error and "may have been lost" in error
    follower.close()


def test_copytruncate_of_a_file_read_in_one_gulp_reads_the_new_file_not_a_stale_buffer(
        db, canaries, tmp_path: Path) -> None:
    """Found by bench/faults.py: a buffered reader answered the seek back to 0 from its buffer (the old
    bytes) and the follower went past the new end, believing in a second truncation."""
    log = tmp_path / "audit.log"
    append(log, *[mediboard_line(ipp(canaries[i % 4]), user=f"u{i}", second=i % 60) for i in range(50)])
    follower = FileFollower(db, add_source(db, SYSTEM, f"file://{log}", "mediboard"))
    assert follower.poll() == 50
    append(log, *[mediboard_line(ipp(canaries[i % 4]), user=f"v{i}") for i in range(10)])
    _copytruncate(log, tmp_path / "audit.log.1")
    append(log, *[mediboard_line(ipp(canaries[i % 4]), user=f"w{i}") for i in range(10)])
    assert follower.poll() == 20
    assert len(access_events(db)) == 70
    assert get_source(db, SYSTEM)["last_error"] is None
    follower.close()


def test_a_bulk_export_is_stored_in_transactions_of_bounded_hits_with_nothing_missed(db, canaries,
                                                                                      tmp_path: Path) -> None:
    # 1,300 canary reads among other lines in one chunk: stored 500 reads at a time (the first ones are
    # committed, hence paged, before the rest is parsed), every line counted once, the offset at the end.
    log = tmp_path / "access.log"
    lines = []
    for n in range(2600):
        patient = ipp(canaries[n % 6]) if n % 2 else str(30_000_000 + n)
        lines.append(mediboard_line(patient, user="export", minute=n // 60 % 60, second=n % 60))
    append(log, *lines)
    source = add_source(db, SYSTEM, f"file://{log}", "mediboard")
    follower = FileFollower(db, source)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        assert follower.poll() == 2600
    finally:
        db.conn.set_trace_callback(None)
    per_transaction, inserts = [], 0
    for sql in statements:
        if sql.lstrip().upper().startswith("INSERT INTO EVENTS"):
            inserts += 1
        elif sql.strip().upper() == "COMMIT" and inserts:
            per_transaction.append(inserts)
            inserts = 0
    assert per_transaction == [500, 500, 300]
    events = access_events(db)
    assert len(events) == 1300
    assert len({e["dedup_key"] for e in events}) == 1300
    counters = get_source(db, SYSTEM)
    assert (counters["lines"], counters["lines_received"], counters["matched"], counters["events"]) == (
        2600, 2600, 1300, 1300)
    assert counters["bytes_received"] == log.stat().st_size
    assert get_position(db, SYSTEM)["offset"] == log.stat().st_size
    follower.close()
