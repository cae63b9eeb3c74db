"""Reformatted sightings are found; near misses are not (precision matters as much as recall)."""

from __future__ import annotations

import pytest

from tests.support.sweep import found

HELENE = "sw0000"  # LEFÈVRE (used name DUPRÉ) Hélène, 1965-03-12, +33612345678, NIR 2650369123456xx


def _nir(sweep_canaries) -> str:
    return sweep_canaries[0]["nir"]


def _write(tmp_path, text: str, encoding: str = "utf-8", name: str = "leak.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("phone", ["0612345678", "06 12 34 56 78", "06.12.34.56.78", "06-12-34-56-78",
                                   "+33 6 12 34 56 78", "+33612345678", "0033612345678", "0033 6 12 34 56 78",
                                   "+33 (0)6 12 34 56 78", "(+33) 6 12 34 56 78"])
def test_phone_in_every_french_form(tmp_path, run_scan, phone):
    report = run_scan(_write(tmp_path, f"contact;{phone};rappeler\n"))
    assert found(report) == {HELENE: ["phone"]}
    assert report.findings[0].severity == "critical"
    assert report.findings[0].confidence == "high"


@pytest.mark.parametrize("form", ["plain", "spaced", "vitale", "no_key", "dotted"])
def test_nir_with_and_without_spaces_and_key(tmp_path, run_scan, sweep_canaries, form):
    nir = _nir(sweep_canaries)
    text = {"plain": nir, "spaced": " ".join(nir), "dotted": ".".join([nir[0], nir[1:3], nir[3:5], nir[5:7],
                                                                        nir[7:10], nir[10:13], nir[13:]]),
            "vitale": f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}",
            "no_key": nir[:13]}[form]
    assert found(run_scan(_write(tmp_path, f"NIR: {text}\n"))) == {HELENE: ["nir"]}


@pytest.mark.parametrize("birth", ["12/03/1965", "1965-03-12", "12.03.1965", "12031965", "12-03-1965",
                                   "19650312", "1965-03-12T00:00:00Z"])
def test_birth_date_forms(tmp_path, run_scan, birth):
    assert found(run_scan(_write(tmp_path, f"LEFEVRE Helene ne(e) le {birth}\n"))) == {
        HELENE: ["name", "first_name", "birth_date"]}


@pytest.mark.parametrize("identity", ["LEFÈVRE HÉLÈNE", "Lefèvre Hélène", "lefevre helene", "LEFEVRE HELENE",
                                      "Hélène DUPRÉ", "dupre;helene", "Dupré (née Lefèvre) Hélène"])
def test_case_accents_and_used_or_birth_name(tmp_path, run_scan, identity):
    report = run_scan(_write(tmp_path, f"{identity};12/03/1965\n"))
    assert set(found(report)[HELENE]) >= {"name", "first_name", "birth_date"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
def test_encodings(tmp_path, run_scan, encoding):
    text = "nom;prénom;né le\nDURAND;Paul;01/01/1950\nLEFÈVRE;Hélène;12/03/1965\n"
    report = run_scan(_write(tmp_path, text, encoding))
    assert found(report) == {HELENE: ["name", "first_name", "birth_date"]}
    assert report.findings[0].line == 3


def test_email_token_hostname_and_ipp_pairs(tmp_path, run_scan, sweep_canaries):
    token = sweep_canaries[2]["token"]
    text = ("mail: Helene.Lefevre@Mail.Example.FR\n"
            f"GET /documents/{token} HTTP/1.1\n"
            "IPP 40000103 PETIT-MARTIN\n")
    report = run_scan(_write(tmp_path, text))
    fields = found(report)
    assert set(fields) == {HELENE, "sw0002", "sw0003"}
    assert "email" in fields[HELENE] and fields["sw0002"] == ["token"] and fields["sw0003"] == ["name", "ipp"]
    assert {f.canary_id: f.confidence for f in report.findings}["sw0003"] == "low"


# --- near misses: none of these is a finding ---------------------------------------------------------

@pytest.mark.parametrize("text", [
    "LEFEVRE;Hélène;13/03/1965\n",               # same name, another birth date
    "LEFEVRE;Hélène;12/03/1966\n",
    "LEFEVRE;Hélène;Lyon 69003\n",               # name + first name + postcode only
    "tel 10612345678\n",                         # the phone's digits inside a longer digit run
    "ref 06123456789\n",
    "compte 330612345678901\n",
    "06 12 34 56 789\n",
    "Helene.Lefevre@mail.example.fr.evil.org x.helene.lefevre@mail.example.fr\n",  # longer addresses
    "LEFEVRE;Paul;01/01/1950\nDURAND;Hélène;12/03/1965\n",  # the two halves in two records
])
def test_near_misses_are_not_findings(tmp_path, run_scan, text):
    assert found(run_scan(_write(tmp_path, text))) == {}


def test_nir_with_one_digit_changed_is_not_a_finding(tmp_path, run_scan, sweep_canaries):
    nir = _nir(sweep_canaries)
    for position in (0, 6, 12, 14):  # in the body and in the key
        changed = nir[:position] + str((int(nir[position]) + 1) % 10) + nir[position + 1:]
        assert found(run_scan(_write(tmp_path, f"NIR {changed}\n"))) == {}, changed
