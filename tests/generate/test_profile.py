"""Host profile: aggregates only, the round trip from an export, the generator following it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from canary.generate.admin import department_of
from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.patient import PatientGenerator
from canary.generate.profile import MIN_COUNT, HostProfile, build_profile, read_export
from canary.normalize import phone_key
from tests.support.generate import generate_batch
from tests.support.host_population import IPP_HIGH, IPP_LOW, TODAY, write_host_export


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


@pytest.fixture(scope="module")
def host_export(tmp_path_factory, reference, geography):
    path = tmp_path_factory.mktemp("host") / "patients.csv"
    rows, truth = write_host_export(path, reference, 3000, geography=geography)
    return path, rows, truth


@pytest.fixture(scope="module")
def host_profile(host_export):
    path, _, _ = host_export
    columns, rows = read_export(path)
    return build_profile(columns, rows, None, today=TODAY)


def _counts(profile: dict) -> list[int]:
    out = []
    for part in (profile["pyramid"], profile["email_domains"], profile["identity_status"],
                 *profile["geography"].values()):
        if part:
            out += list(part["counts"].values())
    return out


def test_profile_keeps_aggregates_with_small_groups_suppressed(host_profile, host_export):
    _, rows, truth = host_export
    assert host_profile["patients"] == 3000
    assert all(n >= MIN_COUNT for n in _counts(host_profile))
    assert host_profile["pyramid"]["other"] >= 0
    women = sum(n for k, n in host_profile["pyramid"]["counts"].items() if k.startswith("F:"))
    assert abs(women / 3000 - truth.women) < 0.01
    outside = 1 - host_profile["geography"]["department"]["counts"]["69"] / 3000
    assert abs(outside - truth.outside_department) < 0.005
    assert abs(host_profile["contact"]["email"]["all"] - 0.55) < 0.04
    assert abs(host_profile["contact"]["phone"]["all"] - 0.94) < 0.03
    ipp = host_profile["ipp"]
    assert ipp["length"] == 8 and ipp["prefix"] == ""
    assert IPP_LOW <= ipp["low"] < IPP_LOW + 20_000 and IPP_HIGH - 20_000 < ipp["high"] <= IPP_HIGH
    assert set(host_profile["identity_status"]["counts"]) == {"VALI", "QUAL", "PROV", "RECUP"}
    assert host_profile["names"]["name_upper"] == 1.0 and host_profile["names"]["first_name_upper"] == 0.0


def test_no_raw_value_reaches_the_registry(cli, db_path, host_export):
    path, rows, _ = host_export
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", "69383")
    built = cli("profile", "build", "ehr-lyon", str(path))
    assert built.exit_code == 0, built.output
    stored = b"".join(p.read_bytes() for p in Path(db_path).parent.glob(db_path.name + "*"))
    raw = set()
    for row in rows[::5]:  # a fifth of the patients keeps the scan fast; any leak would show in all
        raw |= {row["nom"], row["prenom"], row["naissance"], row["adresse"], row["ipp"]}
        raw |= {v for v in (row["tel"], row["tel2"], row["email"]) if v}
        raw |= {phone_key(v) for v in (row["tel"], row["tel2"]) if v}
        raw |= {row["email"].split("@")[0] for _ in [0] if row["email"]}
    leaked = sorted(v for v in raw if v and v.encode() in stored)
    assert leaked == []
    shown = json.loads(cli("profile", "show", "ehr-lyon", "--json").output)
    assert shown["patients"] == 3000 and "built_at" in shown
    shown_text = cli("profile", "show", "ehr-lyon").output
    assert "ipp:" in shown_text and "e-mail providers, age 75-200: orange.fr=" in shown_text


def test_unknown_columns_are_one_line_and_nothing_is_stored(cli, tmp_path, host_export):
    path, _, _ = host_export
    text = path.read_text(encoding="utf-8").replace("ipp;status", "NUMDOS;status", 1)
    odd = tmp_path / "odd.csv"
    odd.write_text(text, encoding="utf-8")
    cli("system", "add", "ehr-lyon", "--kind", "ehr")
    result = cli("profile", "build", "ehr-lyon", str(odd))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {odd}: unknown columns 'NUMDOS'; map them with --mapping COLUMN=FIELD (FIELD: sex, birth_date, "
        "postcode, commune_code, phone, email, identity_status, ipp, name, first_name, gp, birth_commune, "
        "birth_postcode, birth_country, birth_place, ignore)"]
    assert cli("profile", "show", "ehr-lyon").exit_code == 1
    mapped = cli("profile", "build", "ehr-lyon", str(odd), "--mapping", "NUMDOS=ipp")
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(cli("profile", "show", "ehr-lyon", "--json").output)["ipp"]["length"] == 8
    bad = cli("profile", "build", "ehr-lyon", str(odd), "--mapping", "NUMDOS=numero")
    assert bad.exit_code == 1 and "--mapping 'NUMDOS=numero'" in bad.output


def test_a_failed_rebuild_keeps_the_previous_profile(cli, tmp_path, host_export):
    path, _, _ = host_export
    cli("system", "add", "ehr-lyon", "--kind", "ehr")
    assert cli("profile", "build", "ehr-lyon", str(path)).exit_code == 0
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    assert cli("profile", "build", "ehr-lyon", str(empty)).output.startswith("error: ")
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("sexe;naissance;cp\nf;12/03/1980;69003\n", encoding="latin-1")
    assert cli("profile", "build", "ehr-lyon", str(tiny)).output == (
        f"error: {tiny}: 1 patients, fewer than 10: their aggregates would single them out\n")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"sex": "F",', encoding="utf-8")
    assert cli("profile", "build", "ehr-lyon", str(broken)).output.count("\n") == 1
    assert json.loads(cli("profile", "show", "ehr-lyon", "--json").output)["patients"] == 3000


def test_canary_export_keys_are_understood(cli, tmp_path):
    cli("config", "set", "pool.phones", "+33756120000-+33756120999")
    cli("system", "add", "ehr-a", "--kind", "ehr", "--commune", "29019")
    cli("system", "add", "ehr-b", "--kind", "ehr")
    cli("seed", "ehr-a", "--count", "40", "--seed", "1")
    exported = tmp_path / "a.json"
    cli("export", "--system", "ehr-a", "--format", "json", "-o", str(exported))
    built = cli("profile", "build", "ehr-b", str(exported))
    assert built.exit_code == 0, built.output
    profile = json.loads(cli("profile", "show", "ehr-b", "--json").output)
    assert profile["patients"] == 40 and profile["ipp"]["length"] == 9
    assert profile["geography"]["department"]["counts"].get("29", 0) >= 25
    csv_export = tmp_path / "a.csv"
    cli("export", "--system", "ehr-a", "--format", "csv", "-o", str(csv_export))
    assert cli("profile", "build", "ehr-b", str(csv_export)).exit_code == 0


def test_generator_follows_the_profile(reference, pools, geography, host_profile, host_export):
    _, _, truth = host_export
    profile = HostProfile.from_data(host_profile, reference.communes)
    site = Site(reference.communes["69383"], "commune")
    catchment = Catchment.around(reference.communes, geography, site)
    generator = PatientGenerator(reference, pools, catchment=catchment, profile=profile, geography=geography)
    records = generate_batch(generator, 1500, seed=8)
    n = len(records)
    assert all(len(r["ipp"]) == 8 and profile.ipp_in_range(r["ipp"]) for r in records)
    assert abs(sum(r["sex"] == "F" for r in records) / n - truth.women) < 0.04
    outside = sum(department_of(r["address"]["commune_code"]) != "69" for r in records) / n
    assert abs(outside - truth.outside_department) < 0.04
    no_phone = sum(not r["phones"] for r in records) / n
    assert abs(no_phone - (1 - host_profile["contact"]["phone"]["all"])) < 0.03
    statuses = Counter(r["identity_status"] for r in records)
    assert abs(statuses["VALI"] / n - 0.60) < 0.05 and abs(statuses["RECUP"] / n - 0.05) < 0.03
    # As many records name a treating physician as the host's do (7 in 10 in this export).
    assert host_profile["gp"] == 0.7
    assert abs(sum(bool(r["gp"]) for r in records) / n - 0.7) < 0.02
    # Without a profile: 9 random digits and the national status mix, as before.
    plain = generate_batch(PatientGenerator(reference, pools, geography=geography), 200, seed=8)
    assert all(len(r["ipp"]) == 9 for r in plain)


def test_ipp_range_ends_are_nobody_s_number():
    from canary.generate.profile import ipp_format

    ipps = [str(n) for n in range(12000, 12400)] + ["12400"]  # short, dense, ends on round numbers
    found = ipp_format(ipps)
    assert found is not None and found["length"] == 5
    assert str(found["low"]) not in ipps and str(found["high"]) not in ipps
    assert found["low"] < 12010 and found["high"] > 12390
    prefixed = ipp_format([f"P{n:07d}" for n in range(4_100_123, 4_160_123, 37)])
    assert prefixed is not None and prefixed["prefix"] == "P" and prefixed["length"] == 8


@pytest.mark.parametrize(("fmt", "mapping"), [("csv", "mediboard"), ("json", "mediboard"), ("csv", "default"),
                                              ("json", "default")])
def test_files_written_by_the_planter_are_understood(cli, db, generator, tmp_path, fmt, mapping):
    from canary.generate.seeding import seed_system

    cli("system", "add", "billing", "--kind", "billing")
    cli("system", "add", "ehr-b", "--kind", "ehr")
    seed_system(db, "billing", 30, generator, seed=2, today=TODAY)
    target = tmp_path / f"patients.{fmt}"
    planted = cli("plant", "billing", "--to", target.as_uri(), "--format", fmt, "--mapping", mapping)
    assert planted.exit_code == 0, planted.output
    built = cli("profile", "build", "ehr-b", str(target))
    assert built.exit_code == 0, built.output
    profile = json.loads(cli("profile", "show", "ehr-b", "--json").output)
    assert profile["patients"] == 30 and sum(profile["pyramid"]["counts"].values()) + profile["pyramid"]["other"] == 30
    assert profile["contact"]["phone"]["all"] is not None


def test_profile_learns_the_e_mail_provider_mix_by_age(host_profile, host_export, reference, pools):
    from dataclasses import replace

    from canary.generate.mail_providers import age_group

    learned = host_profile["email_providers"]
    assert set(learned) == {"0-14", "15-29", "30-44", "45-59", "60-74", "75-200"}
    for group in learned.values():
        assert all(n >= MIN_COUNT for n in group["counts"].values()) and group["other"] >= 0
    old, young = learned["75-200"]["counts"], learned["15-29"]["counts"]
    assert max(old, key=old.get) == "orange.fr" and max(young, key=young.get) == "gmail.com"
    # Canaries at the operator's providers follow the host's mix of their age group.
    providers = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr", "wanadoo.fr",
                 "yahoo.fr", "outlook.fr", "icloud.com")
    generator = PatientGenerator(reference, replace(pools, mail_domains=(), mailbox_providers=providers),
                                 profile=HostProfile.from_data(host_profile, reference.communes))
    batch = generate_batch(generator, 3000, seed=6)
    by_group: dict[str, Counter] = {}
    for record in batch:
        for point in record.get("contact_points", []):
            if point["kind"] == "email" and point["value"]:
                age = TODAY.year - int(record["birth_date"][:4])
                by_group.setdefault(age_group(age), Counter())[point["provider"]] += 1
    for group in ("75-200", "15-29"):
        seen, host = by_group[group], learned[group]["counts"]
        isp = ("orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr")
        share = sum(seen[p] for p in isp) / sum(seen.values())
        assert abs(share - sum(host.get(p, 0) for p in isp) / sum(host.values())) < 0.12, (group, seen)
