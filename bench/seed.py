"""`canary seed` end to end (real registry file, real CLI process) against the plain generator, per pool shape.

    python bench/seed.py [--counts 10000,20000] [--blocks 1,100,5000] [--pool 10000]

For each pool of POOL owned mobile numbers spread over B blocks of 1,000 (1, 100 and 5,000 blocks: a
single range, a typical operator, numbers bought across the whole plan) and each COUNT, a fresh
registry with a Lyon establishment of 750,000 patients and five consumer mailbox providers is seeded
by `python -m canary seed` in its own process; the bench prints canaries/s (wall, and per CPU second of
the child, user + sys: the machine is shared, CPU time is what compares) and the child's peak RSS. A pool
of 1 block holds its 1,000 numbers; blocks are spread evenly over 06 00..06 29 (valid mobile prefixes).
COUNT above what the pool's per-block bounds admit runs the exhausted path (canaries without a phone).
The reference, measured in the same run: the generator alone (no registry, no bounds) on the same pool.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canary.generate.patient import PatientGenerator, Pools  # noqa: E402
from canary.generate.reference import Reference  # noqa: E402
from canary.store.markers import markers_for  # noqa: E402

PROVIDERS = "gmail.com,orange.fr,free.fr,hotmail.fr,laposte.net"


def pool(numbers: int, blocks: int) -> list[str]:
    """``numbers`` mobiles spread evenly over ``blocks`` blocks of 1,000, the blocks spread evenly over
    06 00 .. 06 29 (valid mobile prefixes): +33 6 followed by 8 digits, the last 3 inside the block."""
    per_block = min(1000, max(1, numbers // blocks))
    step = max(1, 30_000 // blocks)
    out = []
    for b in range(blocks):
        head = f"+33{600_000 + b * step}"
        out += [f"{head}{n:03d}" for n in range(0, 1000, max(1, 1000 // per_block))][:per_block]
    return out[:numbers]


def canary(db: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "canary", "--db", str(db), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"canary {' '.join(args)}: {done.stderr.strip()}")
    return done


def seed_once(folder: Path, numbers: list[str], count: int) -> tuple[float, float, float]:
    """canaries/s (wall), canaries per CPU second (user + sys) of the seeding process, its peak RSS in MiB."""
    db = folder / f"r{count}-{len(numbers)}-{random.random():.6f}.db"
    phones = folder / "phones.txt"
    phones.write_text("\n".join(numbers) + "\n", encoding="utf-8")
    canary(db, "init")
    canary(db, "system", "add", "dpi-lyon", "--kind", "ehr", "--commune", "69383", "--patients", "750000")
    canary(db, "config", "set", "pool.phones", f"@{phones}")
    canary(db, "config", "set", "pool.mailbox_providers", PROVIDERS)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "canary", "--db", str(db), "seed", "dpi-lyon", "--count",
                              str(count), "--seed", "1"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert child.stderr is not None
    errors = child.stderr.read()
    # wait4: this child's own rusage (CPU and peak RSS), not the largest of every child so far.
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"canary seed: {errors.decode().strip()}")
    return count / elapsed, count / (usage.ru_utime + usage.ru_stime), usage.ru_maxrss / 1024


def generator_rate(numbers: list[str], count: int) -> tuple[float, float]:
    """The plain generator in this process: canaries/s (wall) and per CPU second."""
    generator = PatientGenerator(Reference.load(), Pools(phones=tuple(numbers), mailbox_providers=tuple(
        PROVIDERS.split(","))))
    rng, seen, today = random.Random(1), set(), date.today()

    def taken(kind: str, value: str) -> bool:
        return (kind, value) in seen

    cpu, started = time.process_time(), time.perf_counter()
    for _ in range(count):
        seen.update(markers_for(generator.generate(rng, today=today, taken=taken)))
    return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10000,20000")
    parser.add_argument("--blocks", default="1,100,5000")
    parser.add_argument("--pool", type=int, default=10_000)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(f"{'pool':>26}{'canaries':>10}{'seed /s':>10}{'/CPU s':>9}{'peak RSS MiB':>14}"
          f"{'generator /s':>14}{'/CPU s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for blocks in (int(b) for b in args.blocks.split(",")):
            numbers = pool(args.pool, blocks)
            reference, reference_cpu = generator_rate(numbers, min(counts))
            for count in counts:
                rate, rate_cpu, rss = seed_once(Path(tmp), numbers, count)
                shape = f"{len(numbers):,} in {blocks:,} blocks"
                print(f"{shape:>26}{count:>10,}{rate:>10,.0f}{rate_cpu:>9,.0f}{rss:>14.0f}"
                      f"{reference:>14,.0f}{reference_cpu:>9,.0f}", flush=True)
    print("target: 2,000 canaries/s end to end (issue 33); CPU count:", os.cpu_count())


if __name__ == "__main__":
    main()
