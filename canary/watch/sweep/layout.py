"""Which field of a record is which: column names mapped to roles, and records cut into their fields.

A dump with structure says what each value is: a CSV header, the column list of an SQL insert (or
the ``CREATE TABLE`` before it), JSON keys, XML tags, HL7 segment positions. Verification then
checks each value in its role (a first name only in the first-name column, a family name only in a
name column), so one word never serves two fields and a word of a street never reads as a name.
Text without structure (a forum post, a paste) falls back to proximity matching.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from canary.normalize import fold

# Roles a value can play; the matcher compares each canary field only with values of its role.
ROLES = ("name", "first_name", "birth_date", "nir", "phone", "email", "address", "postcode", "city", "ipp",
         "amc_member")

# Column names (folded to lower-case ASCII words joined by "_") -> role; French and English, with
# Mediboard's `patients` columns.
_COLUMNS: dict[str, str] = {}
for _role, _names in {
    "name": "nom name lastname last_name family_name familyname surname nom_naissance nom_de_naissance "
            "nom_jeune_fille birth_name birthname nom_usage nom_d_usage used_name nom_marital patronyme "
            "nom_famille nom_de_famille maiden_name married_name nom_patient patient_nom",
    "first_name": "prenom prenoms prenom_2 prenom_3 prenom_4 firstname first_name first_names given given_name "
                  "givenname forename prenom_usuel prenom_usage premier_prenom prenom_patient patient_prenom "
                  "other_first_names",
    "birth_date": "naissance date_naissance date_de_naissance datenaissance ddn dob date_of_birth birth_date "
                  "birthdate birthday ne_le nee_le ne_e_le date_naiss dt_naissance",
    "nir": "nir matricule ins ins_nir nss ssn num_secu numero_secu numero_securite_sociale secu "
           "num_securite_sociale insee numero_insee",
    "phone": "tel tel2 tel_autre tel_portable tel_mobile tel_fixe telephone telephone2 phone phone_number mobile "
             "portable fixe gsm mobile_phone home_phone",
    "email": "email e_mail mail courriel adresse_mail adresse_email email_address",
    "address": "adresse adresse1 adresse_1 address address1 address_line street rue voie ligne_adresse",
    "postcode": "cp code_postal codepostal zip zipcode zip_code postcode postal_code",
    "city": "ville city commune localite town",
    "ipp": "ipp patient_ipp num_ipp numero_ipp",
    "amc_member": "numero_adherent num_adherent adherent member_number",
}.items():
    for _name in _names.split():
        _COLUMNS[_name] = _role

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_SQL_HEAD = re.compile(r"""^\s*(?:INSERT|REPLACE)\s+(?:IGNORE\s+)?INTO\s+[`"\[]?([\w.]+)[`"\]]?\s*"""
                       r"""(?:\(([^()]*)\))?\s*VALUES""", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"""CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?[`"\[]?([\w.]+)[`"\]]?\s*\(""",
                           re.IGNORECASE)
_CREATE_COLUMN = re.compile(r"""^\s*[`"\[]?(\w+)[`"\]]?\s+\w""")
_SQL_VALUE = re.compile(r"""'((?:[^'\\]|\\.|'')*)'|"((?:[^"\\]|\\.)*)"|(NULL)|([^,()'"\s]+)""", re.IGNORECASE)
_JSON_PAIR = re.compile(r'"([^"\\]{1,64})"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d[\d.]*|null|true|false)')
_XML_PAIR = re.compile(r"<([A-Za-z_][\w\-]{0,63})(?:\s[^<>]*)?>([^<>]*)</\1>")


def role_of(column: str) -> str | None:
    """The role of a column named ``column`` (``Prénom``, ``date_naissance``, ``DOB``...), else None."""
    key = _NOT_WORD.sub("_", fold(column).lower()).strip("_")
    role = _COLUMNS.get(key)
    if role is None and key.startswith(("prenom_", "tel_")):
        role = "first_name" if key.startswith("prenom_") else "phone"
    return role


Values = dict[str, list[str]]  # role -> the record's values in that role


