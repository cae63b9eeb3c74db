"""Inputs that could not be read are never reported as clean: exit 1 when nothing was read, 3 when some were skipped."""

from __future__ import annotations

import json

from tests.support.ports import closed_port
from tests.support.sweep import ROWS


def test_a_missing_path_alone_is_an_error(cli, sweep_canaries, tmp_path):
    result = cli("scan", str(tmp_path / "nonexistent"), "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["status"] == "nothing-read" and payload["files"] == 0
    assert payload["skipped"] == [{"file": str(tmp_path / "nonexistent"), "reason": "no such file or folder"}]
    assert "nothing could be read" in result.stderr


def test_an_unreachable_url_alone_is_an_error(cli, sweep_canaries):
    url = f"http://127.0.0.1:{closed_port()}/x"
    result = cli("scan", url)
    assert result.exit_code == 1
    assert url in result.stderr and "nothing could be read" in result.stderr


def test_some_inputs_skipped_exit_3_and_say_which(cli, sweep_canaries, tmp_path):
    dump = tmp_path / "dump.csv"
    dump.write_text(ROWS, encoding="utf-8")
    result = cli("scan", str(dump), str(tmp_path / "missing.sql.gz"), "--json")
    assert result.exit_code == 3
    payload = json.loads(result.stdout)
    assert payload["status"] == "partial" and payload["findings"]
    assert [s["file"] for s in payload["skipped"]] == [str(tmp_path / "missing.sql.gz")]
    text = cli("scan", str(dump), str(tmp_path / "missing.sql.gz"))
    assert text.exit_code == 3 and "missing.sql.gz" in text.stderr


def test_everything_read_is_exit_0_complete(cli, sweep_canaries, tmp_path):
    dump = tmp_path / "dump.csv"
    dump.write_text(ROWS, encoding="utf-8")
    result = cli("scan", str(dump), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "complete"
