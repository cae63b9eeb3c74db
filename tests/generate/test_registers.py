"""Public registers: BAN address points and RPPS physicians imported from files in the published
layouts, canaries drawn from them, and lint before and after a refresh."""

from __future__ import annotations

import json
import random
import sqlite3
import stat
from collections import Counter
from pathlib import Path

import pytest

from canary.generate.lint import lint_records
from canary.generate.patient import PatientGenerator
from canary.generate.reference import Reference
from canary.generate.registers.ban import address_line, import_ban
from canary.generate.registers.lookup import NEAR_KM, Registers, coverage_notes, distance_km
from canary.generate.registers.rpps import GENERAL_PRACTICE, PAEDIATRICS, import_rpps
from canary.generate.registers.store import open_registers, registers_path
from tests.support.generate import TODAY, generate_batch
from tests.support.registers import (
    BAN_HEADER,
    DEPARTMENTS,
    PRACTICE_PHONE,
    STREETS,
    Doctor,
    fixture_doctors,
    fixture_points,
    write_ban,
    write_rpps,
)

KEPT_DOCTORS = {"10003000011", "10003000029", "10003000037", "10003000045", "10003000052", "10003000060"}


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory, reference: Reference) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("extracts")
    return {
        **{dep: write_ban(folder / f"adresses-{dep}.csv.gz", fixture_points(reference, dep)) for dep in DEPARTMENTS},
        "rpps": write_rpps(folder / "PS_LibreAcces_Personne_activite_202611280000.txt", fixture_doctors()),
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, extracts: dict[str, Path]) -> Path:
    """A registers side file with both departments and the RPPS extract (shared, read-only)."""
    path = tmp_path_factory.mktemp("registers") / "canary.db.registers"
    conn = open_registers(path, create=True)
    assert conn is not None
    for dep in DEPARTMENTS:
        import_ban(conn, extracts[dep])
    import_rpps(conn, extracts["rpps"])
    conn.close()
    return path


@pytest.fixture(scope="module")
def registers(loaded: Path):
    opened = Registers.load(loaded)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def covered_batch(reference: Reference, pools, registers: Registers) -> list[dict]:
    """Canaries drawn with the registers loaded; those living in the two departments."""
    generator = PatientGenerator(reference, pools, registers)
    batch = generate_batch(generator, 1500, seed=5)
    return [r for r in batch if r["address"]["commune_code"][:2] in DEPARTMENTS]


def _counts(path: Path) -> tuple[int, ...]:
    conn = sqlite3.connect(path)
    try:
        return tuple(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                     for table in ("ban_points", "ban_streets", "ban_communes", "ban_postcodes", "rpps_physicians"))
    finally:
        conn.close()


def test_ban_import_is_private_idempotent_and_listed(cli, db_path: Path, extracts, reference: Reference) -> None:
    cli("system", "add", "dpi", "--kind", "ehr")
    first = cli("registers", "import", "ban", str(extracts["75"]), str(extracts["92"]))
    assert first.exit_code == 0, first.output
    assert "department 75: 480 address points, 60 streets, 20 communes" in first.output
    side = registers_path(db_path)
    assert stat.S_IMODE(side.stat().st_mode) == 0o600
    before = _counts(side)
    assert before[0] == len(fixture_points(reference, "75")) + len(fixture_points(reference, "92"))
    again = cli("registers", "import", "ban", str(extracts["75"]))  # a refresh replaces the department
    assert again.exit_code == 0 and _counts(side) == before
    listed = json.loads(cli("registers", "list", "--json").output)
    assert [(r["register"], r["department"], r["rows"]) for r in listed] == [("ban", "75", 480), ("ban", "92", 864)]
    status = json.loads(cli("registers", "status", "--json").output)
    assert status["ban_departments"] == ["75", "92"] and status["rpps"] is None
    assert "no RPPS extract loaded" in status["warnings"][0]


