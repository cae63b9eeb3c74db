"""How crowded the host's phone blocks are, and how many canaries each pool block should carry.

A thief holding one establishment's dump counts, for each row, the rows whose first phone (a mobile
first) falls in the same block of 10,000 numbers. ``profile build`` keeps that count's distribution
over the host's rows, per kind of phone (counts of rows, bins of MIN_COUNT rows or more: the tail is
merged into its last bin), never a number or a block.

A canary's count is the canaries of its system in its block plus the real patients there, who hold
the numbers of the block the operator does not own: about Poisson(μ) with μ the host's mean per
block times the share of the block not owned. So each pool block gets a target group size m, drawn
so that m + Poisson(μ), seen from the canaries, follows the host's distribution (a small
deconvolution); the seeding run fills blocks up to their targets. The target of a block is a fixed
function of the block and the system (a hash), so successive runs and rotations agree on it.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from canary.normalize import phone_key

MIN_COUNT = 10  # as profile.MIN_COUNT (profile.py imports this module)
MAX_DENSITY = 60  # counts above this are one bin (a block of a large host's local operator)
BLOCK = 10_000
KINDS = ("mobile", "landline")


def phone_kind_of_key(key: str) -> str:
    return "mobile" if key[0] in "67" else "landline"


class BlockDensityLearner:
    """Counts rows per 10,000-block while rows stream by: by each row's thief key (first mobile, else
    first phone) and by every number of the row."""

    def __init__(self, has_column: bool) -> None:
        self.has_column = has_column
        self._keys: Counter[str] = Counter()
        self._numbers: Counter[str] = Counter()

    def add(self, phones: list[str]) -> None:
        keys = [k for k in (phone_key(v) for v in phones if v) if k]
        if not keys:
            return
        mobiles = [k for k in keys if k[0] in "67"]
        self._keys[(mobiles or keys)[0][:5]] += 1
        self._numbers.update({k[:5] for k in keys})

    def result(self) -> dict[str, Any] | None:
        """Per kind of phone: ``counts`` {density: rows} (rows seeing that many rows in their key's
        10,000-block, themselves included; the tail merged so that every bin holds MIN_COUNT rows or
        more); ``blocks`` {block: rows} for the blocks holding MIN_COUNT keys or more; ``elsewhere``
        {3-digit prefix: keys} of the other blocks (prefixes with MIN_COUNT keys or more); and
        ``numbers_mean``, the other numbers of the host a number of the kind sees in its block."""
        if not self.has_column or not self._keys:
            return None
        out: dict[str, Any] = {}
        for kind in KINDS:
            rows: Counter[int] = Counter()
            crowded: dict[str, int] = {}
            elsewhere: Counter[str] = Counter()
            for block, n in self._keys.items():
                if phone_kind_of_key(block) != kind:
                    continue
                rows[min(n, MAX_DENSITY)] += n
                if n >= MIN_COUNT:
                    crowded[block] = n
                else:
                    elsewhere[block[:3]] += n
            bins = _merged(rows)
            numbers = [n for block, n in self._numbers.items() if phone_kind_of_key(block) == kind]
            if bins:
                out[kind] = {"counts": {str(d): n for d, n in bins}, "blocks": crowded,
                             # Per 3-digit prefix (06 12, 02 98...), keys outside the crowded blocks.
                             "elsewhere": {p: n for p, n in sorted(elsewhere.items()) if n >= MIN_COUNT},
                             "numbers_mean": round(sum(n * (n - 1) for n in numbers) / max(1, sum(numbers)), 3)}
        return out or None


def _merged(rows: Counter[int]) -> list[tuple[int, int]]:
    """Bins of MIN_COUNT rows or more: a small bin joins the next denser one (the last: the one before)."""
    bins: list[tuple[int, int]] = []
    pending_n, pending_d = 0, 0
    for density in sorted(rows):
        pending_n += rows[density]
        pending_d = density
        if pending_n >= MIN_COUNT:
            bins.append((pending_d, pending_n))
            pending_n = 0
    if pending_n and bins:
        bins[-1] = (bins[-1][0], bins[-1][1] + pending_n)
    return bins


def host_part(profile_data: Mapping[str, Any] | None, kind: str) -> Mapping[str, Any]:
    return ((profile_data or {}).get("phone_blocks") or {}).get(kind) or {}


def real_beside(part: Mapping[str, Any], block: str, owned: int) -> float | None:
    """Real keys expected in the 10,000-block ``block`` (national digits) beside ``owned`` numbers of the
    pool: the profile's count of a crowded block, else the mean of the other blocks of its 3-digit
    prefix (none where the host's keys are not: a prefix it does not use); None: not learnt."""
    if not part:
        return None
    crowded = part.get("blocks") or {}
    if block in crowded:
        return float(crowded[block])
    keys = (part.get("elsewhere") or {}).get(block[:3], 0)
    others = max(1, 100 - sum(1 for b in crowded if b[:3] == block[:3]))
    return float(keys) / others * (1 - owned / BLOCK)


def host_density(profile_data: Mapping[str, Any] | None, kind: str) -> tuple[tuple[int, float], ...] | None:
    """(density, share of rows) of the host's rows of ``kind`` (None: not learnt)."""
    part = host_part(profile_data, kind)
    counts = {int(d): int(n) for d, n in (part.get("counts") or {}).items()}
    total = sum(counts.values())
    if total < MIN_COUNT:
        return None
    return tuple((d, n / total) for d, n in sorted(counts.items()))


def poisson_density(mean: float) -> tuple[tuple[int, float], ...]:
    """What a row sees when the host's rows fall uniformly on blocks: 1 + Poisson(mean)."""
    top = max(3, int(mean + 6 * math.sqrt(mean) + 3))
    return tuple((1 + k, p) for k, p in enumerate(_poisson(mean, top)) if p > 1e-9)


@functools.lru_cache(maxsize=256)
def group_sizes(density: tuple[tuple[int, float], ...], real_mean: float) -> tuple[tuple[int, float], ...]:
    """Block-weighted target sizes (m, weight): blocks filled to m canaries, with Poisson(real_mean)
    real patients beside them, show the canaries the density ``density`` (rows' view)."""
    top = max(d for d, _ in density)
    target = [0.0] * (top + 1)
    for d, p in density:
        target[d] += p
    kernel = _poisson(real_mean, top)
    sizes = range(1, top + 1)
    # Canary-weighted share of each group size, by Richardson-Lucy steps (stays a distribution).
    weights = {m: target[m] if target[m] > 0 else 1e-6 for m in sizes}
    norm = sum(weights.values())
    weights = {m: w / norm for m, w in weights.items()}
    for _ in range(200):
        seen = [sum(weights[m] * kernel[d - m] for m in sizes if d - m >= 0) for d in range(top + 1)]
        updated = {}
        for m in sizes:
            ratio = sum(target[d] * kernel[d - m] / seen[d] for d in range(m, top + 1) if seen[d] > 0)
            updated[m] = weights[m] * ratio
        norm = sum(updated.values()) or 1.0
        weights = {m: w / norm for m, w in updated.items()}
    # A block of m holds m canaries: blocks are drawn with weight share / m.
    blocks = [(m, w / m) for m, w in weights.items() if w > 1e-4]
    norm = sum(w for _, w in blocks)
    return tuple((m, w / norm) for m, w in blocks)


def _poisson(mean: float, top: int) -> list[float]:
    if mean <= 0:
        return [1.0] + [0.0] * top
    out, log_p = [], -mean
    for k in range(top + 1):
        out.append(math.exp(log_p))
        log_p += math.log(mean) - math.log(k + 1)
    return out


def target_of(block: str, salt: str, sizes: tuple[tuple[int, float], ...]) -> int:
    """The group size of one block: a fixed draw from ``sizes`` keyed by the block and the system."""
    digest = hashlib.sha256(f"{salt}\x1f{block}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    for m, w in sizes:
        u -= w
        if u < 0:
            return m
    return sizes[-1][0]


def mean_size(sizes: tuple[tuple[int, float], ...]) -> float:
    return sum(m * w for m, w in sizes)
