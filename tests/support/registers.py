"""Small register extracts in the published layouts, written by the tests (imported by name).

BAN: ``adresses-XX.csv.gz``, ``;``-separated, the header of adresse.data.gouv.fr's "csv" format.
RPPS: ``PS_LibreAcces_Personne_activite_*.txt``, ``|``-separated with a trailing ``|``, the header of
the Annuaire Santé extraction.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from canary.generate.reference import Reference

BAN_HEADER = ("id;id_fantoir;numero;rep;nom_voie;code_postal;code_insee;nom_commune;code_insee_ancienne_commune;"
              "nom_ancienne_commune;x;y;lon;lat;type_position;alias;nom_ld;libelle_acheminement;nom_afnor;"
              "source_position;source_nom_voie;certification_commune;cad_parcelles")
RPPS_HEADER = (
    "Type d'identifiant PP|Identifiant PP|Identification nationale PP|Code civilité d'exercice|"
    "Libellé civilité d'exercice|Code civilité|Libellé civilité|Nom d'exercice|Prénom d'exercice|Code profession|"
    "Libellé profession|Code catégorie professionnelle|Libellé catégorie professionnelle|Code type savoir-faire|"
    "Libellé type savoir-faire|Code savoir-faire|Libellé savoir-faire|Code mode exercice|Libellé mode exercice|"
    "Numéro SIRET site|Numéro SIREN site|Numéro FINESS site|Numéro FINESS établissement juridique|"
    "Identifiant technique de la structure|Raison sociale site|Enseigne commerciale site|"
    "Complément destinataire (coord. structure)|Complément point géographique (coord. structure)|"
    "Numéro Voie (coord. structure)|Indice répétition voie (coord. structure)|Code type de voie (coord. structure)|"
    "Libellé type de voie (coord. structure)|Libellé Voie (coord. structure)|Mention distribution (coord. structure)|"
    "Bureau cedex (coord. structure)|Code postal (coord. structure)|Code commune (coord. structure)|"
    "Libellé commune (coord. structure)|Code pays (coord. structure)|Libellé pays (coord. structure)|"
    "Téléphone (coord. structure)|Téléphone 2 (coord. structure)|Télécopie (coord. structure)|"
    "Adresse e-mail (coord. structure)|Code Département (structure)|Libellé Département (structure)|"
    "Ancien identifiant de la structure|Autorité d'enregistrement|Code secteur d'activité|"
    "Libellé secteur d'activité|Code section tableau pharmaciens|Libellé section tableau pharmaciens|")
DEPARTMENTS = ("75", "92")
STREETS = ("Rue de la Paix", "Avenue Jean Jaurès", "Impasse des Lilas")
# Where the fixture places each department's communes (a grid of 2 km steps around this corner).
CORNER = {"75": (2.30, 48.83), "92": (2.20, 48.80), "69": (4.40, 45.55), "01": (4.90, 45.65)}
PRACTICE_PHONE = "0145678901"  # in the extract, never kept


@dataclass(frozen=True)
class Point:
    number: int
    rep: str
    street: str
    postcode: str
    commune_code: str
    commune_name: str
    city: str
    lon: float
    lat: float

    def ban_row(self) -> str:
        street_key = f"{self.commune_code}_{zlib.crc32(self.street.encode()) % 10000:04d}"
        key = f"{street_key}_{self.number:05d}{self.rep}"
        return (f"{key};{street_key};{self.number};{self.rep};"
                f"{self.street};{self.postcode};{self.commune_code};{self.commune_name};;;652000.1;6862000.2;"
                f"{self.lon:.5f};{self.lat:.5f};entrée;;;{self.city};{self.street.upper()};commune;commune;1;")


def fixture_points(reference: Reference, department: str, *, streets: tuple[str, ...] = STREETS) -> list[Point]:
    """Every commune of the department: a few streets, numbers 1-6, a bis on number 2 and a ter on 3."""
    communes = sorted((c for c in reference.communes.values() if c.department == department), key=lambda c: c.code)
    base_lon, base_lat = CORNER[department]
    points = []
    for index, commune in enumerate(communes):
        lon, lat = base_lon + (index % 6) * 0.027, base_lat + (index // 6) * 0.018
        for street in streets:
            for number, rep in ((1, ""), (2, ""), (2, "bis"), (3, ""), (3, "ter"), (4, ""), (5, ""), (6, "")):
                points.append(Point(number, rep, street, commune.postcodes[0], commune.code, commune.name,
                                    commune.city, lon + number * 0.0003, lat))
    return points


def write_ban(path: Path, points: list[Point], *, gz: bool = True, header: str = BAN_HEADER) -> Path:
    text = header + "\n" + "".join(p.ban_row() + "\n" for p in points)
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


@dataclass(frozen=True)
class Doctor:
    rpps: str
    family: str
    first: str
    commune_code: str
    postcode: str
    city: str
    profession: tuple[str, str] = ("10", "Médecin")
    savoir_faire: tuple[str, str] = ("SM54", "Médecine générale")
    mode: tuple[str, str] = ("L", "Libéral")
    sector: tuple[str, str] = ("SA07", "Cabinet individuel")

    def rpps_row(self) -> str:
        fields = {
            "Type d'identifiant PP": "8", "Identifiant PP": self.rpps, "Identification nationale PP": "8" + self.rpps,
            "Code civilité d'exercice": "DR", "Libellé civilité d'exercice": "Docteur", "Code civilité": "M",
            "Libellé civilité": "Monsieur", "Nom d'exercice": self.family, "Prénom d'exercice": self.first,
            "Code profession": self.profession[0], "Libellé profession": self.profession[1],
            "Code catégorie professionnelle": "C", "Libellé catégorie professionnelle": "Civil",
            "Code type savoir-faire": "S", "Libellé type savoir-faire": "Spécialité ordinale",
            "Code savoir-faire": self.savoir_faire[0], "Libellé savoir-faire": self.savoir_faire[1],
            "Code mode exercice": self.mode[0], "Libellé mode exercice": self.mode[1],
            "Raison sociale site": f"CABINET DU DR {self.family}", "Numéro Voie (coord. structure)": "12",
            "Libellé type de voie (coord. structure)": "Rue", "Libellé Voie (coord. structure)": "DE LA PAIX",
            "Bureau cedex (coord. structure)": f"{self.postcode} {self.city}",
            "Code postal (coord. structure)": self.postcode, "Code commune (coord. structure)": self.commune_code,
            "Libellé commune (coord. structure)": self.city, "Code pays (coord. structure)": "99000",
            "Libellé pays (coord. structure)": "France", "Téléphone (coord. structure)": PRACTICE_PHONE,
            "Adresse e-mail (coord. structure)": f"dr.{self.family.lower()}@cabinet-medical.example",
            "Code secteur d'activité": self.sector[0], "Libellé secteur d'activité": self.sector[1],
        }
        return "|".join(fields.get(name, "") for name in RPPS_HEADER.split("|"))


def fixture_doctors() -> list[Doctor]:
    """GPs in a few communes of both departments, a paediatrician, and rows the import must leave out."""
    return [
        Doctor("10003000011", "MARCHAND", "HELENE", "75111", "75011", "PARIS"),
        Doctor("10003000029", "NGUYEN", "THANH", "75111", "75011", "PARIS"),
        Doctor("10003000037", "LEROY", "PAUL", "75056", "75015", "PARIS"),  # city code: arrondissement by postcode
        Doctor("10003000045", "FAURE-DUBOIS", "ANNE-SOPHIE", "92012", "92100", "BOULOGNE BILLANCOURT"),
        Doctor("10003000052", "BENSAID", "KARIM", "92050", "92000", "NANTERRE",
               mode=("S", "Salarié"), sector=("SA05", "Centre de santé")),
        Doctor("10003000060", "ROCHE", "CLAIRE", "75111", "75011", "PARIS", savoir_faire=("SM40", "Pédiatrie")),
        # Left out: a dentist, a cardiologist, a hospital GP, a GP of an uncovered department.
        Doctor("10003000078", "DENTALE", "LUC", "75111", "75011", "PARIS",
               profession=("40", "Chirurgien-Dentiste"), savoir_faire=("", "")),
        Doctor("10003000086", "COEUR", "MARC", "75111", "75011", "PARIS", savoir_faire=("SM04", "Cardiologie")),
        Doctor("10003000094", "HOPITAL", "JEAN", "92050", "92000", "NANTERRE",
               mode=("S", "Salarié"), sector=("SA01", "Etablissement public de santé")),
        Doctor("10003000102", "LYONNAIS", "PIERRE", "69383", "69003", "LYON"),
    ]


def write_rpps(path: Path, doctors: list[Doctor], *, header: str = RPPS_HEADER) -> Path:
    path.write_text(header + "\n" + "".join(d.rpps_row() + "\n" for d in doctors), encoding="utf-8")
    return path