def test_malformed_files_are_refused_in_one_line_and_keep_what_was_loaded(cli, db_path: Path, extracts,
                                                                         reference: Reference,
                                                                         tmp_path: Path) -> None:
    cli("system", "add", "dpi", "--kind", "ehr")
    assert cli("registers", "import", "rpps", str(extracts["rpps"])).exit_code == 1  # no BAN yet
    assert cli("registers", "import", "ban", str(extracts["75"])).exit_code == 0
    before = _counts(registers_path(db_path))
    points = fixture_points(reference, "92")
    wrong_header = write_ban(tmp_path / "a.csv", points, gz=False, header=BAN_HEADER.replace("code_insee;", "insee;"))
    comma = tmp_path / "b.csv"
    comma.write_text(BAN_HEADER.replace(";", ",") + "\n1,2,3\n", encoding="utf-8")
    bad_row = tmp_path / "adresses-92.csv"
    lines = [BAN_HEADER] + [p.ban_row() for p in points]
    lines[300] = lines[300].replace(";2.", ";deux.", 1)  # a longitude that is not a number, deep in the file
    bad_row.write_text("\n".join(lines) + "\n", encoding="utf-8")
    truncated = tmp_path / "adresses-92.csv.gz"
    truncated.write_bytes(write_ban(tmp_path / "full.gz", points).read_bytes()[:-40])
    not_rpps = tmp_path / "rpps.txt"
    not_rpps.write_text("Identifiant|Nom\n1|X\n", encoding="utf-8")
    for command, path, expected in (("ban", wrong_header, "missing column 'code_insee'"),
                                    ("ban", comma, "not a BAN address file"),
                                    ("ban", bad_row, "line 301: numero"),
                                    ("ban", truncated, "damaged or truncated"),
                                    ("rpps", not_rpps, "not an RPPS extract")):
        result = cli("registers", "import", command, str(path))
        assert result.exit_code == 1, (path, result.output)
        assert expected in result.output and len(result.output.strip().splitlines()) == 1, result.output
        assert _counts(registers_path(db_path)) == before  # nothing half-written, nothing lost


def test_rpps_import_keeps_practising_gps_and_paediatricians_of_covered_departments(loaded: Path) -> None:
    conn = sqlite3.connect(loaded)
    rows = conn.execute("SELECT rpps, commune_code, family_name, first_name, specialty, city "
                        "FROM rpps_physicians ORDER BY rpps").fetchall()
    columns = [c[1] for c in conn.execute("PRAGMA table_info(rpps_physicians)")]
    conn.close()
    assert {r[0] for r in rows} == KEPT_DOCTORS
    assert ("10003000037", "75115", "LEROY", "PAUL", "Médecine générale", "PARIS") in rows
    assert ("10003000060", "75111", "ROCHE", "CLAIRE", "Pédiatrie", "PARIS") in rows
    # Nothing that could route anything to them is kept: no phone, mail or practice address.
    assert not {"phone", "email", "address", "line"} & set(columns)
    assert PRACTICE_PHONE.encode() not in loaded.read_bytes() and b"cabinet-medical" not in loaded.read_bytes()


@pytest.mark.parametrize("packaging", ["zip", "semicolons"])
def test_rpps_extract_as_zip_or_semicolon_separated(packaging: str, loaded: Path, extracts, tmp_path: Path) -> None:
    import shutil
    import zipfile

    side = tmp_path / "canary.db.registers"
    shutil.copy(loaded, side)
    source = extracts["rpps"]
    if packaging == "zip":
        path = tmp_path / "PS_LibreAcces_202611280000.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("PS_LibreAcces_Dipl_AutExerc_202611280000.txt", "Identifiant PP|Libellé diplôme\n")
            archive.write(source, source.name)
    else:
        path = tmp_path / "rpps.csv"
        path.write_text(source.read_text(encoding="utf-8").replace("|", ";"), encoding="utf-8")
    conn = open_registers(side)
    assert conn is not None
    assert import_rpps(conn, path) == {"rows": len(fixture_doctors()), "kept": len(KEPT_DOCTORS), "departments": 2}
    conn.close()


