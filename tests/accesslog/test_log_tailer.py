"""Following a file: partial lines, rotation (rename + new file), truncation, restart at the
remembered offset without duplicates, and the running service."""

from __future__ import annotations

import os
from pathlib import Path

from canary.store import open_db
from canary.watch.accesslog.sources import add_source, get_position, get_source
from canary.watch.accesslog.tailer import FileFollower, FileTailService
from tests.accesslog.helpers import SYSTEM, access_events, ipp, mediboard_line
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
