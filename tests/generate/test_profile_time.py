"""Birth places and IPP/time learnt from a host's export (aggregates only) and followed by the generator."""

from __future__ import annotations

import bisect
import json
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.patient import PatientGenerator
from canary.generate.profile import MIN_COUNT, HostProfile, build_profile, read_export
from canary.generate.profile_births import CATEGORIES
from canary.generate.profile_ipp_time import FREE_PER_SLICE, IppTimeline, new_patients_per_day
from tests.support.generate import generate_batch
from tests.support.host_population import IPP_LOW, SITE, TODAY, YEARS, ipp_high, write_host_export

PATIENTS = 3000


@pytest.fixture(scope="module")
def geography(reference):
    return Geography.load(reference.communes, reference.seeds_dir)


@pytest.fixture(scope="module")
def timed_export(tmp_path_factory, reference, geography):
    path = tmp_path_factory.mktemp("timed") / "patients.csv"
    rows, truth = write_host_export(path, reference, PATIENTS, geography=geography, timed=True)
    return path, rows, truth


@pytest.fixture(scope="module")
def timed_profile(timed_export):
    path, _, _ = timed_export
    columns, rows = read_export(path)
    return build_profile(columns, rows, None, today=TODAY, site_department="69")


@pytest.fixture(scope="module")
def generator_for(reference, pools, geography):
    catchment = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))

    def make(data: dict) -> PatientGenerator:
        profile = HostProfile.from_data(data, reference.communes)
        return PatientGenerator(reference, pools, catchment=catchment, profile=profile, geography=geography)

    return make


def _share(cells: dict, key: str, category: str) -> float:
    cell = cells[key]
    return cell["counts"].get(category, 0) / (sum(cell["counts"].values()) + cell["other"])


def test_profile_learns_birth_places_and_ipp_time_as_aggregates(timed_profile, timed_export):
    _, rows, truth = timed_export
    assert timed_profile["not_learnt"] == {}
    births = timed_profile["births"]
    assert births["site_department"] == "69" and births["patients"] == PATIENTS
    for cell in births["cells"].values():
        assert set(cell["counts"]) <= set(CATEGORIES) and all(n >= MIN_COUNT for n in cell["counts"].values())
    # The synthetic host: 85 % of children and 60-66 % of adults born in their home department.
    assert abs(_share(births["cells"], "0-14:in", "local") - 0.85) < 0.07
    assert abs(_share(births["cells"], "15-59:in", "local") - 0.66) < 0.05
    assert abs(_share(births["cells"], "15-59:in", "abroad") - 0.10) < 0.03
    part = timed_profile["ipp_time"]
    numbers_a_day = (ipp_high(PATIENTS) - IPP_LOW) / (YEARS * 365)
    assert abs(part["rate_per_day"] / numbers_a_day - 1) < 0.2
    assert abs(new_patients_per_day(timed_profile) / (PATIENTS / (YEARS * 365)) - 1) < 0.3
    highest = max(int(r["ipp"]) for r in rows)
    assert highest < part["head"] <= highest + 1000
    assert all(n == 0 or n >= MIN_COUNT for n in part["counts"])
    months = [m for m in part["youngest"] if m]
    assert months == sorted(months) and len(months[0]) == 7  # months, never a patient's day
    # Every lower bound is true: no number of a slice was handed out before the bound of an earlier slice.
    timeline = IppTimeline.from_data(timed_profile)
    assert timeline is not None
    for row, arrived in zip(rows, truth.arrivals, strict=True):
        index = (int(row["ipp"]) - timeline.low) // timeline.width
        if 0 <= index < len(timeline.counts):  # the live range (percentiles): the rest is outside every slice
            assert timeline.after[index] <= arrived.toordinal()
    assert sum(timed_profile["ipp_time"]["arrivals"]["counts"].values()) >= MIN_COUNT


def test_no_raw_value_of_the_birth_places_or_ipps_reaches_the_registry(cli, db_path, timed_export):
    path, rows, _ = timed_export
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE)
    files = list(Path(db_path).parent.glob(db_path.name + "*"))
    before = b"".join(p.read_bytes() for p in files)
    built = cli("profile", "build", "ehr-lyon", str(path))
    assert built.exit_code == 0, built.output
    assert "not learnt" not in built.output
    stored = b"".join(p.read_bytes() for p in Path(db_path).parent.glob(db_path.name + "*"))
    raw = set()
    for row in rows[::3]:
        raw |= {row["naissance"], row["ipp"], row["lieu_naissance"], row["commune_naissance_insee"]}
    shown = json.loads(cli("profile", "show", "ehr-lyon", "--json").output)
    # Values the registry held before the build (the site's own commune code) and the residence
    # postcodes published as counts of 10 or more (a birth code can read the same) say nothing of a patient.
    published = {k for part in shown["geography"].values() if part for k in part["counts"]}
    leaked = sorted(v for v in raw if v and v.encode() in stored and v.encode() not in before and v not in published)
    assert leaked == []
    assert shown["births"]["site_department"] == "69" and shown["not_learnt"] == {}
    text = cli("profile", "show", "ehr-lyon").output
    assert "birth places (" in text and "ipp/time: " in text


