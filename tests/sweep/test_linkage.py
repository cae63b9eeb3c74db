"""A sighting is a scored record match: fields in their roles, one token one field, contradictions count.

Each case is a reproduction from a sweep of a large decoy dump where the old rule (two weak fields
anywhere in the record) raised a false finding, or missed the true row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from canary.generate.seeding import derive_token
from canary.store.registry import add_canaries, add_system
from canary.watch.sweep.index import build_index
from canary.watch.sweep.layout import Layout, role_of
from canary.watch.sweep.linkage import (
    BUCKETS_PER_BIT,
    EXPECTED_FALSE_LOW,
    EXPECTED_FALSE_MEDIUM,
    grade_score,
    records_in,
    surname_ranks,
    surname_share,
    thresholds,
)
from tests.support.records import make_record

ROBERT = {"sex": "M", "birth_name": "ROBERT", "used_name": None, "first_names": ["Jean-Claude", "Robert"],
          "birth_date": "1950-04-07", "phones": [], "email": None, "ipp": "51000001"}
RICHARD = {"sex": "M", "birth_name": "RICHARD", "used_name": None, "first_names": ["Richard"],
           "birth_date": "1962-09-30", "phones": [], "email": None, "ipp": "51000002"}
PIERRE = {"sex": "M", "birth_name": "ADAM", "used_name": None, "first_names": ["Pierre"],
          "birth_date": "1971-01-15", "phones": [], "email": None, "ipp": "51000003"}
MONIQUE = {"sex": "F", "birth_name": "GOURVES", "used_name": "CHEVALLIER", "first_names": ["Monique", "Anne"],
           "birth_date": "1961-04-02", "phones": [], "email": None, "ipp": "51000004"}
HUBERT = {"sex": "M", "birth_name": "HUBERT", "used_name": None, "first_names": ["Luc"],
          "birth_date": "1958-11-23", "phones": [], "email": None, "ipp": "51000005"}


@pytest.fixture
def people(db, sweep_canaries):
    add_system(db, "ehr-brest", "ehr", establishment="CHU de test")
    rows = []
    for i, person in enumerate((ROBERT, RICHARD, PIERRE, MONIQUE, HUBERT)):
        cid = f"lk{i:04d}"
        record = make_record(300 + i, **person)
        record["nir"] = None
        rows.append({"id": cid, "system": "ehr-brest", "generation": 1, "created_at": "2026-01-01T00:00:00Z",
                     "token": derive_token("k", cid), **record})
    add_canaries(db, rows)
    return {r["birth_name"]: r["id"] for r in rows}


@pytest.fixture
def scan_text(tmp_path: Path, run_scan):
    def _scan(text: str, name: str = "dump.csv"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return {f.canary_id: f for f in run_scan(path).findings}
    return _scan


def test_one_token_serves_one_field(scan_text, people):
    """ROBERT as family name must not also count as the canary's first name ROBERT."""
    found = scan_text("dossier ROBERT 07/04/1950 admis en cardiologie\n", "note.txt")
    finding = found.get(people["ROBERT"])
    assert finding is None or "first_name" not in finding.fields
    found = scan_text("RICHARD, né le 30/09/1962\n", "note.txt")
    finding = found.get(people["RICHARD"])
    assert finding is None or finding.fields == ["name", "birth_date"]


def test_a_different_first_name_in_its_column_rules_the_row_out(scan_text, people):
    found = scan_text("nom;prenom;date_naissance;ville\nROBERT;Marcel;07/04/1950;Brest\n"
                      "RICHARD;Philippe;30/09/1962;Lille\n")
    assert found == {}


def test_the_same_row_with_the_right_first_name_is_found(scan_text, people):
    found = scan_text("nom;prenom;date_naissance;ville\nROBERT;Jean-Claude;07/04/1950;Brest\n")
    finding = found[people["ROBERT"]]
    assert finding.fields == ["name", "first_name", "birth_date"] and finding.structured
    assert finding.disagreed == ["city"] and finding.score > 0


def test_a_different_birth_date_in_its_column_weighs_against(scan_text, people):
    found = scan_text("nom;prenom;naissance;ipp\nROBERT;Jean-Claude;08/04/1950;51000001\n")
    assert found == {}


