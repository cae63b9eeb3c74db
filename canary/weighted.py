"""Weighted picks in O(log n): cumulative weights built once, then bisect on one random float."""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Generic, TypeVar

T = TypeVar("T")


class WeightedTable(Generic[T]):
    """An immutable weighted table; ``pick`` costs one ``rng.random()`` and a bisect."""

    __slots__ = ("items", "_cumulative", "_total")

    def __init__(self, items: Sequence[T], weights: Iterable[float]) -> None:
        self.items: tuple[T, ...] = tuple(items)
        self._cumulative: tuple[float, ...] = tuple(accumulate(weights))
        if len(self._cumulative) != len(self.items) or not self.items:
            raise ValueError("a weighted table needs one positive weight per item and at least one item")
        self._total = self._cumulative[-1]
        if self._total <= 0:
            raise ValueError("a weighted table needs a positive total weight")

    def pick(self, rng: random.Random) -> T:
        index = bisect_right(self._cumulative, rng.random() * self._total)
        # Guard against float rounding landing exactly on the total.
        return self.items[min(index, len(self.items) - 1)]

    def share(self, index: int) -> float:
        """The probability of ``items[index]``."""
        previous = self._cumulative[index - 1] if index else 0.0
        return (self._cumulative[index] - previous) / self._total

    def __len__(self) -> int:
        return len(self.items)


def zipf_weights(count: int, offset: float, exponent: float = 1.0) -> list[float]:
    """Weights for a ranked list with no counts: (rank + offset)^-exponent, a Zipf-Mandelbrot law.

    A larger offset or a smaller exponent flattens the head: first names were concentrated on a few
    favourites in 1950 and much less in 2010.
    """
    return [(rank + offset) ** -exponent for rank in range(1, count + 1)]


def pick_at(table: WeightedTable[T], u: float) -> T:
    """The item at quantile ``u`` in [0, 1) of the table's weights (pick() with a given draw)."""
    index = bisect_right(table._cumulative, u * table._total)
    return table.items[min(index, len(table.items) - 1)]


class EvenDraws:
    """Uniform draws spread evenly over a batch, one stream per trait (stratified sampling).

    Independent draws leave a batch of k canaries off the host's shares by about 1/sqrt(k) (200
    canaries: 3 points on a 50 % share, enough for a thief's filter to pass 0.05 by chance). Here
    each run of STRATA draws of a trait takes every 1/STRATA-wide slice of [0, 1) once, in a random
    order and at a random place within the slice: a batch covers the host's shares within about
    STRATA/k, with no visible order from one canary to the next, and all randomness still comes
    from the caller's rng (the same stream gives the same batch). One instance per generator
    (i.e. per batch); not for use from several threads at once.
    """

    STRATA = 64

    def __init__(self) -> None:
        self._left: dict[str, list[int]] = {}  # trait -> slices not drawn yet in this run

    def next(self, trait: str, rng: random.Random) -> float:
        left = self._left.setdefault(trait, [])
        if not left:
            left.extend(range(self.STRATA))
            rng.shuffle(left)
        return (left.pop() + rng.random()) / self.STRATA