def test_generated_canaries_follow_the_learnt_birth_places(generator_for, timed_profile, timed_export):
    _, _, truth = timed_export
    records = generate_batch(generator_for(timed_profile), 1500, seed=4)
    n = len(records)
    in_site = sum(r["birth_place"]["code"][:2] == "69" for r in records) / n
    assert abs(in_site - truth.born_in_site_department) < 0.04
    abroad = sum(r["birth_place"]["code"].startswith("99") for r in records) / n
    cells = timed_profile["births"]["cells"]
    host_abroad = sum(c["counts"].get("abroad", 0) for k, c in cells.items() if k.startswith("all:")) / PATIENTS
    assert abs(abroad - host_abroad) < 0.03
    # Without learnt birth places: the national model (half born in their department).
    plain = {k: v for k, v in timed_profile.items() if k != "births"}
    national = generate_batch(generator_for(plain), 600, seed=4)
    assert sum(r["birth_place"]["code"][:2] == "69" for r in national) / 600 < in_site - 0.05


def _born_after_next_allocation(records, rows, arrivals) -> int:
    numbers = [int(r["ipp"]) for r in rows]  # the export is in IPP order
    late = 0
    for record in records:
        after = bisect.bisect_right(numbers, int(record["ipp"]))
        if after < len(numbers) and date.fromisoformat(record["birth_date"]) > arrivals[after]:
            late += 1
    return late


def test_no_canary_is_born_after_the_next_real_patient_s_allocation(generator_for, timed_profile, timed_export):
    _, rows, truth = timed_export
    generator = generator_for(timed_profile)
    records = generate_batch(generator, 1500, seed=5)
    # All in the host's format and live range (numbers handed out in the year after the build count).
    assert all(len(r["ipp"]) == 8 and generator.profile.ipp_in_range(r["ipp"]) for r in records)
    assert _born_after_next_allocation(records, rows, truth.arrivals) == 0
    head = timed_profile["ipp_time"]["head"]
    # Those born after every slice's bound (the last ones of 3,000 patients span two years) take the
    # numbers the host hands out next, above every real one, and so do the others once the free numbers
    # of their slices are used; the rest stay in the range, on numbers no real patient holds.
    timeline = IppTimeline.from_data(timed_profile)
    assert timeline is not None
    at_head = [r for r in records if int(r["ipp"]) >= head]
    born_late = [r for r in records if date.fromisoformat(r["birth_date"]).toordinal() > timeline.after[-1]]
    # (or, numbered at birth, a free number of the last slices handed out when they were born)
    last = timeline.low + (len(timeline.counts) - 2) * timeline.width
    assert born_late and all(int(r["ipp"]) >= min(head, last) for r in born_late)
    assert all(timeline.low <= int(r["ipp"]) < head for r in records if r not in at_head)
    held = {row["ipp"] for row in rows}
    assert not [r["ipp"] for r in records if r["ipp"] in held]  # never a real patient's number
    # The oldest slice is not left empty (an empty first slice would be a tell of its own); it holds at
    # most its free numbers (profile_ipp_time.FREE_PER_SLICE).
    first = sum(int(r["ipp"]) < timeline.low + timeline.width for r in records)
    assert 0 < first <= FREE_PER_SLICE
    # The same host without the IPP/time relation (the draw of the live range alone) misplaces some.
    plain = {k: v for k, v in timed_profile.items() if k != "ipp_time"}
    before = generate_batch(generator_for(plain), 1500, seed=5)
    assert _born_after_next_allocation(before, rows, truth.arrivals) > 10


