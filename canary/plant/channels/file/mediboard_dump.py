"""The `mediboard` file format: canaries as Mediboard's own tables hold them, written as a MariaDB dump.

Mediboard (OpenXtrem) keeps a patient in three places a stolen database shows together: the `patients`
table (CPatient: `patient_id` and about ninety columns, the INS-era ones appended by later migrations),
the IPP as an external identifier in `id_sante400` (CIdSante400: object_class `CPatient`, the patient's
id, the establishment's IPP tag, `id400` the IPP), and the treating physician as a `medecin` row (CMedecin)
that `patients.medecin_traitant` references by its `medecin_id`. Column names, order and types follow the
class declarations and setup migrations of Mediboard's published source (GPL); values follow its
conventions: NULL for an unset field, `'0'`/`'1'` for booleans, the soundex2 keys its store computes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from canary.generate.text import ins_form
from canary.plant.channels.file import columns as fx

Record = Mapping[str, Any]
Value = str | int | None
PARIS = ZoneInfo("Europe/Paris")
# What mysqldump of Debian 12's MariaDB writes at the top and bottom of a dump.
SERVER = "10.11.6-MariaDB-0+deb12u1"
DUMP_TOOL = "-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)"


def soundex2(text: str) -> str | None:
    """French phonetic key ("soundex2", F. Brouard) as Mediboard stores it in `*_soundex2`: up to four characters."""
    word = "".join(c for c in unicodedata.normalize("NFKD", text.upper()) if "A" <= c <= "Z")
    if not word:
        return None
    for old, new in (("GUI", "KI"), ("GUE", "KE"), ("GA", "KA"), ("GO", "KO"), ("GU", "K"), ("CA", "KA"),
                     ("CO", "KO"), ("CU", "KU"), ("Q", "K"), ("CC", "K"), ("CK", "K")):
        word = word.replace(old, new)
    word = word[0] + "".join("A" if c in "EIOUY" else c for c in word[1:])
    for old, new in (("MAC", "MCC"), ("ASA", "AZA"), ("KN", "NN"), ("PF", "FF"), ("SCH", "SSS"), ("PH", "FF")):
        if word.startswith(old):
            word = new + word[len(old):]
    kept = [c for i, c in enumerate(word) if c != "H" or (i > 0 and word[i - 1] in "CS")]
    word = "".join(c for i, c in enumerate(kept) if c != "Y" or (i > 0 and kept[i - 1] == "A"))
    while len(word) > 1 and word[-1] in "ADTS":
        word = word[:-1]
    word = word[0] + word[1:].replace("A", "")
    deduped = word[0]
    for c in word[1:]:
        if c != deduped[-1]:
            deduped += c
    return deduped[:4]


def patient_id(record: Record) -> int:
    """The row's `patient_id`: taken from the IPP's digits, so ids grow with IPPs (both follow arrivals)
    and a rewrite of the file gives every canary the id it had."""
    digits = "".join(c for c in str(record.get("ipp") or "") if c.isdigit())
    return int(digits[-9:] or "0")


def _stamp(record: Record) -> str:
    """The record's creation moment as Mediboard writes DATETIME columns: Paris time, no offset."""
    try:
        moment = datetime.fromisoformat(str(record.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _nth_first_name(index: int) -> Callable[[Record], Value]:
    def read(record: Record) -> Value:
        names = record.get("first_names") or []
        return _upper(names[index]) if len(names) > index else None
    return read


def _upper(value: Any) -> str | None:
    from canary.generate.text import ins_form

    return ins_form(str(value)) if value else None


def _columns() -> list[tuple[str, str, Callable[[Record], Value]]]:
    """`patients`: (column, MariaDB type, value). The values reuse the `mediboard` mapping's conventions."""

    def field(column: Callable[[Record], str]) -> Callable[[Record], Value]:
        return lambda record: _text(column(record))

    def const(value: Value) -> Callable[[Record], Value]:
        return lambda record: value

    none = const(None)
    surname = field(fx.MEDIBOARD["nom"])
    birth_name = field(fx.MEDIBOARD["nom_jeune_fille"])
    first = field(fx.MEDIBOARD["prenom"])
    status = field(fx.MEDIBOARD["status"])
    str255, text, date, dt = "varchar(255)", "text", "date", "datetime"
    boolean = "enum('0','1')"
    return [
        ("patient_id", "int(11) unsigned NOT NULL AUTO_INCREMENT", patient_id),
        ("nom", "varchar(255) NOT NULL", surname),
        ("nom_jeune_fille", str255, birth_name),
        ("prenom", "varchar(255) NOT NULL", first),
        ("prenom_2", str255, _nth_first_name(1)),
        ("prenom_3", str255, _nth_first_name(2)),
        ("prenom_4", str255, _nth_first_name(3)),
        ("nom_soundex2", str255, lambda r: soundex2(str(surname(r) or ""))),
        ("nomjf_soundex2", str255, lambda r: soundex2(str(birth_name(r) or ""))),
        ("prenom_soundex2", str255, lambda r: soundex2(str(first(r) or ""))),
        ("naissance", "char(10)", field(fx.MEDIBOARD["naissance"])),
        ("deces", "char(10)", none),
        ("sexe", "enum('m','f')", field(fx.MEDIBOARD["sexe"])),
        ("civilite", "enum('m','mme','mlle','enf','dr','pr','me','vve')", field(fx.MEDIBOARD["civilite"])),
        ("adresse", text, field(fx.MEDIBOARD["adresse"])),
        ("province", str255, none),
        ("ville", str255, field(fx.MEDIBOARD["ville"])),
        ("cp", "varchar(5)", field(fx.MEDIBOARD["cp"])),
        ("tel", "varchar(20)", field(fx.MEDIBOARD["tel"])),
        ("tel2", "varchar(20)", field(fx.MEDIBOARD["tel2"])),
        ("tel_autre", "varchar(20)", none),
        ("email", str255, field(fx.MEDIBOARD["email"])),
        ("vip", boolean + " NOT NULL DEFAULT '0'", const("0")),
        ("tutelle", "enum('aucune','tutelle','curatelle') DEFAULT 'aucune'", const("aucune")),
        ("situation_famille", "enum('S','M','G','P','D','W','A')", none),
        ("is_smg", boolean + " DEFAULT '0'", const("0")),
        ("medecin_traitant_declare", boolean, lambda r: "1" if (r.get("gp") or {}).get("rpps") else None),
        ("medecin_traitant", "int(11) unsigned", none),  # filled with the CMedecin id by render()
        ("incapable_majeur", boolean, none),
        ("ATNC", boolean, none),
        ("matricule", "varchar(15)", field(fx.MEDIBOARD["matricule"])),
        ("INSC", "varchar(22)", none),
        ("avs", "varchar(16)", none),
        ("code_regime", "varchar(2)", none),
        ("caisse_gest", "varchar(3)", lambda r: _text((r.get("coverage") or {}).get("caisse_code"))),
        ("centre_gest", "varchar(4)", none),
        ("code_gestion", "varchar(2)", none),
        ("centre_carte", "varchar(4)", none),
        ("regime_sante", str255, lambda r: _text((r.get("coverage") or {}).get("regime"))),
        ("rques", text, field(fx.MEDIBOARD["rques"])),
        ("cmu", boolean, none),
        ("ald", boolean, none),
        ("code_exo", "enum('0','4','5','9') DEFAULT '0'", const("0")),
        ("libelle_exo", text, none),
        ("notes_amo", text, none),
        ("notes_amc", text, none),
        ("deb_amo", date, none),
        ("fin_amo", date, none),
        ("code_sit", "varchar(4)", none),
        ("regime_am", boolean + " DEFAULT '0'", const("0")),
        ("mutuelle_types_contrat", text, none),
        ("rang_beneficiaire", "enum('01','02','09','11','12','13','14','15','16','31')", none),
        ("qual_beneficiaire", "enum('0','1','2','3','4','5','6','7','8','9')", none),
        ("rang_naissance", "enum('1','2','3','4','5','6') DEFAULT '1'", const("1")),
        ("fin_validite_vitale", date, none),
        ("pays", str255, field(fx.MEDIBOARD["pays"])),
        ("pays_insee", str255, const("250")),
        ("lieu_naissance", str255, field(fx.MEDIBOARD["lieu_naissance"])),
        ("cp_naissance", "varchar(5)", field(fx.MEDIBOARD["cp_naissance"])),
        ("pays_naissance_insee", str255, field(fx.MEDIBOARD["pays_naissance_insee"])),
        ("profession", str255, none),
        ("csp", "varchar(2)", none),
        ("patient_link_id", "int(11) unsigned", none),
        *[(f"assure_{name}", kind, none) for name, kind in (
            ("nom", str255), ("nom_jeune_fille", str255), ("prenom", str255), ("prenom_2", str255),
            ("prenom_3", str255), ("prenom_4", str255), ("naissance", "char(10)"), ("sexe", "enum('m','f')"),
            ("civilite", "enum('m','mme','mlle','enf','dr','pr','me','vve')"), ("adresse", text),
            ("ville", str255), ("cp", "varchar(5)"), ("tel", "varchar(20)"), ("tel2", "varchar(20)"),
            ("pays", str255), ("pays_insee", str255), ("cp_naissance", "varchar(5)"),
            ("lieu_naissance", str255), ("pays_naissance_insee", str255), ("profession", str255),
            ("rques", text), ("matricule", "varchar(15)"))],
        ("INSC_date", dt, none),
        ("date_lecture_vitale", dt, none),
        # Appended by the INS-era migrations.
        ("status", "enum('VIDE','PROV','VALI','RECUP','QUAL') DEFAULT 'VIDE'", status),
        ("prenoms", str255, field(fx.MEDIBOARD["prenoms"])),
        ("commune_naissance_insee", "varchar(5)", field(fx.MEDIBOARD["commune_naissance_insee"])),
        ("source_identite_id", "int(11) unsigned", none),
    ]


MEDECIN_COLUMNS = (
    ("medecin_id", "int(11) unsigned NOT NULL AUTO_INCREMENT"), ("function_id", "int(11) unsigned"),
    ("nom", "varchar(255) NOT NULL"), ("prenom", "varchar(255)"), ("jeunefille", "varchar(255)"),
    ("sexe", "enum('u','f','m') DEFAULT 'u'"), ("adresse", "text"), ("ville", "varchar(255)"),
    ("cp", "varchar(5)"), ("tel", "varchar(20)"), ("fax", "varchar(20)"), ("portable", "varchar(20)"),
    ("email", "varchar(255)"), ("disciplines", "text"), ("orientations", "text"), ("complementaires", "text"),
    ("type", "enum('medecin','kine','sagefemme','infirmier','dentiste','podologue','pharmacie',"
             "'maison_medicale','autre') DEFAULT 'medecin'"),
    ("adeli", "varchar(9)"), ("rpps", "varchar(11)"), ("email_apicrypt", "varchar(50)"),
    ("last_ldap_checkout", "date"),
)
ID_SANTE400_COLUMNS = (
    ("id_sante400_id", "int(11) unsigned NOT NULL AUTO_INCREMENT"), ("object_class", "char(40) NOT NULL"),
    ("object_id", "int(11) unsigned NOT NULL"), ("tag", "char(80)"), ("last_update", "datetime NOT NULL"),
    ("id400", "char(80) NOT NULL"), ("datetime_create", "datetime NOT NULL"),
)


def _medecins(records: Sequence[Record]) -> dict[str, list[Value]]:
    """One CMedecin row per distinct RPPS, ids in RPPS order (the same set gives the same ids)."""
    by_rpps: dict[str, Mapping[str, Any]] = {}
    for record in records:
        gp = record.get("gp") or {}
        if gp.get("rpps"):
            by_rpps.setdefault(str(gp["rpps"]), gp)
    rows = {}
    for index, rpps in enumerate(sorted(by_rpps), start=1):
        gp = by_rpps[rpps]
        first = str(gp.get("first_name") or "")
        # CMedecin stores the name upper case and the first name capitalised; a real GP gets no contact point.
        rows[rpps] = [index, None, _upper(gp.get("family_name")) or ins_form(rpps), first.capitalize() or None,
                      None, "u", None, _upper(gp.get("city")), None, None, None, None, None,
                      _text(gp.get("specialty")), None, None, "medecin", None, rpps, None, None]
    return rows


def _quote(value: Value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
               .replace("\0", "\\0").replace("\x1a", "\\Z"))
    return f"'{escaped}'"


def _table(name: str, columns: Sequence[tuple[str, str]], key: str, rows: Sequence[Sequence[Value]],
           indexes: Sequence[str] = ()) -> list[str]:
    lines = ["", "--", f"-- Table structure for table `{name}`", "--", "",
             f"DROP TABLE IF EXISTS `{name}`;",
             "/*!40101 SET @saved_cs_client     = @@character_set_client */;",
             "/*!40101 SET character_set_client = utf8 */;",
             f"CREATE TABLE `{name}` ("]
    body = [f"  `{column}` {kind}" + ("" if "NOT NULL" in kind else " DEFAULT NULL" if "DEFAULT" not in kind else "")
            for column, kind in columns]
    body.append(f"  PRIMARY KEY (`{key}`)")
    body += [f"  KEY `{index}` (`{index}`)" for index in indexes]
    lines.append(",\n".join(body))
    next_id = max((int(row[0]) for row in rows if isinstance(row[0], int)), default=0) + 1
    lines += [f") ENGINE=MyISAM AUTO_INCREMENT={next_id} DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;",
              "/*!40101 SET character_set_client = @saved_cs_client */;", "", "--",
              f"-- Dumping data for table `{name}`", "--", "", f"LOCK TABLES `{name}` WRITE;",
              f"/*!40000 ALTER TABLE `{name}` DISABLE KEYS */;"]
    if rows:
        values = ",".join("(" + ",".join(_quote(v) for v in row) + ")" for row in rows)
        lines.append(f"INSERT INTO `{name}` VALUES {values};")
    lines += [f"/*!40000 ALTER TABLE `{name}` ENABLE KEYS */;", "UNLOCK TABLES;"]
    return lines


def render(records: Sequence[Record], *, database: str = "mediboard", ipp_tag: str = "tag_ipp",
           now: datetime | None = None) -> str:
    """The dump of `medecin`, `patients` and `id_sante400` holding ``records`` (in IPP order)."""
    ordered = sorted(records, key=patient_id)
    columns = _columns()
    medecins = _medecins(ordered)
    gp_column = [name for name, _, _ in columns].index("medecin_traitant")
    patients = []
    for record in ordered:
        row = [read(record) for _, _, read in columns]
        rpps = str((record.get("gp") or {}).get("rpps") or "")
        row[gp_column] = medecins[rpps][0] if rpps in medecins else None
        patients.append(row)
    idex: list[list[Value]] = [[index, "CPatient", patient_id(r), ipp_tag, _stamp(r), str(r.get("ipp") or ""),
                                _stamp(r)]
            for index, r in enumerate(ordered, start=1)]
    finished = (now or datetime.now(UTC)).astimezone(PARIS).strftime("%Y-%m-%d %H:%M:%S")
    lines = [DUMP_TOOL, "--", f"-- Host: localhost    Database: {database}",
             "-- ------------------------------------------------------", f"-- Server version\t{SERVER}", "",
             "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
             "/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;",
             "/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;",
             "/*!40101 SET NAMES utf8mb4 */;",
             "/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;",
             "/*!40103 SET TIME_ZONE='+00:00' */;",
             "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;",
             "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;",
             "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
             "/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;"]
    # mysqldump writes tables in name order.
    lines += _table("id_sante400", ID_SANTE400_COLUMNS, "id_sante400_id", idex,
                    ("object_class", "object_id", "tag", "last_update", "id400"))
    lines += _table("medecin", MEDECIN_COLUMNS, "medecin_id", list(medecins.values()), ("nom", "prenom", "rpps"))
    lines += _table("patients", [(name, kind) for name, kind, _ in columns], "patient_id", patients,
                    ("nom", "prenom", "naissance", "medecin_traitant", "matricule"))
    lines += ["/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;", "",
              "/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;",
              "/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;",
              "/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;",
              "/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;",
              "/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;",
              "/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;",
              "/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;", "", f"-- Dump completed on {finished}", ""]
    return "\n".join(lines)
