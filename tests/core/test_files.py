"""Atomic writes say which file failed, never the name of their temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from canary.files import write_atomic


def test_a_missing_folder_names_the_target_not_the_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "export.csv"
    with pytest.raises(FileNotFoundError) as caught:
        write_atomic(target, "a,b\n")
    assert caught.value.filename == str(target)
    assert ".export.csv." not in str(caught.value)
    assert not (tmp_path / "missing").exists()


def test_the_written_file_is_whole_and_private(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    write_atomic(target, "a,b\n")
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]
