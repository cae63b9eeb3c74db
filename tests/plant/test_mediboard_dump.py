"""The `mediboard` file format: Mediboard's patients, id_sante400 and medecin tables as a MariaDB dump, loaded
into a real MariaDB server and read back as a thief holding the dump would."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from canary.plant.channels.file.mediboard_dump import soundex2
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire
from tests.support.peers.sql import MariaDB, running_mariadb

CLIENT = shutil.which("mariadb") or shutil.which("mysql")


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDB]:
    with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
        yield server


def _load(server: MariaDB, dump: str, database: str) -> None:
    """What a thief does with a stolen dump: feed it to the mariadb client."""
    if not CLIENT:
        pytest.skip("mariadb client not installed (Debian package mariadb-client)")
    server.run(f"DROP DATABASE IF EXISTS `{database}`")
    server.run(f"CREATE DATABASE `{database}`")
    subprocess.run([CLIENT, "--no-defaults", f"--socket={server.socket}", "-uroot", database],
                   input=dump.encode(), check=True, capture_output=True, timeout=60)


def _edit(db, canary_id, **fields):
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canary_id]).fetchone()[0])
    db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record | fields), canary_id])
    db.conn.commit()


def test_mediboard_dump_is_the_patients_table_with_its_ipp_idex_and_cmedecin(db, add_hand_canaries, tmp_path,
                                                                            mariadb, cli):
    canaries = add_hand_canaries("ehr-mb", count=4)
    for canary, status in zip(canaries, ("QUAL", "RECUP", "VALI", "PROV"), strict=True):
        _edit(db, canary["id"], identity_status=status)
    _edit(db, canaries[3]["id"], gp={"rpps": "10001234567", "family_name": "LEROY", "first_name": "PAUL",
                                     "city": "Villeurbanne", "specialty": "Médecine générale"},
          first_names=["Jean", "Louis", "Marie", "Pierre"])
    target = tmp_path / "mediboard.sql"
    result = cli("plant", "ehr-mb", "--to", target.as_uri() + "?ipp_tag=tag_ipp_1")
    assert result.exit_code == 0, result.output
    dump = target.read_text()
    assert dump.startswith("-- MariaDB dump") and "_IPP" not in dump
    _load(mariadb, dump, "mb1")

    columns = [r[0] for r in mariadb.run("SELECT column_name FROM information_schema.columns WHERE "
                                         "table_schema = 'mb1' AND table_name = 'patients' ORDER BY ordinal_position")]
    assert columns[:8] == ["patient_id", "nom", "nom_jeune_fille", "prenom", "prenom_2", "prenom_3", "prenom_4",
                           "nom_soundex2"]
    assert len(columns) >= 90 and {"matricule", "medecin_traitant", "status", "prenoms"} <= set(columns)
    # The IPP is an id400 of the CPatient, under the site's tag; the row key of each planting.
    idex = mariadb.run("SELECT i.id400, i.tag, p.nom, p.matricule, p.status FROM id_sante400 i JOIN patients p "
                       "ON i.object_class = 'CPatient' AND i.object_id = p.patient_id ORDER BY i.id400",
                       database="mb1")
    assert [row[0] for row in idex] == sorted(c["ipp"] for c in canaries)
    assert {row[1] for row in idex} == {"tag_ipp_1"}
    # matricule as Mediboard fills it: the NIR whatever the status.
    assert [(row[3], row[4]) for row in idex] == [(c["nir"], s) for c, s in
                                                  zip(canaries, ("QUAL", "RECUP", "VALI", "PROV"), strict=True)]
    assert {r["external_id"] for r in list_plantings(db)} == {c["ipp"] for c in canaries}
    # The GP: a CMedecin row the patient references by its id, the RPPS in the row, no contact point.
    gps = mariadb.run("SELECT p.prenom_4, m.nom, m.prenom, m.rpps, m.tel, m.email, m.type FROM patients p "
                      "JOIN medecin m ON m.medecin_id = p.medecin_traitant ORDER BY m.rpps", database="mb1")
    assert len(gps) == 4
    assert {g[1:4] for g in gps} == {("LEROY", "Paul", "10001234567"), ("GIRARD", "Anne", "10003456789")}
    assert all(g[4] is None and g[5] is None and g[6] == "medecin" for g in gps)
    assert mariadb.run("SELECT COUNT(*) FROM medecin", database="mb1") == [(2,)]
    assert ("PIERRE", "LEROY", "Paul", "10001234567", None, None, "medecin") in gps
    # Mediboard fills the phonetic keys on store.
    keys = mariadb.run("SELECT nom, nom_soundex2 FROM patients", database="mb1")
    assert len(keys) == 4 and all(key == soundex2(name) for name, key in keys)

    # Retiring rewrites the dump without the canary, in all three tables.
    assert retire(db, select_for_retire(db, ident=canaries[3]["id"])).retired
    _load(mariadb, target.read_text(), "mb2")
    assert mariadb.run("SELECT COUNT(*) FROM patients", database="mb2") == [(3,)]
    assert mariadb.run("SELECT COUNT(*) FROM id_sante400", database="mb2") == [(3,)]
    assert mariadb.run("SELECT rpps FROM medecin", database="mb2") == [("10003456789",)]


def test_soundex2_keys():
    assert soundex2("MARTIN") == "MRTN"
    assert soundex2("DUPONT") == soundex2("DUPOND")
    assert soundex2("") is None


def test_mediboard_format_is_chosen_by_the_sql_suffix_and_refuses_nothing_else(db, add_hand_canaries, tmp_path):
    add_hand_canaries("ehr-mb", count=1)
    assert plant(db, "ehr-mb", (tmp_path / "dump.sql").as_uri()).ok
    assert (tmp_path / "dump.sql").read_text().count("INSERT INTO `patients` VALUES") == 1
