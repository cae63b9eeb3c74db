import time
from pathlib import Path

import pytest

from canary.generate.reference import Reference
from canary.generate.text import has_marker_word, is_ins_name

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_loads_fast_and_complete():
    started = time.perf_counter()
    ref = Reference.load(SEEDS)
    assert time.perf_counter() - started < 5  # under 1 s on an idle machine; a busy CI gets slack
    assert len(ref.communes) > 34_000
    assert len(ref.surnames) > 30_000
    assert {(sex, decade) for sex in "FM" for decade in range(1901, 2021, 10)} <= set(ref.first_names)


def test_big_cities_are_there_by_arrondissement(reference):
    assert reference.communes["75111"].postcodes == ("75011",)
    assert reference.communes["75111"].city == "PARIS"
    assert reference.communes["69381"].postcodes == ("69001",)
    assert reference.communes["13216"].city == "MARSEILLE"
    assert "75056" not in reference.communes  # the parent commune has no postcode of its own
    assert reference.communes["2A004"].department == "2A"


def test_names_are_ins_names_with_no_tell_tale_word(reference):
    for name in list(reference.surname_set) + [n for s in reference.first_name_sets.values() for n in s]:
        assert is_ins_name(name), name
        assert not has_marker_word(name), name


def test_decades_and_cohorts():
    assert Reference.decade(1955) == 1951
    assert Reference.decade(1900) == 1901
    assert Reference.decade(2026) == 2011
    assert Reference.birth_era(1930) == 0 and Reference.birth_era(1990) == 3


def test_countries_and_phone_zones(reference):
    assert reference.countries["99350"] == "Maroc"
    assert reference.phone_zones["75"] == "01" and reference.phone_zones["29"] == "02"
    assert reference.phone_zones["974"] == "0262" and reference.phone_zones["2B"] == "04"


def test_seeds_folder_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CANARY_SEEDS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="CANARY_SEEDS"):
        Reference.load()
    monkeypatch.setenv("CANARY_SEEDS", str(SEEDS))
    assert Reference.load().seeds_dir == SEEDS


def test_seed_readme_names_every_table_and_its_licence():
    readme = (SEEDS / "README.md").read_text(encoding="utf-8")
    folders = ("names", "places", "addresses")
    mine = [p for p in SEEDS.rglob("*") if p.is_file() and p.parts[len(SEEDS.parts)] in folders]
    assert mine
    for path in mine:
        assert path.relative_to(SEEDS).as_posix() in readme, path
    for licence in ("MIT", "Licence Ouverte", "GPL"):
        assert licence in readme


def test_seed_tables_stay_small():
    total = sum(p.stat().st_size for p in SEEDS.rglob("*") if p.is_file())
    assert total < 20 * 1024 * 1024