def test_canaries_of_covered_communes_live_at_imported_points(covered_batch, reference: Reference) -> None:
    assert len(covered_batch) >= 40
    imported = {(address_line(p.number, p.rep, p.street), p.postcode, p.city, p.commune_code)
                for dep in DEPARTMENTS for p in fixture_points(reference, dep)}
    for record in covered_batch:
        address = record["address"]
        assert (address["line"], address["postcode"], address["city"], address["commune_code"]) in imported


def test_bis_and_ter_as_often_as_the_ban_has_them(registers: Registers) -> None:
    rng = random.Random(3)
    reps = Counter(registers.address(rng, "75111")["line"].split(" ")[1] for _ in range(4000))
    # The fixture: 8 points per street, one bis and one ter.
    assert 0.09 < reps["bis"] / 4000 < 0.16 and 0.09 < reps["ter"] / 4000 < 0.16


def test_gps_are_real_physicians_practising_near_the_address(covered_batch, registers: Registers) -> None:
    doctors = {d.rpps: d for d in fixture_doctors()}
    practices = {"10003000037": "75115"}
    specialties = Counter()
    for record in covered_batch:
        gp = record["gp"]
        assert gp["rpps"] in KEPT_DOCTORS, gp
        assert set(gp) == {"rpps", "family_name", "first_name", "city", "specialty"}  # no way to reach them
        doctor = doctors[gp["rpps"]]
        assert (gp["family_name"], gp["first_name"], gp["city"]) == (doctor.family, doctor.first, doctor.city)
        practice = registers.communes[practices.get(doctor.rpps, doctor.commune_code)]
        assert distance_km(registers.communes[record["address"]["commune_code"]], practice) <= NEAR_KM
        specialties[gp["specialty"]] += 1
    assert specialties["Médecine générale"] > specialties["Pédiatrie"]


def test_allowlist_restricts_gps(loaded: Path, reference: Reference, pools) -> None:
    only = Registers.load(loaded, gp_allowlist=["10003000045"])
    generator = PatientGenerator(reference, pools, only)
    batch = [r for r in generate_batch(generator, 600, seed=8) if r["address"]["commune_code"][:2] in DEPARTMENTS]
    only.close()
    assert batch and {r["gp"]["rpps"] for r in batch} == {"10003000045"}


def _setup_registry(cli, extracts: dict[str, Path], *, rpps: bool) -> None:
    cli("system", "add", "dpi", "--kind", "ehr")
    cli("config", "set", "pool.phones", "+33612340000-+33612349999")
    cli("config", "set", "pool.mail_domains", "messagerie-durand.fr")
    cli("registers", "import", "ban", str(extracts["75"]), str(extracts["92"]))
    if rpps:
        cli("registers", "import", "rpps", str(extracts["rpps"]))


def _flagged(cli, rule: str) -> set[str]:
    report = json.loads(cli("lint", "--json").output)
    return {p["canary_id"] for p in report["problems"] if p["rule"] == rule}


def _covered(cli) -> list[dict]:
    return [c for c in json.loads(cli("export", "--format", "json").output)
            if c["address"]["commune_code"][:2] in DEPARTMENTS]


def test_without_the_extract_gps_are_unverifiable_then_invented_ones_are_named(cli, extracts) -> None:
    _setup_registry(cli, extracts, rpps=False)
    assert cli("seed", "dpi", "--count", "200", "--seed", "3").exit_code == 0
    before = json.loads(cli("lint", "--json").output)
    assert not [p for p in before["problems"] if p["rule"] in ("ban-address", "rpps-gp")]
    assert any("not verifiable: no RPPS extract loaded" in note for note in before["notes"])
    # GPs drawn before the extract was imported are invented: once it is loaded, lint names them.
    cli("registers", "import", "rpps", str(extracts["rpps"]))
    covered = _covered(cli)
    assert covered and _flagged(cli, "rpps-gp") == {c["id"] for c in covered}


