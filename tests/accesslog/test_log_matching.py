"""From parsed lines to events: ids through markers and plantings, cross-system, bursts, exports,
allow-rules and the malformed counters."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from canary.errors import CanaryError
from canary.settings import set_setting
from canary.watch.accesslog.allow import add_rule, list_rules
from canary.watch.accesslog.burst import iso_minus
from canary.watch.accesslog.engine import Processor
from canary.watch.accesslog.index import CanaryIndex
from canary.watch.accesslog.parsers import build_parser
from canary.watch.accesslog.sources import add_source, get_source
from tests.support.accesslog import SYSTEM, access_events, ipp, mediboard_line


def run(db: sqlite_utils.Database, lines: list[str], *, source_name: str | None = None, system: str = SYSTEM):
    processor = Processor(db, system, build_parser("mediboard"), source_name=source_name)
    processor.feed_lines([line.encode() for line in lines], 1, "test", ref_name="line_no")
    return processor.flush()


def test_a_canary_read_becomes_one_high_event_with_who_what_where_when(db, canaries) -> None:
    result = run(db, [mediboard_line("39999999"), mediboard_line(ipp(canaries[0]), minute=5)])
    assert (result.lines, result.matched, result.events) == (2, 1, 1)
    [event] = access_events(db)
    assert event["canary_id"] == canaries[0]["id"]
    assert event["system"] == SYSTEM
    assert (event["account"], event["action"], event["source"]) == ("jdupont", "dPpatients.vw_full_patients",
                                                                     "10.2.3.4")
    assert event["time"] == "2026-11-14T08:05:00.000Z"
    assert event["severity"] == "high"
    assert event["details"]["group"] == f"access:{SYSTEM}:jdupont"
    assert event["details"]["line_no"] == 2
    assert event["details"]["id_kind"] == "ipp"
    assert event["dedup_key"]
    assert "exfiltration" not in event["details"]


def test_nir_in_any_spelling_and_nir13_match(db, canaries) -> None:
    nir = canaries[1]["nir"]
    spaced = f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}"
    lines = [f'2026-11-14 09:00:00 user=a nir="{spaced}"', f"2026-11-14 09:00:01 user=b nir={nir[:13]}"]
    run(db, lines)
    events = access_events(db)
    assert [(e["canary_id"], e["details"]["id_kind"]) for e in events] == [
        (canaries[1]["id"], "nir"), (canaries[1]["id"], "nir13")]


def test_same_canary_twice_on_one_line_is_one_event(db, canaries) -> None:
    run(db, [f"2026-11-14 09:00:00 user=a ipp={ipp(canaries[0])} nir={canaries[0]['nir']}"])
    assert len(access_events(db)) == 1


def _plantings(db: sqlite_utils.Database) -> None:
    # The planting domain's table, or (without that domain) a minimal one with the columns we rely on.
    if not db["plantings"].exists():
        db.execute("CREATE TABLE plantings (canary_id TEXT, system TEXT, external_id TEXT, state TEXT)")


def _plant(db: sqlite_utils.Database, canary_id: str, system: str, external_id: str) -> None:
    row = {"canary_id": canary_id, "system": system, "external_id": external_id, "state": "planted"}
    filler = {"channel": "file", "target": f"t-{canary_id}", "planned_at": "2026-11-01T00:00:00Z",
              "updated_at": "2026-11-01T00:00:00Z"}
    columns = {c.name for c in db["plantings"].columns}
    db["plantings"].insert(row | {k: v for k, v in filler.items() if k in columns})


def test_planting_external_ids_count_only_in_their_own_system(db, canaries) -> None:
    lab = db.execute("SELECT id FROM canaries WHERE system = 'lab-sil'").fetchone()[0]
    assert CanaryIndex(db, SYSTEM).lookup("CPatient-77") is None
    _plantings(db)
    _plant(db, canaries[2]["id"], SYSTEM, "CPatient-77")
    _plant(db, lab, "lab-sil", "555")
    run(db, ["2026-11-14 09:00:00 user=a object=CPatient-77", "2026-11-14 09:00:01 user=a patient_id=555"])
    events = access_events(db)
    assert [(e["canary_id"], e["details"]["id_kind"]) for e in events] == [(canaries[2]["id"], "external_id")]
    run(db, ["2026-11-14 09:00:02 user=a patient_id=555"], system="lab-sil")
    assert access_events(db)[-1]["canary_id"] == lab


def test_another_systems_canary_is_flagged_as_data_moved(db, canaries) -> None:
    lab = list(db.query("SELECT id, record FROM canaries WHERE system = 'lab-sil'"))[0]
    import json
    run(db, [mediboard_line(json.loads(lab["record"])["ipp"])])
    [event] = access_events(db)
    assert event["canary_id"] == lab["id"]
    assert event["system"] == "lab-sil"  # the canary's home: where the data came from
    assert event["details"]["cross_system"] is True
    assert event["details"]["canary_system"] == "lab-sil"
    assert event["details"]["log_system"] == SYSTEM
    assert event["details"]["group"] == f"access:{SYSTEM}:jdupont"


def test_burst_of_canaries_by_one_account_is_an_exfiltration_on_one_group(db, canaries) -> None:
    lines = [mediboard_line(ipp(canaries[i]), minute=i * 2) for i in range(4)]
    lines.insert(1, mediboard_line(ipp(canaries[5]), user="other", minute=1))
    run(db, lines)
    events = [e for e in access_events(db) if e["account"] == "jdupont"]
    assert [e["severity"] for e in events] == ["high", "high", "critical", "critical"]
    assert {e["details"]["group"] for e in events} == {f"access:{SYSTEM}:jdupont"}
    assert events[2]["details"]["exfiltration"] is True
    assert events[2]["details"]["exfiltration_reason"] == "burst"
    assert events[3]["details"]["canaries_in_window"] == 4
    other = [e for e in access_events(db) if e["account"] == "other"]
    assert other[0]["severity"] == "high"


def test_reads_spread_beyond_the_window_stay_high_and_settings_tune_the_burst(db, canaries) -> None:
    run(db, [mediboard_line(ipp(canaries[i]), minute=i * 11) for i in range(3)])
    assert {e["severity"] for e in access_events(db)} == {"high"}
    set_setting(db, "accesslog.burst_canaries", "2")
    set_setting(db, "accesslog.burst_window", "1h")
    run(db, [mediboard_line(ipp(canaries[3]), user="bob"), mediboard_line(ipp(canaries[4]), user="bob", minute=40)])
    assert [e["severity"] for e in access_events(db) if e["account"] == "bob"] == ["high", "critical"]


def test_a_canary_inside_a_bulk_export_is_an_exfiltration_at_once(db, canaries) -> None:
    run(db, [f"2026-11-14 09:00:00 user=jdupont action=dPpatients.export_csv ipp=40000099,{ipp(canaries[0])}"])
    [event] = access_events(db)
    assert event["severity"] == "critical"
    assert event["details"]["exfiltration"] is True
    assert event["details"]["exfiltration_reason"] == "bulk-export"


def test_allow_rule_records_at_info_and_expired_rules_stop_applying(db, canaries) -> None:
    rule = add_rule(db, SYSTEM, "svc-backup", "DSI - équipe sauvegarde", "2099-12-31", "nightly backup")
    run(db, [mediboard_line(ipp(canaries[i]), user="SVC-BACKUP", minute=i) for i in range(4)])
    events = access_events(db)
    assert len(events) == 4  # recorded, never dropped
    assert {e["severity"] for e in events} == {"info"}
    assert events[0]["details"]["allowed_by"] == {"rule": rule["id"], "owner": "DSI - équipe sauvegarde",
                                                  "reason": "nightly backup", "expires_at": "2100-01-01T00:00:00.000Z"}
    assert all("exfiltration" not in e["details"] for e in events)
    # The same account under an expired rule: paged as usual.
    db.execute("UPDATE accesslog_allow_rules SET expires_at = '2026-01-01T00:00:00.000Z' WHERE id = ?", [rule["id"]])
    assert list_rules(db) == [] and list_rules(db, include_expired=True)[0]["active"] is False
    run(db, [mediboard_line(ipp(canaries[i]), user="svc-backup", minute=30 + i) for i in range(3)])
    assert [e["severity"] for e in access_events(db)[4:]] == ["high", "high", "critical"]


def test_allow_rule_input_is_checked(db, canaries) -> None:
    with pytest.raises(CanaryError, match="past"):
        add_rule(db, SYSTEM, "etl", "owner", "2020-01-01", "old")
    with pytest.raises(CanaryError):
        add_rule(db, SYSTEM, "etl", "owner", "next week", "bad date")
    with pytest.raises(CanaryError):
        add_rule(db, "no-such-system", "etl", "owner", "2099-01-01", "x")
    with pytest.raises(CanaryError):
        add_rule(db, SYSTEM, "etl", " ", "2099-01-01", "x")


def test_malformed_lines_are_counted_on_the_source_and_never_fatal(db, canaries, tmp_path: Path) -> None:
    add_source(db, SYSTEM, f"file://{tmp_path}/access.log", "mediboard")
    result = run(db, ["garbage", mediboard_line(ipp(canaries[0])), "2026-11-14 ipp=1 no user", "",
                      "\udcff".encode("utf-8", "surrogatepass").decode("latin-1")], source_name=SYSTEM)
    assert (result.lines, result.malformed, result.events) == (4, 3, 1)
    source: dict[str, Any] = get_source(db, SYSTEM)
    assert (source["lines"], source["malformed"], source["matched"], source["events"]) == (4, 3, 1, 1)
    assert source["last_malformed"].startswith("line_no 5")
    assert "ipp" not in source["last_malformed"]  # no raw line content is kept


def test_a_canary_deleted_after_the_index_loaded_does_not_block_the_batch(db, canaries) -> None:
    processor = Processor(db, SYSTEM, build_parser("mediboard"))
    db.execute("DELETE FROM canaries WHERE id = ?", [canaries[0]["id"]])
    processor.feed_lines([mediboard_line(ipp(canaries[0])).encode(), mediboard_line(ipp(canaries[1])).encode()],
                         1, "test", ref_name="line_no")
    result = processor.flush()
    assert result.events == 1
    assert [e["canary_id"] for e in access_events(db)] == [canaries[1]["id"]]


def test_burst_counts_slide_across_batches_and_lines_out_of_order_as_a_full_count_would(db, canaries) -> None:
    # A bulk export stored batch by batch, with lines arriving out of order and repeated reads: the count
    # of distinct canaries in the window of every read equals the count over every earlier stored read.
    set_setting(db, "accesslog.burst_canaries", "2")
    set_setting(db, "accesslog.burst_window", "10m")
    minutes = [0, 3, 1, 9, 12, 11, 30, 31, 29, 45, 2, 46, 47, 58, 59]
    lines = [mediboard_line(ipp(canaries[(k * 5) % 6]), minute=m, second=k) for k, m in enumerate(minutes)]
    run(db, lines[:6])
    run(db, lines[6:11])
    run(db, lines[11:])
    events = access_events(db)
    assert len(events) == len(lines)
    for event in events:
        end = event["time"]
        start = iso_minus(end, timedelta(minutes=10))
        expected = {e["canary_id"] for e in events if e["id"] <= event["id"] and start <= e["time"] <= end}
        assert event["details"].get("canaries_in_window", 1) == len(expected), event
        assert event["severity"] == ("critical" if len(expected) >= 2 else "high")


def test_burst_counts_kept_between_batches_take_in_what_another_watcher_stored(db, canaries) -> None:
    # The file tailer and the syslog receiver of one EHR both see the thief's account: each keeps its
    # burst counts from one batch to the next, and takes in the other's reads before counting its own.
    file_trail = Processor(db, SYSTEM, build_parser("mediboard"))
    syslog = Processor(db, SYSTEM, build_parser("mediboard"))
    for processor, i, minute in ((file_trail, 0, 0), (syslog, 1, 1), (file_trail, 2, 2)):
        processor.feed_lines([mediboard_line(ipp(canaries[i]), minute=minute).encode()], 1, f"k{i}",
                             ref_name="line_no")
        processor.flush()
    events = access_events(db)
    assert [e["severity"] for e in events] == ["high", "high", "critical"]
    assert events[2]["details"]["canaries_in_window"] == 3
