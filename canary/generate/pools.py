"""The operator's contact pools, read from the ``pool.*`` settings.

``pool.phones`` mixes single numbers (``+33612345678``), inclusive ranges
(``+33612340000-+33612340999``) and files (``@/etc/canary/phones.txt``, one entry or more per line,
``#`` comments), separated by commas or new lines. Every number must be a subscriber number of the
French plan (metropolitan or overseas) outside the ARCEP fiction and telemarketing blocks: a bad
entry stops the command with one line naming it, before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from canary.errors import CanaryError
from canary.generate.contacts import block_verdict
from canary.settings import get_int, get_list

MAX_RANGE = 100_000  # numbers in one range: an operator's allocation, not a typo of a digit
MAX_POOL = 1_000_000
DEFAULT_HOST_PATIENTS = 100_000  # a general hospital's patient file; the setting or a host profile says better


@dataclass(frozen=True)
class Pools:
    phones: tuple[str, ...] = ()  # E.164 numbers the operator owns (already expanded), e.g. "+33612345678"
    mail_domains: tuple[str, ...] = ()  # mail domains the operator owns (MX to our receiver)
    mailbox_providers: tuple[str, ...] = ()  # consumer providers where the operator opens mailboxes
    host_patients: int = DEFAULT_HOST_PATIENTS  # size of the system's real patient file (crowding bounds)


def parse_phone_pool(entries: Iterable[str]) -> tuple[str, ...]:
    """Expand numbers, ranges and ``@file`` entries into unique E.164 numbers (first occurrence order)."""
    numbers: dict[str, None] = {}
    for entry in _entries(entries, depth=0):
        for number in _expand(entry):
            numbers[number] = None
        if len(numbers) > MAX_POOL:
            raise CanaryError(f"pool.phones: more than {MAX_POOL:,} numbers; keep the pool to what you own")
    return tuple(numbers)


def parse_domains(entries: Iterable[str], setting: str) -> tuple[str, ...]:
    """Lower-cased mail domains, each checked to look like a domain name."""
    out: dict[str, None] = {}
    for raw in entries:
        for part in str(raw).replace("\n", ",").split(","):
            domain = part.strip().lower().rstrip(".").lstrip("@")
            if not domain:
                continue
            labels = domain.split(".")
            if len(labels) < 2 or not all(label and label.replace("-", "").isalnum() and label.isascii()
                                          for label in labels):
                raise CanaryError(f"{setting}: {part.strip()!r} is not a mail domain (e.g. laposte.net)")
            out[domain] = None
    return tuple(out)


def pools_from_settings(db: sqlite_utils.Database) -> Pools:
    return Pools(
        phones=parse_phone_pool(get_list(db, "pool.phones")),
        mail_domains=parse_domains(get_list(db, "pool.mail_domains"), "pool.mail_domains"),
        mailbox_providers=parse_domains(get_list(db, "pool.mailbox_providers"), "pool.mailbox_providers"),
        host_patients=get_int(db, "generate.host_patients"),
    )


def _entries(entries: Iterable[str], depth: int) -> Iterable[str]:
    for raw in entries:
        for line in str(raw).splitlines():
            for part in line.split("#", 1)[0].split(","):
                entry = part.replace(" ", "").replace("\t", "")
                if not entry:
                    continue
                if entry.startswith("@"):
                    yield from _file_entries(entry[1:], depth)
                else:
                    yield entry


def _file_entries(path: str, depth: int) -> Iterable[str]:
    if depth > 0:
        raise CanaryError(f"pool.phones: {path} is named from another pool file; files do not nest")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CanaryError(f"pool.phones: cannot read the pool file {path} ({exc})") from exc
    return _entries([text], depth + 1)


def _expand(entry: str) -> list[str]:
    if "-" in entry[1:]:
        low, high = entry.split("-", 1)
        if not (_is_e164(low) and _is_e164(high) and len(low) == len(high)):
            raise CanaryError(f"pool.phones: range {entry!r} must be two E.164 numbers of equal length (+33...)")
        start, end = int(low[1:]), int(high[1:])
        if end < start or end - start >= MAX_RANGE:
            raise CanaryError(f"pool.phones: range {entry!r} is reversed or larger than {MAX_RANGE:,} numbers")
        numbers = [f"+{n}" for n in range(start, end + 1)]
    elif _is_e164(entry):
        numbers = [entry]
    else:
        raise CanaryError(f"pool.phones: {entry!r} is not an E.164 number (+33...), a range or an @file")
    # Validity in the plan depends on the leading digits only: one check per block of 10,000.
    checked: set[str] = set()
    for number in numbers:
        block = number[:-4]
        if block in checked:
            continue
        checked.add(block)
        problem, category = block_verdict(number)
        if problem is None and category is None:
            problem = "not a mobile, landline or 09 subscriber number"
        if problem:
            where = f"{number} (in {entry})" if number != entry else number
            raise CanaryError(f"pool.phones: {where} is {problem}; a thief would spot it")
    return numbers


def _is_e164(text: str) -> bool:
    return text.startswith("+") and text[1:].isdigit() and 8 <= len(text) <= 16