def test_lint_names_canaries_a_refreshed_register_no_longer_holds(cli, extracts, reference: Reference,
                                                                  tmp_path: Path) -> None:
    _setup_registry(cli, extracts, rpps=True)
    assert cli("seed", "dpi", "--count", "400", "--seed", "4").exit_code == 0
    fresh = _covered(cli)
    clean = json.loads(cli("lint", "--json").output)
    assert not [p for p in clean["problems"] if p["rule"] in ("ban-address", "rpps-gp")]
    assert all("department 75" not in n and "92" not in n for n in clean["notes"])
    # Refreshed registers: a street of Paris renamed, a GP retired.
    renamed = fixture_points(reference, "75", streets=("Rue de la Paix", "Avenue Jean Jaurès", "Impasse des Roses"))
    cli("registers", "import", "ban", str(write_ban(tmp_path / "adresses-75.csv.gz", renamed)))
    retired = "10003000011"
    cli("registers", "import", "rpps",
        str(write_rpps(tmp_path / "rpps.txt", [d for d in fixture_doctors() if d.rpps != retired])))
    report = json.loads(cli("lint", "--json").output)
    flagged: dict[str, set[str]] = {"ban-address": set(), "rpps-gp": set()}
    for problem in report["problems"]:
        if problem["rule"] in flagged:
            flagged[problem["rule"]].add(problem["canary_id"])
    stale_street = {c["id"] for c in fresh if c["address"]["commune_code"].startswith("75")
                    and "Impasse des Lilas" in c["address"]["line"]}
    assert stale_street and flagged["ban-address"] == stale_street
    assert flagged["rpps-gp"] == {c["id"] for c in fresh if c["gp"]["rpps"] == retired}
    assert _covered(cli) == fresh  # a refresh never changes existing canaries


def test_lint_library_without_registers_is_unchanged(batch, registers: Registers) -> None:
    """Records outside the loaded departments: registers change nothing, and the notes say what is unchecked."""
    outside = [r for r in batch[:300] if r["address"]["commune_code"][:2] not in DEPARTMENTS]
    assert lint_records(outside, TODAY, registers=registers) == lint_records(outside, TODAY)
    notes = coverage_notes(outside, registers)
    assert len(notes) == 2 and "no BAN file loaded" in notes[0] and "does not cover" in notes[1]


