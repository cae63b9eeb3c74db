"""Planting into file imports: CSV/JSON, delimiter, encoding, mappings (Mediboard), atomic writes."""

from __future__ import annotations

import csv
import io
import json

import pytest

from canary.errors import CanaryError
from canary.plant.lifecycle import list_plantings
from canary.plant.planter import plant, retire, select_for_retire

# CPatient fields of the post-INS Mediboard line, in the order the mapping writes them.
MEDIBOARD_COLUMNS = ["_IPP", "nom", "nom_jeune_fille", "prenom", "prenoms", "naissance", "sexe", "civilite",
                     "adresse", "cp", "ville", "pays", "tel", "tel2", "email", "matricule", "status",
                     "lieu_naissance", "cp_naissance", "commune_naissance_insee", "pays_naissance_insee",
                     "medecin_traitant", "rques"]


def _edit(db, canary_id, **fields):
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canary_id]).fetchone()[0])
    db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record | fields), canary_id])
    db.conn.commit()


def test_mediboard_csv_with_delimiter_and_encoding(db, add_hand_canaries, tmp_path, cli):
    canaries = add_hand_canaries("billing", count=3, kind="billing")
    _edit(db, canaries[0]["id"], identity_status="QUAL", first_names=["Hélène", "Zoé"])
    _edit(db, canaries[1]["id"], birth_place={"code": "99350", "name": "Maroc"}, birth_date="2018-04-02")
    target = tmp_path / "patients.csv"
    result = cli("plant", "billing", "--to", target.as_uri(), "--format", "csv", "--mapping", "mediboard",
                 "--delimiter", "|", "--encoding", "iso-8859-1")
    assert result.exit_code == 0, result.output
    text = target.read_bytes().decode("iso-8859-1")
    rows = list(csv.DictReader(io.StringIO(text), delimiter="|"))
    assert len(rows) == 3 and list(rows[0]) == MEDIBOARD_COLUMNS
    first, record = rows[0], canaries[0]
    assert first["_IPP"] == record["ipp"] and first["nom"] == record["birth_name"]
    assert (first["prenom"], first["prenoms"]) == ("HELENE", "HELENE ZOE")
    assert first["naissance"] == record["birth_date"] and first["sexe"] == record["sex"].lower()
    assert first["civilite"] == "mme" and first["tel"] == "0612340000"
    # Identity: the matricule filled as Mediboard fills it whatever the status (from ins_nir for an identity
    # that came from INSi, else the social security number read from the carte Vitale), the status beside it.
    assert (first["matricule"], first["status"]) == (record["nir"], "QUAL")
    assert (rows[2]["matricule"], rows[2]["status"]) == (canaries[2]["nir"], "VALI")
    # The GP is a reference to a CMedecin (by RPPS), never a name.
    assert first["medecin_traitant"] == "10003456789" and "GIRARD" not in text
    assert (first["lieu_naissance"], first["commune_naissance_insee"], first["pays_naissance_insee"]) == (
        "LYON", "69123", "250")
    assert first["ville"] == "LYON" and first["adresse"] == "1 RUE DES LILAS"
    abroad = rows[1]
    assert (abroad["lieu_naissance"], abroad["commune_naissance_insee"], abroad["pays_naissance_insee"]) == (
        "", "", "504")
    assert abroad["civilite"] == "enf"
    rows_db = list_plantings(db, system="billing")
    assert {r["state"] for r in rows_db} == {"planted"}
    assert {r["external_id"] for r in rows_db} == {c["ipp"] for c in canaries}
    assert rows_db[0]["target"] == target.as_uri() and rows_db[0]["channel"] == "file"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".patients.csv")] == []  # no temporary file


def test_default_json_export_withholds_the_ins_of_unqualified_identities(db, add_hand_canaries, tmp_path):
    canaries = add_hand_canaries("billing", count=2, kind="billing")
    _edit(db, canaries[0]["id"], identity_status="QUAL")
    _edit(db, canaries[1]["id"], identity_status="RECUP", birth_place={"code": "99350", "name": "Maroc"})
    target = tmp_path / "export.json"
    assert plant(db, "billing", target.as_uri()).ok
    qualified, recup = json.loads(target.read_text())
    assert qualified["nir"] == canaries[0]["nir"] and recup["nir"] == ""
    assert canaries[1]["nir"] not in target.read_text()
    assert (qualified["birth_place_name"], qualified["city"], qualified["gp_name"]) == ("LYON", "LYON", "GIRARD ANNE")
    assert (recup["birth_place_name"], recup["birth_place_code"], recup["birth_country"]) == ("", "99350", "MAR")


def test_json_export_and_idempotent_growth(db, add_hand_canaries, tmp_path):
    add_hand_canaries("billing", count=2, kind="billing")
    target = tmp_path / "export.json"
    assert plant(db, "billing", target.as_uri()).ok  # format from the extension, default mapping
    assert [row["ipp"] for row in json.loads(target.read_text())] == ["40000000", "40000001"]
    assert plant(db, "billing", target.as_uri()).planted == []
    add_hand_canaries("billing", count=1, kind="billing")
    report = plant(db, "billing", target.as_uri())
    assert report.planted == ["hand000002"] and report.already == 2
    assert len(json.loads(target.read_text())) == 3