def test_ipp_for_gives_numbers_the_host_hands_out_then(timed_profile):
    timeline = IppTimeline.from_data(timed_profile)
    assert timeline is not None
    rng = random.Random(1)
    head = timed_profile["ipp_time"]["head"]
    born = date(2026, 12, 1)
    later = [int(timeline.ipp_for(datetime(2026, 12, 3, 9) + timedelta(days=d), born, rng)) for d in range(0, 30, 3)]
    assert later == sorted(later) and later[0] >= head
    assert later[-1] - later[0] == pytest.approx(27 * timeline.rate, rel=0.05)
    past = int(timeline.ipp_for(date(2015, 6, 1), date(1970, 1, 1), rng))
    index = (past - timeline.low) // timeline.width
    assert IPP_LOW <= past < head and date.fromordinal(timeline.after[index]) <= date(2015, 6, 1)
    # Asked at a time before the birth's slice: the first slice handed out after the birth.
    young = int(timeline.ipp_for(date(2015, 6, 1), date(2015, 5, 1), rng))
    assert date.fromordinal(timeline.after[(young - timeline.low) // timeline.width]) >= date(2015, 5, 1)
    with pytest.raises(ValueError, match="after"):
        timeline.ipp_for(date(2026, 12, 1), date(2026, 12, 2), rng)


def test_an_export_without_birth_places_or_usable_ipps_falls_back_and_says_so(cli, tmp_path, reference,
                                                                             geography, generator_for):
    plain = tmp_path / "plain.csv"  # no birth-place column, IPPs handed out in no time order
    write_host_export(plain, reference, 1200, geography=geography, keep_rows=False)
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE)
    built = cli("profile", "build", "ehr-lyon", str(plain))
    assert built.exit_code == 0, built.output
    lines = built.output.splitlines()
    assert lines[1].startswith("not learnt: births: no birth-place column (lieu_naissance, cp_naissance, ")
    assert lines[2].startswith("not learnt: ipp_time: IPPs do not follow time")
    shown = json.loads(cli("profile", "show", "ehr-lyon", "--json").output)
    assert set(shown["not_learnt"]) == {"births", "ipp_time"} and shown["births"] is None
    assert shown["ipp_time"] is None and shown["ipp"]["length"] == 8
    generator = generator_for(shown)
    assert generator.births is None and generator.timeline is None
    records = generate_batch(generator, 100, seed=2)
    assert all(generator.profile and generator.profile.ipp_in_range(r["ipp"]) for r in records)
    no_ipp = tmp_path / "no_ipp.csv"
    text = plain.read_text(encoding="utf-8").splitlines()
    drop = text[0].split(";").index("ipp")
    no_ipp.write_text("\n".join(";".join(c for i, c in enumerate(line.split(";")) if i != drop) for line in text),
                      encoding="utf-8")
    built = cli("profile", "build", "ehr-lyon", str(no_ipp))
    assert "not learnt: ipp_time: no IPP column (ipp, or --mapping COLUMN=ipp)" in built.output


def test_an_unreadable_export_is_one_line_and_keeps_the_previous_profile(cli, tmp_path, timed_export):
    path, _, _ = timed_export
    cli("system", "add", "ehr-lyon", "--kind", "ehr")
    assert cli("profile", "build", "ehr-lyon", str(path)).exit_code == 0
    binary = tmp_path / "patients.csv.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    result = cli("profile", "build", "ehr-lyon", str(binary))
    assert result.exit_code == 1
    assert result.output == (f"error: {binary}: not a text export (binary content: a compressed or database "
                             "file? export it as CSV or JSON)\n")
    # A row broken far into the file (a field past the CSV reader's limit): nothing half-built is stored.
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[500] = lines[500].replace(";", ';"' + "x" * 200_000 + '";', 1)
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines), encoding="utf-8")
    result = cli("profile", "build", "ehr-lyon", str(broken))
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"error: {broken}: unreadable CSV at line ")
    shown = json.loads(cli("profile", "show", "ehr-lyon", "--json").output)
    assert shown["patients"] == PATIENTS and shown["births"] is not None


def test_canaries_arriving_over_the_next_days_are_new_patients(reference, pools, geography, timed_profile):
    catchment = Catchment.around(reference.communes, geography, Site(reference.communes[SITE], "commune"))
    generator = PatientGenerator(reference, pools, catchment=catchment, geography=geography, arriving_over=30,
                                 profile=HostProfile.from_data(timed_profile, reference.communes))
    records = generate_batch(generator, 300, seed=6)
    part = timed_profile["ipp_time"]
    numbers = sorted(int(r["ipp"]) for r in records)
    # Every number is one the host hands out within the 30 days after the seed day (TODAY = its build day).
    assert part["head"] <= numbers[0] and numbers[-1] <= part["head"] + part["rate_per_day"] * 31
    assert len(set(numbers)) == 300 and all(date.fromisoformat(r["birth_date"]) <= TODAY for r in records)
    # The new patients' age mix at arrival, newborns of the maternity included.
    arrivals = part["arrivals"]
    total = sum(arrivals["counts"].values())
    newborns = sum(date.fromisoformat(r["birth_date"]) > TODAY - timedelta(days=365) for r in records) / 300
    assert abs(newborns - arrivals["counts"]["0-0"] / total) < 0.05


