"""--json on the commands that report: seed, rotate, retire, registers import (the API's keys where it has them)."""

from __future__ import annotations

import json

from canary.generate.reference import Reference
from tests.support.registers import fixture_doctors, fixture_points, write_ban, write_rpps


def _json(cli, *args):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_seed_rotate_and_retire_print_json(cli, tmp_path):
    assert cli("system", "add", "ehr-json", "--kind", "ehr").exit_code == 0
    seeded = _json(cli, "seed", "ehr-json", "--count", "3", "--seed", "1")
    assert set(seeded) == {"system", "generation", "canaries", "pending_mailboxes", "warnings"}
    assert seeded["system"] == "ehr-json" and seeded["generation"] == 1 and len(seeded["canaries"]) == 3
    assert any("pool.phones" in w for w in seeded["warnings"])  # no pool configured here: said, in the JSON too

    export = tmp_path / "patients.csv"
    assert cli("plant", "ehr-json", "--to", export.as_uri(), "--mapping", "mediboard").exit_code == 0
    rotated = _json(cli, "rotate", "ehr-json", "--count", "2", "--seed", "2")
    assert set(rotated) == {"system", "generation", "canaries", "resumed", "plants", "kept", "retired", "trickles",
                            "warnings", "ok"}
    assert rotated["ok"] and rotated["generation"] == 2 and len(rotated["canaries"]) == 2
    assert len(rotated["retired"]["retired"]) == 3 and rotated["retired"]["failed"] == []

    retired = _json(cli, "retire", "--system", "ehr-json")
    assert set(retired) == {"retired", "failed", "warnings"} and len(retired["retired"]) == 2
    assert _json(cli, "retire", "--system", "ehr-json") == {"retired": [], "failed": [], "warnings": []}


def test_registers_import_prints_json(cli, tmp_path):
    reference = Reference.load()
    ban = write_ban(tmp_path / "adresses-69.csv.gz", fixture_points(reference, "69"))
    imported = _json(cli, "registers", "import", "ban", str(ban))
    ((department, counts),) = imported["files"][0]["departments"].items()
    assert imported["files"][0]["file"] == "adresses-69.csv.gz" and department == "69" and counts["points"] > 0
    rpps = _json(cli, "registers", "import", "rpps", str(write_rpps(tmp_path / "PS_LibreAcces.txt",
                                                                    fixture_doctors())))
    assert rpps["file"] == "PS_LibreAcces.txt" and {"rows", "kept", "departments"} <= set(rpps)
