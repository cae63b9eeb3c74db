"""Severity order, shared by correlation (severity only rises) and routing (minimum severity)."""

from __future__ import annotations

from canary.errors import CanaryError
from canary.store.events import SEVERITIES


def rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def highest(*severities: str | None) -> str:
    return max((s for s in severities if s in SEVERITIES), key=rank, default="info")


def check(severity: str) -> str:
    if severity not in SEVERITIES:
        raise CanaryError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")
    return severity
