"""The NIR (social security number): building one from identity traits, and reading one back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

CORSICA_SPLIT = date(1976, 1, 1)  # Corsica became 2A/2B; births before keep department 20


@dataclass(frozen=True, slots=True)
class NirParts:
    sex: str  # "1" or "2" (7/8 would be temporary numbers)
    year: str
    month: str
    place: str  # 5 characters: department + commune, or 99 + country
    order: str
    key: str


def check_key(first13: str) -> str:
    """97 - (13 digits mod 97); Corsica's 2A and 2B count as 19 and 18."""
    digits = first13[:5] + {"2A": "19", "2B": "18"}.get(first13[5:7], first13[5:7]) + first13[7:]
    return f"{97 - int(digits) % 97:02d}"


def birth_place_code(commune_code: str, birth_date: date) -> str:
    """The INSEE code a birth in this commune was registered under (Corsica: 20 before 1976)."""
    if commune_code[:2] in ("2A", "2B") and birth_date < CORSICA_SPLIT:
        return "20" + commune_code[2:]
    return commune_code


def make_nir(sex: str, birth_date: date, place_code: str, order: int) -> str:
    if not 1 <= order <= 999:
        raise ValueError(f"NIR order number {order} out of 001-999")
    first13 = f"{'1' if sex == 'M' else '2'}{birth_date.year % 100:02d}{birth_date.month:02d}{place_code}{order:03d}"
    return first13 + check_key(first13)


def split_nir(nir: str) -> NirParts | None:
    """The parts of a well-formed 15-character NIR (key not checked), else None."""
    if len(nir) != 15 or not (nir[:5].isdigit() and nir[7:].isdigit()):
        return None
    if not (nir[5:7].isdigit() or nir[5:7] in ("2A", "2B")):
        return None
    return NirParts(nir[0], nir[1:3], nir[3:5], nir[5:10], nir[10:13], nir[13:15])


def order_range(monthly_births: float) -> tuple[int, int]:
    """Where to draw the order number for a place that registers ``monthly_births`` a month.

    Real order numbers run 001..N, N being that month's registrations in that commune: drawing
    inside that range would often hit a living person's NIR. Drawing just above it (N plus 15 %,
    a spread of 35 % of N) stays within what a busy month produces, so the number looks ordinary
    to anyone who knows the town's size, while a collision needs an unusually busy month. See
    seeds/README.md ("NIR order numbers").
    """
    expected = min(max(monthly_births, 1.0), 700.0)
    low = int(expected * 1.15) + 1
    high = low + max(4, int(expected * 0.35))
    return min(low, 990), min(high, 999)


def monthly_births(population: int, *, maternity: bool) -> float:
    """Births registered per month in a commune: ~1.1 % birth rate; maternity towns take the
    births of their surroundings too (about 2.5 times their own)."""
    return population * 0.011 / 12 * (2.5 if maternity else 1.0)
