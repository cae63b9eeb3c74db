"""File planting keeps the target's mode and group (the import job reads it); new files follow plant.file_mode."""

from __future__ import annotations

import grp
import os
import stat

import pytest


def _other_group() -> int:
    """A group other than ours, to see it kept (needs root or membership; skipped otherwise)."""
    for group in grp.getgrall():
        if group.gr_gid != os.getegid() and (os.geteuid() == 0 or group.gr_gid in os.getgroups()):
            return group.gr_gid
    pytest.skip("no other group this user may give a file")


def test_existing_target_keeps_its_mode_and_group(add_hand_canaries, tmp_path, cli):
    add_hand_canaries("billing", count=2, kind="billing")
    target = tmp_path / "patients.csv"
    target.write_text("nom;prenom\nDUPONT;Jean\n", encoding="utf-8")
    gid = _other_group()
    os.chown(target, -1, gid)
    os.chmod(target, 0o640)
    result = cli("plant", "billing", "--to", target.as_uri(), "--format", "csv")
    assert result.exit_code == 0, result.output
    info = target.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_gid == gid
    assert "DUPONT" not in target.read_text(encoding="utf-8")  # rewritten, not appended


def test_new_file_follows_plant_file_mode(add_hand_canaries, tmp_path, cli):
    add_hand_canaries("billing", count=1, kind="billing")
    target = tmp_path / "new.csv"
    assert cli("plant", "billing", "--to", target.as_uri(), "--format", "csv").exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # the default

    assert cli("config", "set", "plant.file_mode", "0604").exit_code == 0
    other = tmp_path / "other.csv"
    assert cli("plant", "billing", "--to", other.as_uri(), "--format", "csv").exit_code == 0
    assert stat.S_IMODE(other.stat().st_mode) == 0o604


def test_file_mode_setting_is_checked(cli):
    for bad in ("640x", "0999", "1777"):
        result = cli("config", "set", "plant.file_mode", bad)
        assert result.exit_code == 1 and "plant.file_mode" in result.output
