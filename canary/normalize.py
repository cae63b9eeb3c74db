"""One normalisation for every identifying value, shared by the registry and every watcher.

A marker stored at seed time and a sighting in a dump or a log are compared only after both went
through the same function here, so DUPONT / Dupont / dupont, HÉLÈNE / HELENE and the French phone
spellings all meet on one form.
"""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")
_NOT_DIGIT = re.compile(r"\D+")

# Overseas departments and collectivities keep French national numbering behind their own country
# code: +262 692 12 34 56 is dialled 0692 12 34 56 from within France.
_OVERSEAS_CODES = ("262", "269", "508", "590", "594", "596", "681", "687", "689")


def fold(text: str) -> str:
    """Upper-case ASCII letters and digits separated by single spaces: accents, case, hyphens gone."""
    if text.isascii():  # nothing to decompose (most values, and most records of a dump)
        return _NOT_ALNUM.sub(" ", text.upper()).strip()
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    ascii_only = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub(" ", ascii_only.upper()).strip()


def phone_key(raw: str) -> str | None:
    """The 9 national significant digits of a French number in any spelling, else None.

    0612345678, 06 12 34 56 78, 06.12.34.56.78, +33 6 12 34 56 78, 0033612345678 -> "612345678".
    """
    has_plus = raw.strip().startswith("+")
    digits = _NOT_DIGIT.sub("", raw)
    if digits.startswith("00"):
        digits, has_plus = digits[2:], True
    if has_plus or (len(digits) == 11 and digits.startswith("33")):
        if digits.startswith("33") and len(digits) == 11:
            return digits[2:]
        for code in _OVERSEAS_CODES:
            if digits.startswith(code) and len(digits) == len(code) + 9:
                return digits[len(code):]
        return None
    if len(digits) == 10 and digits.startswith("0"):
        return digits[1:]
    return None


def national_phone(e164: str) -> str:
    """+33612345678 -> 0612345678: the form French software shows and stores (HL7 PID-13, FHIR telecom)."""
    return "0" + e164[3:] if e164.startswith("+33") else e164


def nir_key(raw: str) -> str | None:
    """A NIR without separators, upper-cased (Corsica 2A/2B kept), if it has 13 or 15 characters."""
    compact = re.sub(r"[\s.\-]", "", raw).upper()
    if len(compact) in (13, 15) and re.fullmatch(r"[1-478][0-9]{4}([0-9]{2}|2[AB])[0-9]{6}([0-9]{2})?", compact):
        return compact
    return None


def email_key(raw: str) -> str:
    return raw.strip().lower()


def name_birth_key(name: str, first_name: str, birth_date: str) -> str:
    """Family name, first first name and ISO birth date: the weak pair that identifies a person."""
    return f"{fold(name)}|{fold(first_name)}|{birth_date}"