def test_words_of_a_street_are_not_names(scan_text, people):
    """'avenue Pierre Adam' and 'boulevard Hubert' in the address column or in free text."""
    csv_rows = ("nom;prenom;naissance;adresse\nMARTIN;Paul;15/01/1971;12 avenue Pierre Adam\n"
                "DUBOIS;Marc;23/11/1958;4 boulevard Hubert\n")
    assert scan_text(csv_rows) == {}
    free = ("MARTIN Paul, 15/01/1971, 12 avenue Pierre Adam, Lyon\n"
            "DUBOIS Marc 23/11/1958 4 boulevard Hubert Nantes\n")
    assert scan_text(free, "paste.txt") == {}


def test_names_inside_an_email_address_are_not_names(scan_text, people):
    assert scan_text("contact pierre.adam@exemple.fr le 15/01/1971\n", "paste.txt") == {}


def test_married_name_row_is_found_at_its_row_not_at_a_chance_match(scan_text, people):
    """A chance match of the birth name and birth date comes first; the true row (used name, first
    name, birth date) comes later and is the one reported."""
    text = "GOURVES 02/04/1961 consultation\n" + "DURAND;Paul;01/01/1950\n" * 3 + "CHEVALLIER;Monique;02/04/1961\n"
    finding = scan_text(text, "paste.txt")[people["GOURVES"]]
    assert finding.line == 5
    assert finding.fields == ["name", "first_name", "birth_date"]


def test_sql_columns_from_the_insert_and_from_create_table(scan_text, people):
    explicit = ("INSERT INTO `patients` (`id`,`nom`,`prenom`,`naissance`) VALUES "
                "(1,'ROBERT','Marcel','1950-04-07'),(2,'ROBERT','Jean-Claude','1950-04-07');\n")
    found = scan_text(explicit, "dump.sql")
    assert found[people["ROBERT"]].structured and found[people["ROBERT"]].fields == [
        "name", "first_name", "birth_date"]
    created = ("CREATE TABLE `patients` (\n  `patient_id` int NOT NULL,\n  `nom` varchar(255),\n"
               "  `prenom` varchar(255),\n  `naissance` date,\n  PRIMARY KEY (`patient_id`)\n);\n"
               "INSERT INTO `patients` VALUES (1,'RICHARD','Philippe','1962-09-30');\n")
    assert scan_text(created, "dump.sql") == {}


def test_create_table_in_any_case_and_spacing_names_the_columns(scan_text, people):
    """The column list is learnt whatever the case of CREATE TABLE and the blanks between its words."""
    body = ("`patients` (\n  `patient_id` int NOT NULL,\n  `nom` varchar(255),\n  `prenom` varchar(255),\n"
            "  `naissance` date\n);\nINSERT INTO `patients` VALUES (1,'RICHARD','Philippe','1962-09-30');\n")
    assert scan_text("INSERT INTO `other` VALUES (1,'RICHARD','Philippe','1962-09-30');\n", "dump.sql")
    for opening in ("create table ", "Create\tTable ", "CREATE\n  TABLE "):
        assert scan_text(opening + body, "dump.sql") == {}, opening


def test_json_keys_are_roles(scan_text, people):
    rows = [{"nom": "ADAM", "prenom": "Louis", "naissance": "1971-01-15"},
            {"nom": "ADAM", "prenom": "Pierre", "naissance": "1971-01-15"}]
    found = scan_text("\n".join(json.dumps(r) for r in rows) + "\n", "dump.jsonl")
    assert found[people["ADAM"]].line == 2 and found[people["ADAM"]].structured


def test_hl7_pid_positions(scan_text, people):
    message = ("MSH|^~\\&|APP|FAC|||20260101||ADT^A28|1|P|2.5\r"
               "PID|1||51000009^^^HOP^PI||CHEVALLIER^Monique^^^MME^^D~GOURVES^Monique^MONIQUE ANNE^^^^L||19610402|F\n")
    found = scan_text(message, "feed.hl7")
    assert found[people["GOURVES"]].fields[:3] == ["name", "first_name", "birth_date"]


def test_thresholds_grow_with_the_scan(db, people):
    coincidence = build_index(db, use_cache=False).coincidence
    small_low, small_medium = thresholds(coincidence, records_in(10_000), structured=True)
    big_low, big_medium = thresholds(coincidence, records_in(1 << 30), structured=True)
    assert (small_low, small_medium) == (20.0, 30.0)
    assert big_low > small_low and big_medium > big_low
    # Free text demands more than a record with known columns.
    assert thresholds(coincidence, records_in(1 << 30), structured=False)[0] > big_low
    # The thresholds keep the expected chance matches of a 1 GB scan under 8 (low) and 0.5 (medium).
    records = records_in(1 << 30)
    for threshold, bound in ((big_low, EXPECTED_FALSE_LOW), (big_medium, EXPECTED_FALSE_MEDIUM)):
        expected = records * sum(coincidence[int(round(threshold * BUCKETS_PER_BIT)):])
        assert expected <= bound
    assert grade_score(big_low - 0.5, True, coincidence, records) is None
    assert grade_score(big_medium, True, coincidence, records) == ("medium", "high")
    assert surname_share(1) > surname_share(1000) > surname_share(40_000) > surname_share(None)


