"""Generator throughput: canaries per second and peak memory, beside plain Faker fr_FR profiles.

    python bench/generate.py [--count 10000] [--seed 1]      # needs the bench extra: pip install -e '.[bench]'

Only the generator runs (no registry): ``taken`` is an in-memory set fed with each record's
markers, as the registry does within a batch. Peak RSS is the process high-water mark
(getrusage), printed after each phase; the Faker phase runs second, so its figure includes ours.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faker import Faker

from canary.generate.patient import PatientGenerator, Pools
from canary.generate.reference import Reference
from canary.store.markers import markers_for

TARGET = 2_000  # canaries per second


def peak_rss_mib() -> float:
    # Linux reports kilobytes, macOS bytes.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024


def operator_pools() -> Pools:
    phones = [f"+336123{i:05d}" for i in range(20_000)] + [f"+33{z}4567{i:04d}" for z in "12345" for i in range(4_000)]
    return Pools(phones=tuple(phones), mail_domains=("messagerie-durand.fr", "boite-postale.net"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    started = time.perf_counter()
    reference = Reference.load()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    generator = PatientGenerator(reference, operator_pools())
    init_s = time.perf_counter() - started
    rng = random.Random(args.seed)
    seen: set[tuple[str, str]] = set()

    def taken(kind: str, value: str) -> bool:
        return (kind, value) in seen

    today = date.today()
    started = time.perf_counter()
    for _ in range(args.count):
        seen.update(markers_for(generator.generate(rng, today=today, taken=taken)))
    ours_s = time.perf_counter() - started
    ours_rss = peak_rss_mib()

    faker = Faker("fr_FR")
    faker.seed_instance(args.seed)
    started = time.perf_counter()
    for _ in range(args.count):
        faker.profile()
    faker_s = time.perf_counter() - started
    faker_rss = peak_rss_mib()

    ours_rate, faker_rate = args.count / ours_s, args.count / faker_s
    print(f"identity tables loaded in {load_s:.2f} s; generator ready (admin, clinical, "
          f"{len(generator.pools.phones):,}-number pool) in {init_s:.2f} s")
    print(f"{'':24}{'records/s':>12}{'seconds':>10}{'peak RSS MiB':>15}")
    print(f"{'canary generator':24}{ours_rate:>12,.0f}{ours_s:>10.2f}{ours_rss:>15.1f}")
    print(f"{'Faker fr_FR profile()':24}{faker_rate:>12,.0f}{faker_s:>10.2f}{faker_rss:>15.1f}")
    verdict = "meets" if ours_rate >= TARGET else "MISSES"
    print(f"{args.count:,} canaries: {verdict} the {TARGET:,} canaries/s target")


if __name__ == "__main__":
    main()
