"""Line parsers: one object per source, regexes compiled once, no I/O.

Each parser turns one line (without its newline) into an :class:`AccessEntry`, returns None for a
line that is not an access (a CSV header), or raises :class:`Malformed`. Timestamps stay raw here:
they are only read when a canary is involved, which keeps the common path fast.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from typing import Any

from canary.errors import CanaryError
from canary.watch.accesslog.fhir import entry_from_auditevent
from canary.watch.accesslog.model import AccessEntry, Malformed

FORMATS = ("mediboard", "regex", "jsonl", "csv", "fhir-auditevent")
FIELD_KEYS = ("account", "patient", "action", "time", "ip")

# Names a column, key or regex group may carry, per role (lower case).
ALIASES: dict[str, str] = {}
for _role, _names in {
    "account": ("account", "user", "username", "user_name", "login", "utilisateur", "compte", "user_view"),
    "patient": ("patient", "patient_id", "ipp", "patient_ipp", "nir", "matricule", "ins", "ins_nir",
                "external_id"),
    "action": ("action", "type", "event", "evenement", "event_type", "operation"),
    "time": ("time", "date", "datetime", "timestamp", "horodatage", "when"),
    "ip": ("ip", "ip_address", "remote_addr", "client_ip", "src_ip", "source_ip", "addr", "adresse_ip"),
}.items():
    for _name in _names:
        ALIASES[_name] = _role

Parser = Callable[[str], "AccessEntry | None"]


def build_parser(fmt: str, pattern: str | None = None, fields: dict[str, list[str]] | None = None) -> Parser:
    """The parse function of a source's format; raises CanaryError for a bad configuration."""
    fields = fields or {}
    if fmt == "mediboard":
        return MediboardParser().parse
    if fmt == "regex":
        if not pattern:
            raise CanaryError("--format regex needs --pattern with named groups, e.g. (?P<user>\\S+)")
        return RegexParser(pattern).parse
    if fmt == "jsonl":
        return JsonLinesParser(fields).parse
    if fmt == "csv":
        return CsvParser(fields).parse
    if fmt == "fhir-auditevent":
        return _parse_auditevent_line
    raise CanaryError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def parse_field_options(values: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """``--field k=path`` options to {role: [paths]} (patient may repeat)."""
    out: dict[str, list[str]] = {}
    for item in values:
        key, sep, path = item.partition("=")
        role = ALIASES.get(key.strip().lower(), key.strip().lower())
        if not sep or not path.strip() or role not in FIELD_KEYS:
            raise CanaryError(f"invalid --field {item!r}: use KEY=PATH with KEY one of {', '.join(FIELD_KEYS)}")
        if role != "patient" and role in out:
            raise CanaryError(f"--field {role} given twice (only patient may repeat)")
        out.setdefault(role, []).append(path.strip())
    return out


# --- mediboard profile ---------------------------------------------------------------------------

_PAIR = re.compile(r'([A-Za-z_][\w.]*)=("[^"]*"|[^\s|;]*)')
_OBJECT_PATIENT = re.compile(r"^CPatient[-:#](\w+)$")


class MediboardParser:
    """A Mediboard-like access line: an optional leading timestamp, then ``key=value`` pairs.

    ``2026-11-14 09:32:11+01:00 user=jdupont ip=10.2.3.4 action=dPpatients.vw_full_patients ipp=40000012``

    Keys are case-insensitive and may use the aliases in ALIASES; ``object=CPatient-123`` names a
    patient by its internal id; values may be double-quoted; pairs may be separated by spaces, tabs,
    ``|`` or ``;``; a patient value may list several ids separated by commas (exports). A JSON
    object line with the same keys is accepted too.
    """

    def __init__(self) -> None:
        # Role of each key seen (None: not ours), so a key costs one lookup: keys are what the trail
        # writes, a few dozen names; bounded all the same.
        self._roles: dict[str, str | None] = dict(_MEDIBOARD_ROLES)

    def _role(self, key: str) -> str | None:
        role = self._roles.get(key, _UNSEEN)
        if role is _UNSEEN:
            role = _MEDIBOARD_ROLES.get(key.lower())
            if len(self._roles) < 1024:
                self._roles[key] = role
        return role

    def parse(self, line: str) -> AccessEntry | None:
        if line.startswith("{"):
            return _entry_from_mapping(_load_json(line), line)
        if '"' in line:  # quoted values, read by the regex and written back as plain key=value words
            words = [k + "=" + (v[1:-1] if v.startswith('"') else v) for k, v in _PAIR.findall(line)]
        else:  # the common case, about three times faster than the regex
            words = (line.replace("|", " ").replace(";", " ") if "|" in line or ";" in line else line).split()
        patients: list[str] = []
        entry = AccessEntry(None, patients)
        roles = self._roles
        paired = False
        for word in words:
            key, equals, value = word.partition("=")
            if not equals:  # a word without "=": not a pair
                continue
            paired = True
            role = roles.get(key, _UNSEEN)
            if role is _UNSEEN:
                role = self._role(key)
            if role is None or not value or value == "-":
                continue
            if role == "patient":
                if "," in value:
                    patients.extend(v.strip() for v in value.split(",") if v.strip())
                else:
                    patients.append(value)
            elif role == "account":
                entry.account = value
            elif role == "action":
                entry.action = value
            elif role == "ip":
                entry.ip = value
            elif role == "time":
                entry.time = value if entry.time is None else f"{entry.time} {value}"
            elif value.startswith("CPatient"):  # object=CPatient-123
                patients.append(value)
                if m := _OBJECT_PATIENT.match(value):
                    patients.append(m.group(1))
        if not paired:
            raise Malformed("no key=value pair")
        if entry.account is None:
            raise Malformed("no user")
        if entry.time is None:
            entry.time = line[: line.find("=")]  # the leading timestamp, read later if needed
        return entry


_UNSEEN: Any = object()
_MEDIBOARD_ROLES = {**ALIASES, "object": "object"}


# --- regex ---------------------------------------------------------------------------------------

class RegexParser:
    """A user pattern with named groups: user/account, patient (or ipp, nir), action, time, ip."""

    def __init__(self, pattern: str) -> None:
        try:
            self.regex = re.compile(pattern)
        except re.error as exc:
            raise CanaryError(f"invalid --pattern: {exc}") from exc
        groups = list(self.regex.groupindex)
        named = [(name, ALIASES.get(name.lower().rstrip("0123456789"))) for name in groups]
        unknown = [name for name, role in named if role is None]
        if unknown:
            raise CanaryError(f"--pattern group(s) {', '.join(unknown)} unknown; use user, patient, "
                              "ipp, nir, action, time, ip")
        self.roles: list[tuple[str, str]] = [(name, role) for name, role in named if role is not None]
        if not any(role == "patient" for _, role in self.roles):
            raise CanaryError("--pattern needs a named group for the patient: (?P<patient>...) or (?P<ipp>...)")

    def parse(self, line: str) -> AccessEntry:
        match = self.regex.search(line)
        if match is None:
            raise Malformed("pattern does not match")
        entry = AccessEntry(None)
        for name, role in self.roles:
            value = match.group(name)
            if not value:
                continue
            if role == "patient":
                entry.patients.append(value)
            else:
                setattr(entry, role, value)
        return entry


# --- JSON lines ----------------------------------------------------------------------------------

def _load_json(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise Malformed(f"invalid JSON: {exc.args[0][:60]}") from None


def _dig(value: Any, path: list[str]) -> list[Any]:
    """Values at a dotted path; an integer picks a list item, a list without index is walked."""
    current = [value]
    for part in path:
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                if part.isdigit():
                    if int(part) < len(item):
                        nxt.append(item[int(part)])
                else:
                    nxt.extend(sub[part] for sub in item if isinstance(sub, dict) and part in sub)
            elif isinstance(item, dict) and part in item:
                nxt.append(item[part])
        current = nxt
    out: list[Any] = []
    for item in current:
        out.extend(item if isinstance(item, list) else [item])
    return [v for v in out if v is not None and v != ""]


def _entry_from_mapping(obj: Any, line: str) -> AccessEntry:
    if not isinstance(obj, dict):
        raise Malformed("JSON line is not an object")
    entry = AccessEntry(None)
    for key, value in obj.items():
        role = ALIASES.get(str(key).lower())
        if role is None or value in (None, ""):
            continue
        if role == "patient":
            entry.patients.extend(str(v) for v in (value if isinstance(value, list) else [value]))
        else:
            setattr(entry, role, str(value))
    if entry.account is None:
        raise Malformed("no user")
    return entry


class JsonLinesParser:
    """One JSON object per line; ``--field role=dotted.path`` (default: the key aliases)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.paths = {role: [p.split(".") for p in paths] for role, paths in fields.items()}

    def parse(self, line: str) -> AccessEntry:
        obj = _load_json(line)
        if not self.paths:
            return _entry_from_mapping(obj, line)
        if not isinstance(obj, dict):
            raise Malformed("JSON line is not an object")
        base = _entry_from_mapping_lenient(obj)
        for role, paths in self.paths.items():
            found = [str(v) for path in paths for v in _dig(obj, path) if not isinstance(v, dict | list)]
            if role == "patient":
                base.patients = found
            else:
                setattr(base, role, found[0] if found else None)
        return base


def _entry_from_mapping_lenient(obj: dict[str, Any]) -> AccessEntry:
    try:
        return _entry_from_mapping(obj, "")
    except Malformed:
        return AccessEntry(None)


# --- CSV -----------------------------------------------------------------------------------------

_DEFAULT_COLUMNS = {"time": 0, "account": 1, "patient": 2, "action": 3, "ip": 4}


class CsvParser:
    """Comma- or semicolon-separated lines. ``--field role=N`` (0-based) or ``role=column name``.

    Without ``--field`` the columns are time, user, patient, action, ip, unless a header line (a
    line with no digit) names them; a header is learned, not counted as malformed.
    """

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.wanted = fields
        self.columns: dict[str, list[int]] = {}
        self.ready = False
        if not fields:
            self.columns = {role: [i] for role, i in _DEFAULT_COLUMNS.items()}
            self.ready = True
        elif all(p.isdigit() for paths in fields.values() for p in paths):
            self.columns = {role: [int(p) for p in paths] for role, paths in fields.items()}
            self.ready = True

    def parse(self, line: str) -> AccessEntry | None:
        delimiter = ";" if line.count(";") > line.count(",") else ","
        try:
            cells = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            raise Malformed("unreadable CSV") from None
        if not any(ch.isdigit() for ch in line):
            self._learn_header(cells)
            return None
        if not self.ready:
            raise Malformed("CSV data before the header naming the --field columns")
        entry = AccessEntry(None)
        for role, indexes in self.columns.items():
            values = [cells[i].strip() for i in indexes if i < len(cells) and cells[i].strip()]
            if role == "patient":
                entry.patients = values
            elif values:
                setattr(entry, role, values[0])
        if len(cells) <= max(i for idx in self.columns.values() for i in idx) and not entry.patients:
            raise Malformed(f"{len(cells)} columns, fewer than expected")
        return entry

    def _learn_header(self, cells: list[str]) -> None:
        names = [c.strip().lower() for c in cells]
        columns: dict[str, list[int]] = {}
        if self.wanted:
            for role, paths in self.wanted.items():
                idx = [int(p) if p.isdigit() else names.index(p.lower()) for p in paths
                       if p.isdigit() or p.lower() in names]
                if idx:
                    columns[role] = idx
        else:
            for i, name in enumerate(names):
                aliased = ALIASES.get(name)
                if aliased:
                    columns.setdefault(aliased, []).append(i)
        if "patient" in columns:
            self.columns = columns
            self.ready = True


# --- FHIR AuditEvent (one resource per line: ndjson, the FHIR bulk format) -------------------------

def _parse_auditevent_line(line: str) -> AccessEntry:
    return entry_from_auditevent(_load_json(line))