def test_points_without_a_number_or_a_position_are_left_out(tmp_path: Path, reference: Reference) -> None:
    point = fixture_points(reference, "75")[0]
    rows = [point.ban_row(), point.ban_row().replace(f";{point.number};", ";99999;", 1),
            point.ban_row().replace(f";{point.lon:.5f};{point.lat:.5f};", ";;;", 1)]
    path = tmp_path / "adresses-75.csv"
    path.write_text(BAN_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    conn = open_registers(tmp_path / "r.registers", create=True)
    assert conn is not None
    result = import_ban(conn, path)
    conn.close()
    assert result.departments == {"75": {"points": 1, "streets": 1, "communes": 1, "skipped": 2}}


def test_status_warns_when_a_department_is_added_after_the_extract(cli, extracts) -> None:
    cli("system", "add", "dpi", "--kind", "ehr")
    cli("registers", "import", "ban", str(extracts["75"]))
    assert "1 department(s)" in cli("registers", "import", "rpps", str(extracts["rpps"])).output
    cli("registers", "import", "ban", str(extracts["92"]))
    status = json.loads(cli("registers", "status", "--json").output)
    assert status["rpps"]["departments"] == ["75"] and status["rpps"]["by_department"] == {"75": 4}
    assert status["warnings"] == ["BAN department 92 loaded after the RPPS extract: import the extract again to "
                                  "cover it"]


# -- every named physician within reach (issue 26) -----------------------------------------------------------

@pytest.fixture(scope="module")
def ain(tmp_path_factory: pytest.TempPathFactory, reference: Reference) -> dict[str, object]:
    """Department 01 alone, its communes on a grid 130 km tall: a paediatrician at one end, GPs at the other."""
    folder = tmp_path_factory.mktemp("ain")
    communes = sorted(c.code for c in reference.communes.values() if c.department == "01")
    near_paediatrician, far_home, far_gp = communes[0], communes[300], communes[301]
    doctors = [Doctor("10005000014", "PETIT", "LOUISE", near_paediatrician, "01400", "L'ABERGEMENT-CLEMENCIAT",
                      savoir_faire=("SM40", "Pédiatrie")),
               Doctor("10005000022", "GRAND", "YVES", far_gp, "01400", "SAINT-GEORGES"),
               Doctor("10005000030", "MOYEN", "ALAIN", communes[1], "01400", "L'ABERGEMENT")]
    path = folder / "canary.db.registers"
    conn = open_registers(path, create=True)
    assert conn is not None
    import_ban(conn, write_ban(folder / "adresses-01.csv.gz", fixture_points(reference, "01", streets=STREETS[:1])))
    import_rpps(conn, write_rpps(folder / "rpps.txt", doctors))
    conn.close()
    return {"path": path, "home": far_home, "near": communes[2], "gp": doctors[1], "paediatrician": doctors[0]}


def test_a_child_far_from_every_paediatrician_is_given_a_gp_nearby(ain) -> None:
    registers = Registers.load(ain["path"])
    assert registers is not None
    rng = random.Random(2)
    home = registers.communes[ain["home"]]
    paediatrician = registers.communes[ain["paediatrician"].commune_code]
    assert distance_km(home, paediatrician) > 60  # the reproduction: 25-78 km away
    far = [registers.physician(rng, ain["home"], PAEDIATRICS) for _ in range(50)]
    near = [registers.physician(rng, ain["near"], PAEDIATRICS) for _ in range(50)]
    registers.close()
    assert {p["rpps"] for p in far if p} == {ain["gp"].rpps}
    assert {p["specialty"] for p in far if p} == {GENERAL_PRACTICE}
    assert {p["rpps"] for p in near if p} == {ain["paediatrician"].rpps}  # one practises within reach


def test_lint_reports_a_named_physician_beyond_the_distance_rule(ain, batch) -> None:
    registers = Registers.load(ain["path"])
    assert registers is not None
    paediatrician, gp = ain["paediatrician"], ain["gp"]
    child = {**batch[0], "address": {**batch[0]["address"], "commune_code": ain["home"]},
             "gp": {"rpps": paediatrician.rpps, "family_name": paediatrician.family, "first_name": paediatrician.first,
                    "city": paediatrician.city, "specialty": PAEDIATRICS}}
    with_gp = {**child, "gp": {"rpps": gp.rpps, "family_name": gp.family, "first_name": gp.first,
                               "city": gp.city, "specialty": GENERAL_PRACTICE}}
    problems = lint_records([child, with_gp], TODAY, registers=registers)
    registers.close()
    distance = [p for _cid, p in problems if p.rule == "physician-distance"]
    assert len(distance) == 1 and distance[0].field == "gp.rpps"
    assert f"RPPS {paediatrician.rpps}" in distance[0].message and "km" in distance[0].message
    assert "15 km" in distance[0].message


def test_a_gp_with_two_practices_is_counted_once_by_import_and_status(cli, extracts, tmp_path: Path) -> None:
    cli("system", "add", "dpi", "--kind", "ehr")
    cli("registers", "import", "ban", str(extracts["75"]), str(extracts["92"]))
    doctors = fixture_doctors()
    second_practice = Doctor("10003000011", "MARCHAND", "HELENE", "75112", "75012", "PARIS")
    imported = cli("registers", "import", "rpps", str(write_rpps(tmp_path / "rpps.txt", [*doctors, second_practice])))
    assert imported.exit_code == 0, imported.output
    assert f"{len(KEPT_DOCTORS)} practising GPs and paediatricians kept" in imported.output
    status = json.loads(cli("registers", "status", "--json").output)
    listed = json.loads(cli("registers", "list", "--json").output)
    assert status["rpps"]["physicians"] == len(KEPT_DOCTORS)
    assert [r["rows"] for r in listed if r["register"] == "rpps"] == [len(KEPT_DOCTORS)]