def test_options_are_remembered_per_target(db, add_hand_canaries, tmp_path):
    add_hand_canaries("billing", count=1, kind="billing")
    target = tmp_path / "p.csv"
    assert plant(db, "billing", target.as_uri(), mapping="mediboard", delimiter=",").ok
    add_hand_canaries("billing", count=1, kind="billing")
    assert plant(db, "billing", target.as_uri()).ok
    header = target.read_text().splitlines()[0]
    assert header.startswith("_IPP,nom,nom_jeune_fille,")


def test_a_failed_write_keeps_the_old_file_and_marks_nothing(db, add_hand_canaries, tmp_path):
    add_hand_canaries("billing", count=1, kind="billing")
    target = tmp_path / "p.csv"
    assert plant(db, "billing", target.as_uri(), encoding="ascii", mapping="mediboard").ok
    before = target.read_bytes()
    added = add_hand_canaries("billing", count=1, kind="billing")[0]
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [added["id"]]).fetchone()[0])
    record["allergies"] = [{"substance": "Pénicilline", "reaction": None}]  # free text keeps its accents
    db.execute("UPDATE canaries SET record = ? WHERE id = ?", [json.dumps(record), added["id"]])
    db.conn.commit()
    report = plant(db, "billing", target.as_uri())
    assert report.stopped and "cannot be written in ascii" in report.stopped
    assert target.read_bytes() == before
    assert [r["state"] for r in list_plantings(db)] == ["planted", "planned"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".p.csv")] == []


def test_retire_rewrites_the_file_without_the_row(db, add_hand_canaries, tmp_path, cli):
    canaries = add_hand_canaries("billing", count=3, kind="billing")
    target = tmp_path / "p.csv"
    assert plant(db, "billing", target.as_uri()).ok
    result = cli("retire", canaries[1]["id"])
    assert result.exit_code == 0, result.output
    ipps = [row["ipp"] for row in csv.DictReader(io.StringIO(target.read_text()), delimiter=";")]
    assert ipps == [canaries[0]["ipp"], canaries[2]["ipp"]]
    report = retire(db, select_for_retire(db, system="billing"))
    assert len(report.retired) == 2
    assert target.read_text().count("\n") == 1  # header only


def test_bad_file_options_and_targets(db, add_hand_canaries, tmp_path):
    add_hand_canaries("billing", count=1, kind="billing")
    with pytest.raises(CanaryError, match="delimiter"):
        plant(db, "billing", (tmp_path / "x.csv").as_uri(), delimiter=";;")
    with pytest.raises(CanaryError, match="unknown encoding"):
        plant(db, "billing", (tmp_path / "x.csv").as_uri(), encoding="klingon")
    report = plant(db, "billing", (tmp_path / "missing" / "x.csv").as_uri())
    assert report.stopped and "does not exist" in report.stopped
    report = plant(db, "billing", tmp_path.as_uri())
    assert report.stopped and "it is a folder" in report.stopped


def test_a_fictitious_identity_is_never_planted(db, add_hand_canaries, tmp_path):
    canaries = add_hand_canaries("billing", count=2, kind="billing")
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canaries[0]["id"]]).fetchone()[0])
    db.execute("UPDATE canaries SET record = ? WHERE id = ?",
               [json.dumps(record | {"identity_status": "FICT"}), canaries[0]["id"]])
    db.conn.commit()
    target = tmp_path / "p.json"
    report = plant(db, "billing", target.as_uri())
    assert report.planted == [canaries[1]["id"]] and "'FICT' would single the record out" in report.failed[0][1]
    assert [row["ipp"] for row in json.loads(target.read_text())] == [canaries[1]["ipp"]]


def test_mediboard_matricule_for_every_identity_status(db, add_hand_canaries, tmp_path):
    canaries = add_hand_canaries("billing", count=4, kind="billing")
    for canary, status in zip(canaries, ("QUAL", "RECUP", "VALI", "PROV"), strict=True):
        _edit(db, canary["id"], identity_status=status)
    target = tmp_path / "patients.csv"
    assert plant(db, "billing", target.as_uri(), mapping="mediboard").ok
    rows = {row["_IPP"]: row for row in csv.DictReader(io.StringIO(target.read_text()), delimiter=";")}
    assert {rows[c["ipp"]]["status"]: rows[c["ipp"]]["matricule"] for c in canaries} == {
        "QUAL": canaries[0]["nir"], "RECUP": canaries[1]["nir"], "VALI": canaries[2]["nir"], "PROV": canaries[3]["nir"]}
    # The default mapping's nir column is the INS: a qualified identity only.
    default = tmp_path / "default.csv"
    assert plant(db, "billing", default.as_uri()).ok
    nirs = {row["ipp"]: row["nir"] for row in csv.DictReader(io.StringIO(default.read_text()), delimiter=";")}
    assert [nirs[c["ipp"]] for c in canaries] == [canaries[0]["nir"], "", "", ""]