@dataclass
class Layout:
    """What is known of one stream's structure, learned as it is read."""

    delimiter: str | None = None  # of the CSV header, when the stream opened with one
    header: list[str | None] = field(default_factory=list)  # role per column
    tables: dict[str, list[str | None]] = field(default_factory=dict)  # SQL table -> role per column

    def learn_header(self, first_line: str) -> None:
        """Take the stream's first line as a CSV header if at least two of its cells name a role."""
        line = first_line.lstrip("\ufeff").rstrip("\r\n")
        if not line or len(line) > 4096 or "\r" in line or line.lstrip()[:1] in ("{", "[", "<", "(") \
                or line[:6].upper() in ("INSERT", "CREATE"):
            return
        counts = {d: line.count(d) for d in (";", "\t", "|", ",")}
        delimiter = max(counts, key=lambda d: counts[d])
        if not counts[delimiter]:
            return
        cells = _cells(line, delimiter)
        roles = [role_of(cell) for cell in cells]
        if sum(1 for r in roles if r) >= 2:
            self.delimiter, self.header = delimiter, roles

    def learn_tables(self, text: str) -> None:
        """Column lists of the ``CREATE TABLE`` statements in ``text`` (mysqldump writes them first)."""
        for match in _CREATE_TABLE.finditer(text):
            body_end = text.find(";", match.end())
            body = text[match.end(): body_end if body_end >= 0 else len(text)]
            columns = []
            for line in body.splitlines():
                column = _CREATE_COLUMN.match(line)
                if column and column.group(1).upper() not in ("PRIMARY", "KEY", "UNIQUE", "INDEX", "CONSTRAINT",
                                                              "FOREIGN", "FULLTEXT", "CHECK"):
                    columns.append(role_of(column.group(1)))
            if sum(1 for r in columns if r) >= 2:
                self.tables[match.group(1).split(".")[-1].lower()] = columns

    def values(self, record: str, line_head: str) -> Values | None:
        """The record's values by role, or None when its structure is unknown (free text)."""
        stripped = record.strip()
        if stripped.startswith("PID|"):
            return _hl7_pid(stripped)
        sql = _SQL_HEAD.match(line_head)
        if sql and "(" in stripped:
            own_head = _SQL_HEAD.match(stripped)  # the first tuple of the line carries the INSERT head
            if own_head:
                stripped = stripped[own_head.end():]
            roles = [role_of(c.strip(" `\"[]")) for c in sql.group(2).split(",")] if sql.group(2) else \
                self.tables.get(sql.group(1).split(".")[-1].lower())
            return _zip(roles, _sql_tuple(stripped)) if roles else None
        if stripped[:1] == "{" or stripped[:1] == "[" or '":' in stripped:
            pairs = _JSON_PAIR.findall(stripped)
            if pairs:
                return _by_role((k, _json_value(v)) for k, v in pairs)
        if stripped[:1] == "<" and "</" in stripped:
            pairs = _XML_PAIR.findall(stripped)
            if pairs:
                return _by_role(pairs)
        if self.delimiter and self.delimiter in record:
            cells = _cells(record.rstrip("\r\n"), self.delimiter)
            if len(cells) == len(self.header):
                return _zip(self.header, cells)
        return None


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:  # a stray carriage return or NUL: not a row of this table
        return []


def _zip(roles: list[str | None], cells: list[str]) -> Values | None:
    if len(roles) != len(cells):
        return None
    values: Values = {}
    for role, cell in zip(roles, cells, strict=True):
        if role and cell.strip():
            values.setdefault(role, []).append(cell.strip())
    return values


def _by_role(pairs: Iterable[tuple[str, str]]) -> Values | None:
    values: Values = {}
    known = False
    for key, value in pairs:
        role = role_of(key)
        if role:
            known = True
            if value.strip():
                values.setdefault(role, []).append(value.strip())
    return values if known else None


def _json_value(raw: str) -> str:
    if raw.startswith('"'):
        try:
            return str(json.loads(raw))
        except ValueError:
            return raw.strip('"')
    return "" if raw == "null" else raw


def _sql_tuple(text: str) -> list[str]:
    """The values of one SQL tuple ``(1,'DUPONT','Jean',NULL)``, unquoted and unescaped."""
    inner = text[text.find("(") + 1: text.rfind(")") if text.rfind(")") > 0 else len(text)]
    out = []
    for quoted, dquoted, null, bare in _SQL_VALUE.findall(inner):
        if null:
            out.append("")
        elif bare:
            out.append(bare)
        else:
            raw = quoted or dquoted
            out.append(re.sub(r"\\(.)", r"\1", raw.replace("''", "'")))
    return out


def _hl7_pid(segment: str) -> Values:
    """PID-3 ids, PID-5 names (family^given^second given), PID-7 birth, PID-11 address, PID-13 phone."""
    fields = segment.split("|")

    def at(i: int) -> str:
        return fields[i] if i < len(fields) else ""

    values: Values = {}
    for name in at(5).split("~"):
        parts = name.split("^")
        if parts[0]:
            values.setdefault("name", []).append(parts[0])
        given = " ".join(p for p in parts[1:3] if p)
        if given:
            values.setdefault("first_name", []).append(given)
    if at(7):
        values["birth_date"] = [at(7)[:8]]
    for address in at(11).split("~"):
        parts = address.split("^")
        for role, i in (("address", 0), ("city", 2), ("postcode", 4)):
            if len(parts) > i and parts[i]:
                values.setdefault(role, []).append(parts[i])
    for phone in at(13).split("~"):
        parts = phone.split("^")
        number = next((p for p in (parts[0], parts[11] if len(parts) > 11 else "") if p), "")
        if number:
            values.setdefault("phone", []).append(number)
    return values
