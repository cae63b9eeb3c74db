"""The self-audit (`canary plan SYSTEM --against EXPORT`): a classifier test between a trial batch and the
host's real rows, its single-feature filters, and what is stored of it (figures only)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from canary.generate.audit import auc_interval, places_for, run_audit
from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.patient import PatientGenerator
from canary.generate.profile import read_export
from tests.support.generate import TODAY, generate_batch, owned_pool
from tests.support.host_population import SITE, write_host_export

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


@pytest.fixture(scope="module")
def host_rows(tmp_path_factory, reference, geography):
    """3,000 patients of the synthetic Lyon host, with a birth-place column (born in the Rhône or not)."""
    path = tmp_path_factory.mktemp("host") / "patients.csv"
    rows, _ = write_host_export(path, reference, 3000, geography=geography)
    rng = random.Random(5)
    rhone = [c for c in reference.communes.values() if c.department == "69"][:50]
    elsewhere = [c for c in reference.communes.values() if c.department not in ("69", "2A", "2B")][::500]
    for row in rows:
        row["commune_naissance_insee"] = rng.choice(rhone if rng.random() < 0.68 else elsewhere).code
    return rows


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return path


def as_record(row: dict[str, str]) -> dict:
    """A real row in the generator's record shape (the sanity check: 'canaries' that are real patients)."""
    return {"birth_name": row["nom"], "first_names": [row["prenom"]], "sex": row["sexe"].upper(),
            "birth_date": row["naissance"], "address": {"postcode": row["cp"], "commune_code": None},
            "birth_place": {"code": row.get("commune_naissance_insee")},
            "phones": [p for p in (row["tel"], row["tel2"]) if p], "email": row["email"] or None,
            "ipp": row["ipp"], "identity_status": row["status"]}


def audit(reference, geography, tmp_path, real_rows, canaries, columns=None):
    site = Site(reference.communes[SITE], "commune")
    path = write_rows(tmp_path / "export.csv", [{k: r[k] for k in (columns or r)} for r in real_rows])
    found, rows = read_export(path)
    return run_audit(found, rows, canaries, mapping=None, places=places_for(reference, geography, site),
                     site_department="69", today=TODAY, seed=3)


def test_real_patients_split_at_random_are_not_told_apart(reference, geography, tmp_path, host_rows):
    rows = list(host_rows)
    random.Random(8).shuffle(rows)
    figures = audit(reference, geography, tmp_path, rows[600:], [as_record(r) for r in rows[:600]])
    assert figures["rows"] == 2400 and figures["trial"] == 600 and figures["per_side"] == 600
    assert 0.4 < figures["auc"] < 0.6, figures
    low, high = figures["auc_ci"]
    assert low < figures["auc"] < high and high - low < 0.15
    assert max(f["advantage"] for f in figures["filters"]) <= 0.05, figures["filters"][:3]
    assert not any(f["exceeds"] for f in figures["filters"])
    names = {f["name"] for f in figures["filters"]}
    assert {"born in the site's department", "born after the next IPP's patient (days)",
            "surname frequency in the dump", "e-mail provider share in the age group",
            "phone 1,000-block density", "IPP rank minus birth date rank"} <= names
    assert figures["unchecked"] == []


def test_generated_canaries_against_this_host_are_told_apart(reference, geography, tmp_path, host_rows):
    """The host's names are random letters and its IPPs 8 digits: today's canaries stand out."""
    lyon = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))
    canaries = generate_batch(PatientGenerator(reference, owned_pool(), catchment=lyon, geography=geography),
                              300, seed=4)
    figures = audit(reference, geography, tmp_path, host_rows, canaries)
    assert figures["auc"] > 0.9 and figures["auc_ci"][0] > 0.85
    assert figures["features"] and figures["features"][0]["importance"] > 0
    top = figures["filters"][0]
    assert top["exceeds"] and top["advantage"] > 0.3
    assert abs(top["canaries_flagged"] - top["patients_flagged"]) >= top["advantage"]