def test_family_names_are_ranked_from_the_shipped_table():
    """The table is ``name, residents, births``: a frequent name must not weigh as a rare one."""
    from canary.generate.admin import default_seeds_dir

    ranks = surname_ranks(default_seeds_dir())
    assert ranks["MARTIN"] == 1 and ranks["ROBERT"] < 20 and ranks["RICHARD"] < 20
    assert ranks["GOURVES"] > 100 and len(ranks) > 100_000


def test_column_roles_in_french_and_english():
    assert [role_of(c) for c in ("Nom", "PRÉNOM", "date_naissance", "DOB", "cp", "tel_autre", "nom_jeune_fille",
                                 "prenom_2", "ville", "matricule", "commentaire")] == [
        "name", "first_name", "birth_date", "birth_date", "postcode", "phone", "name", "first_name", "city",
        "nir", None]
    layout = Layout()
    layout.learn_header("id;commentaire;statut")
    assert layout.delimiter is None  # a header naming no identity field gives no structure


# --- a lone contact value is a lead, not a page (issue: 5 pages for e-mails on rows of other people) -------

HELENE_MAIL = "helene.lefevre@mail.example.fr"  # name-shaped, like the consumer mailboxes the generator proposes
OTHER_NIR = "170027505612345"
HEADER = "nom;prenom;ddn;adresse;cp;ville;email;nir\n"


def _other_nir() -> str:
    body = OTHER_NIR[:13]
    return body + f"{97 - int(body) % 97:02d}"


def test_an_email_on_a_row_of_someone_else_is_a_low_lead(scan_text, people):
    """The issue's reproduction: the address agrees, name, first name, birth date, address, postcode,
    city and NIR all disagree."""
    found = scan_text(HEADER + f"HENRY;Nadine;01/02/1970;3 rue Vauban;75001;Paris;{HELENE_MAIL};{_other_nir()}\n")
    finding = found["sw0000"]
    assert (finding.confidence, finding.severity) == ("low", "low")
    assert finding.fields == ["email"] and finding.score < 0
    assert set(finding.disagreed) >= {"name", "first_name", "birth_date", "nir"}


def test_a_phone_against_first_name_and_birth_date_is_a_lead(scan_text, people):
    found = scan_text("nom;prenom;ddn;tel\nHENRY;Nadine;01/02/1970;06 12 34 56 78\n")
    assert (found["sw0000"].confidence, found["sw0000"].fields) == ("low", ["phone"])
    # Her family name beside it: two independent fields, a page.
    found = scan_text("nom;prenom;ddn;tel\nLEFEVRE;Nadine;01/02/1970;06 12 34 56 78\n")
    assert (found["sw0000"].confidence, found["sw0000"].fields) == ("high", ["phone", "name"])


def test_an_email_with_no_contradiction_still_pages(scan_text, people):
    found = scan_text(f"2026-01-02 10:00 mail from <{HELENE_MAIL}> relayed\n", "mail.log")
    assert (found["sw0000"].confidence, found["sw0000"].severity) == ("high", "critical")
    found = scan_text(HEADER + f"LEFEVRE;Hélène;;;;;{HELENE_MAIL};\n")  # her name is in the address: still one
    assert found["sw0000"].confidence == "high"


def test_two_independent_identity_fields_page_at_once(scan_text, people):
    # E-mail and birth date agree; the rest of the row is someone else's (first name, city).
    found = scan_text(HEADER + f"HENRY;Nadine;12/03/1965;;;Paris;{HELENE_MAIL};\n")
    assert found["sw0000"].confidence == "high"
    found = scan_text("nom;prenom;ddn;tel;email\nHENRY;Nadine;01/02/1970;0612345678;" + HELENE_MAIL + "\n")
    assert found["sw0000"].confidence == "high"


def test_an_agreeing_nir_pages_whatever_else_disagrees(scan_text, people, sweep_canaries):
    nir = sweep_canaries[0]["nir"]
    found = scan_text(HEADER + f"HENRY;Nadine;01/02/1970;3 rue Vauban;75001;Paris;;{nir}\n")
    assert (found["sw0000"].confidence, found["sw0000"].fields) == ("high", ["nir"])
