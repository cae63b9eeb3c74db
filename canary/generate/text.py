"""Spelling rules shared by the generator and the lint: INS name form, mail-safe ASCII, tell-tale words."""

from __future__ import annotations

import re
import unicodedata

_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss", "’": "'"})

# Words a thief greps a dump for to drop fakes. No generated value may contain them, even inside a
# real surname (Testut, Demont): such names are simply not used.
MARKER_WORDS = ("TEST", "DEMO", "FAKE", "CANAR", "HONEY", "FICTI", "DUMMY", "SAMPLE", "EXAMPLE", "BIDON")
# Published test identities of the INS ecosystem (and similar placeholders): never on a canary.
TEST_NAMES = frozenset({"ADRTROIS", "TCHITCHI", "PAT TROIS", "PATTROIS", "ANONYME", "INCONNU", "INCONNUE", "X"})
TEST_OIDS = ("1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")

_INS_ALLOWED = re.compile(r"[A-Z]+(?:(?:[-' ]|--)[A-Z]+)*")
_HEXISH = re.compile(r"[0-9a-f]{8,}")
_MARKERS = re.compile("|".join(MARKER_WORDS))


def strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def ins_form(name: str) -> str:
    """A name as INS traits carry it: upper case, no diacritics, letters with - ' or space between."""
    return strip_accents(name).upper()


def is_ins_name(name: str) -> bool:
    return bool(_INS_ALLOWED.fullmatch(name))


def mail_form(name: str) -> str:
    """A name as people type it in a mail address: lower-case ASCII letters, hyphens kept."""
    return re.sub(r"[^a-z-]", "", strip_accents(name).lower().replace(" ", "-").replace("'", ""))


def has_marker_word(text: str) -> bool:
    return _MARKERS.search(strip_accents(text).upper()) is not None


def looks_hex(local_part: str) -> bool:
    """A run of 8+ hex characters mixing letters and digits, like a token rather than a name."""
    for run in _HEXISH.findall(local_part.lower()):
        digits = sum(ch.isdigit() for ch in run)
        if digits >= 2 and len(run) - digits >= 2:
            return True
    return False