def test_missing_columns_are_named(reference, geography, tmp_path, host_rows):
    kept = ["nom", "prenom", "naissance", "sexe", "cp", "tel", "email", "status"]
    figures = audit(reference, geography, tmp_path, host_rows[300:], [as_record(r) for r in host_rows[:300]],
                    columns=kept)
    assert "birth place (no birth-place column)" in figures["unchecked"]
    assert "IPP order against birth dates (no IPP column)" in figures["unchecked"]
    names = {f["name"] for f in figures["filters"]}
    assert "IPP rank" not in names and "born in the site's department" not in names
    assert "surname frequency in the dump" in names


def test_auc_interval_narrows_with_size():
    low, high = auc_interval(0.5, 100, 100)
    small = high - low
    low, high = auc_interval(0.5, 1000, 1000)
    assert high - low < small / 2 and low < 0.5 < high
    assert auc_interval(1.0, 50, 50) == (1.0, 1.0)


@pytest.fixture
def lyon_export(tmp_path, host_rows) -> Path:
    return write_rows(tmp_path / "patients.csv", host_rows)


def test_plan_against_reports_and_stores_figures_only(cli, db_path, lyon_export, host_rows):
    cli("config", "set", "pool.phones", "+33612300000-+33612399999")
    cli("config", "set", "pool.mail_domains", "messagerie-famille.fr")
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE)
    result = cli("plan", "ehr-lyon", "--against", str(lyon_export), "--trial", "200", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"system", "filters", "stealth_budget", "patients"} <= set(report)  # the planner's keys stay
    assert report["patients"] == 3000 and report["canaries"] == 0  # nothing planted, nothing stored as canaries
    audit = report["audit"]
    assert {"auc", "auc_ci", "features", "filters", "unchecked", "built_at"} <= set(audit)
    assert audit["auc"] > 0.9 and audit["trial"] == 200 and audit["rows"] == 3000
    # The registry holds figures: no surname, e-mail, phone, IPP or birth date of the export.
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    raw = [v for row in host_rows[::30] for v in (row["nom"], row["email"], row["tel2"], row["ipp"],
                                                    row["naissance"]) if v]
    assert len(raw) > 200
    assert [v for v in raw if v.encode() in stored] == []
    text = cli("plan", "ehr-lyon")  # later runs show the stored audit
    assert "self-audit of" in text.output and "classifier AUC" in text.output and "carried by" in text.output
    linted = cli("lint", "--json")
    problems = json.loads(linted.output)["problems"]
    assert linted.exit_code == 1
    assert any(p["rule"] == "audit-auc" and p["canary_id"] == "system:ehr-lyon" for p in problems)
    assert any(p["rule"] == "audit-filter" for p in problems)


def test_plan_against_bad_exports_one_line_nothing_stored(cli, db, tmp_path, lyon_export):
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE, "--patients", "1000")
    garbage = tmp_path / "dump.bin"
    garbage.write_bytes(bytes(range(256)) * 40)
    broken = tmp_path / "dump.json"
    broken.write_text('[{"nom": "A", ', encoding="utf-8")
    no_birth = tmp_path / "no-birth.csv"
    no_birth.write_text("nom;prenom;cp\n" + "DURAND;Marie;69003\n" * 60, encoding="utf-8")
    for path, message in ((garbage, "not a text export (binary content"), (broken, "not valid JSON"),
                          (no_birth, "no-birth.csv: the export has no birth-date column"),
                          (tmp_path / "missing.csv", "no such export file")):
        result = cli("plan", "ehr-lyon", "--against", str(path), "--trial", "50")
        assert result.exit_code == 1
        assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
        assert message in result.output
    assert db.execute("SELECT COUNT(*) FROM generate_audits").fetchone()[0] == 0
    assert cli("lint").exit_code == 0  # no audit, no audit warning (and no canary)


def test_without_scikit_learn_one_line_says_what_to_install(cli, db_path, tmp_path, lyon_export):
    """An operator machine without the optional extra: a package that fails to import stands for it."""
    from tests.support.cli import run_canary

    hidden = tmp_path / "hide" / "sklearn"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'sklearn'\")\n", encoding="utf-8")
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE)
    done = run_canary(db_path, "plan", "ehr-lyon", "--against", str(lyon_export), "--trial", "20",
                      env={"PYTHONPATH": str(hidden.parent)})
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: the self-audit needs scikit-learn: pip install 'canary[audit]'"]
    from canary.store import open_db

    with open_db(db_path) as db:
        assert db.execute("SELECT COUNT(*) FROM generate_audits").fetchone()[0] == 0
