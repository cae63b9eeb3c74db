"""Strict HL7 v2.5 validation of a message with hl7apy, as a strict receiver checks it before answering AA."""

from __future__ import annotations

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message


def strict_errors(message: str) -> str | None:
    """None when hl7apy's strict validation accepts ``message``, else what it refused."""
    try:
        parsed = parse_message(message, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        parsed.validate()
    except Exception as exc:  # hl7apy raises its own error classes and ValueError for bad values
        return f"{type(exc).__name__}: {exc}"
    return None