def _numbered_at_birth(records, rows, under: int = 200) -> tuple[float, float]:
    """The thief's test on the dump (real rows and canaries): born no more than a week before the newest
    birth among the next 20 IPPs. Shares of canaries and of real rows under ``under`` years it flags."""
    dump = sorted([(int(r["ipp"]), date.fromisoformat(r["naissance"]).toordinal(), False) for r in rows]
                  + [(int(r["ipp"]), date.fromisoformat(r["birth_date"]).toordinal(), True) for r in records])
    young = TODAY.toordinal() - under * 365
    flagged, seen = {True: 0, False: 0}, {True: 0, False: 0}
    for i, (_, born, canary) in enumerate(dump[:-1]):
        if born > young:
            seen[canary] += 1
            flagged[canary] += born >= max(b for _, b, _ in dump[i + 1:i + 21]) - 7
    return flagged[True] / seen[True], flagged[False] / seen[False]


def test_canaries_are_numbered_at_birth_as_often_as_the_host_s_patients(generator_for, timed_profile, timed_export):
    _, rows, truth = timed_export
    part = timed_profile["ipp_time"]
    # Learnt as shares by age band and, per slice, when its numbers were handed out: day counts, no date.
    assert all(rows >= MIN_COUNT and (n == 0 or n >= MIN_COUNT) for n, rows in part["at_birth"].values())
    assert part["at_birth"]["1-4"][0] > part["at_birth"]["30-200"][0] == 0
    known = [d for d in part["born_at"] if d is not None]
    assert len(known) >= 5 and all(d.isalpha() and d.islower() for d in known)  # days before the build, in letters
    timeline = IppTimeline.from_data(timed_profile)
    assert timeline is not None
    days = [d for d in timeline.born_at if d is not None]
    assert days == sorted(days) and date.fromordinal(days[-1]) < TODAY
    records = generate_batch(generator_for(timed_profile), 1500, seed=6)
    canaries, real = _numbered_at_birth(records, rows)
    assert real > 0.03 and abs(canaries - real) < 0.015, (canaries, real)
    assert _born_after_next_allocation(records, rows, truth.arrivals) == 0  # still nobody born too late
    # A profile of before (no at-birth figures): canaries are hardly ever numbered at birth.
    older = {**timed_profile, "ipp_time": {k: v for k, v in part.items() if k not in ("at_birth", "born_at")}}
    old_batch = generate_batch(generator_for(older), 1500, seed=6)
    before, real_young = _numbered_at_birth(old_batch, rows, under=20)
    young, _ = _numbered_at_birth(records, rows, under=20)
    # (This host's young patients are few: 3,000 rows, ~180 canaries under 20; bench/realism.py measures a
    # regional host where the filter's advantage went from 0.09 to 0.02.)
    assert abs(young - real_young) < abs(before - real_young), (young, before, real_young)


def test_seed_over_makes_new_patients_arriving_at_the_host_s_head(cli, db_path, timed_export):
    path, rows, _ = timed_export
    cli("system", "add", "ehr-lyon", "--kind", "ehr", "--commune", SITE)
    # Without a profile learning IPPs against time: one line, nothing written.
    refused = cli("seed", "ehr-lyon", "--count", "20", "--over", "120d")
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert refused.exit_code == 1 and len(errors) == 1
    assert errors[0].startswith("error: --over: 'ehr-lyon' has no host profile with its IPPs against time")
    assert cli("list", "--json").output.strip() == "[]"
    assert cli("profile", "build", "ehr-lyon", str(path)).exit_code == 0
    shown = json.loads(cli("profile", "show", "ehr-lyon", "--json").output)
    rate = shown["ipp_time"]["new_patients_per_day"]
    # Shorter than the host's own rate of new patients allows: one line, nothing written.
    short = cli("seed", "ehr-lyon", "--count", "20", "--over", f"{int(19 / rate)}d")
    assert short.exit_code == 1 and "is too short for 20 canaries: the host admits about" in short.output
    assert cli("list", "--json").output.strip() == "[]"
    seeded = cli("seed", "ehr-lyon", "--count", "20", "--over", f"{int(40 / rate)}d", "--seed", "3")
    assert seeded.exit_code == 0, seeded.output
    canaries = json.loads(cli("list", "--json").output)
    assert len(canaries) == 20
    # IPPs the host hands out after the build (above its head), spread over the period at its rate, and
    # nobody born after the seed day.
    head, per_day = shown["ipp_time"]["head"], shown["ipp_time"]["rate_per_day"]
    numbers = sorted(int(c["ipp"]) for c in canaries)
    assert numbers[0] >= head and numbers[-1] - numbers[0] > 0.5 * per_day * int(40 / rate)
    assert all(date.fromisoformat(c["birth_date"]) <= date.today() for c in canaries)
    assert not {c["ipp"] for c in canaries} & {r["ipp"] for r in rows}
