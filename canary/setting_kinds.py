"""What a setting's value must look like beyond its Python type: CIDR, URL, phone, domain, duration...

A setting names its kind (``Setting(..., kind="cidr")``); ``problem(kind, value)`` says what is wrong
with one value (one element, for list settings) or returns None. Number kinds (``port``, ``hour``) give
bounds (``NUMBER_KINDS``), checked with ``number_problem`` like any declared minimum and maximum.
The checks are the ones the readers of the settings apply later, run up front so that a typo is
refused by ``canary config set`` instead of stopping a worker hours later.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import PurePath
from urllib.parse import urlsplit

_DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


def _cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not an address range (e.g. 10.20.0.0/16 or fd00::/8)"
    return None


def _ipv4(value: str) -> str | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f"{value!r} is not an IPv4 address"
    return None


def _ipv6(value: str) -> str | None:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return f"{value!r} is not an IPv6 address"
    return None


def _domain(value: str) -> str | None:
    name = value.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_DOMAIN_LABEL.match(label) for label in labels):
        return f"{value!r} is not a domain name (e.g. docs.example.fr)"
    return None


def _email(value: str) -> str | None:
    local, at, domain = value.rpartition("@")
    if not at or not local or any(c.isspace() for c in local) or _domain(domain):
        return f"{value!r} is not a mail address (e.g. relais@messagerie-famille.fr)"
    return None


def _host(value: str) -> str | None:
    """A listening or peer address: an IP address or a host name (one label allowed: localhost)."""
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    labels = value.rstrip(".").lower().split(".")
    if all(_DOMAIN_LABEL.match(label) for label in labels):
        return None
    return f"{value!r} is not an address or host name"


def _url(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http(s) URL (e.g. https://portail-patient.example.fr)"
    try:
        parts.port  # noqa: B018 (reading it validates it)
    except ValueError:
        return f"{value!r} has a bad port"
    return None


def _phone(value: str) -> str | None:
    number = value.replace(" ", "")
    if _E164.match(number):
        return None
    return f"{value!r} is not an E.164 number (+33...)"


def _phone_or_range(value: str) -> str | None:
    entry = value.replace(" ", "")
    if entry.startswith("@"):
        # A pool file (canary/generate/pools.py): its numbers are checked when the pool is read, with
        # one line for a missing or unreadable file; here only the path, which must not depend on the cwd
        # (that the file is there is checked when it is set: pool_files_readable).
        if not PurePath(entry[1:]).is_absolute():
            return f"file entry {value!r} must name an absolute path (e.g. @/etc/canary/phones.txt)"
        return None
    if "-" not in entry[1:]:
        return _phone(entry)
    low, high = entry.split("-", 1)
    for end in (low, high):
        if _phone(end):
            return f"range {value!r}: {end!r} is not an E.164 number (+33...)"
    if len(low) != len(high):
        return f"range {value!r}: both ends must have the same length"
    if int(high[1:]) < int(low[1:]):
        return f"range {value!r} is reversed"
    return None


def _duration(value: str) -> str | None:
    match = _DURATION.match(value)
    if not match or int(match.group(1)) <= 0:
        return f"{value!r} is not a duration (e.g. 30s, 10m, 1h, 1d or a number of seconds)"
    return None


def _timezone(value: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not a known time zone (e.g. Europe/Paris)"
    return None


def _cron(value: str) -> str | None:
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        return f"{value!r} is not a cron line (minute hour day month day-of-week): {exc}"
    return None


def _file_mode(value: str) -> str | None:
    if not re.fullmatch(r"0?[0-7]{3}", value.strip()):
        return f"{value!r} is not a file mode (octal, e.g. 0640)"
    return None


CHECKS: dict[str, tuple[str, Callable[[str], str | None]]] = {
    # kind: (how the reference names it, check of one value)
    "cidr": ("CIDR", _cidr),
    "ipv4": ("IPv4 address", _ipv4),
    "ipv6": ("IPv6 address", _ipv6),
    "domain": ("domain", _domain),
    "email": ("mail address", _email),
    "host": ("address or host name", _host),
    "url": ("URL", _url),
    "phone": ("E.164 phone", _phone),
    "phone_or_range": ("E.164 phone, range or @file", _phone_or_range),
    "duration": ("duration", _duration),
    "timezone": ("time zone", _timezone),
    "cron": ("cron line", _cron),
    "file_mode": ("file mode (octal)", _file_mode),
}


# Kinds of numbers: (how the reference names it, lowest, highest). A setting's own minimum/maximum, when it
# declares one, narrows these; a number setting with neither is at least 0 (see Setting.bounds).
NUMBER_KINDS: dict[str, tuple[str, float, float]] = {
    "port": ("TCP port", 1, 65535),
    "hour": ("hour of the day", 0, 23),
}


def number_problem(value: float, low: float | None, high: float | None) -> str | None:
    """What is wrong with a number against its bounds, or None (the one wording of every front door)."""
    if low is not None and value < low:
        return f"{value!r} is too small: at least {low:g}"
    if high is not None and value > high:
        return f"{value!r} is too large: at most {high:g}"
    return None


def pool_files_readable(values: list[str]) -> None:
    """When pool.phones is set: every @file it names is there to read. Only then: a file that goes
    missing later is reported by whoever reads the pool, and must never stop the watchers."""
    from canary.errors import CanaryError

    for value in values:
        entry = str(value).replace(" ", "")
        if entry.startswith("@") and not (os.path.isfile(entry[1:]) and os.access(entry[1:], os.R_OK)):
            raise CanaryError(f"setting pool.phones: file entry {value!r}: no readable file {entry[1:]} "
                              "(create it first: one number or range a line)")


def problem(kind: str, value: str) -> str | None:
    """What is wrong with one value of this kind, or None. Unknown kinds are a programming error."""
    return CHECKS[kind][1](value)


def label(kind: str) -> str:
    return NUMBER_KINDS[kind][0] if kind in NUMBER_KINDS else CHECKS[kind][0]
