"""Countries of birth: INSEE COG code (99xxx) to the ISO 3166-1 codes receivers store.

HL7 XAD-6 and FHIR ``address.country`` take ISO 3166 (alpha-3 here, as ``FRA`` for France); Mediboard's
``pays_naissance_insee`` holds the numeric code (250 for France). The table covers every country of
seeds/places/birth_countries.tsv (a test keeps them in step); another code gets no country component.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    insee: str
    alpha3: str
    numeric: str


_TABLE = """
99100 FRA 250  99101 DNK 208  99109 DEU 276  99110 AUT 040  99114 ROU 642  99121 SRB 688  99122 POL 616
99123 RUS 643  99127 ITA 380  99131 BEL 056  99132 GBR 826  99134 ESP 724  99139 PRT 620  99140 CHE 756
99155 UKR 804  99205 LBN 422  99206 SYR 760  99208 TUR 792  99212 AFG 004  99216 CHN 156  99223 IND 356
99234 KHM 116  99235 LKA 144  99241 LAO 418  99243 VNM 704  99312 COD 180  99322 CMR 120  99324 COG 178
99326 CIV 384  99330 GIN 324  99333 MDG 450  99335 MLI 466  99336 MRT 478  99341 SEN 686  99350 MAR 504
99351 TUN 788  99352 DZA 012  99390 MUS 480  99397 COM 174  99404 USA 840  99410 HTI 332  99416 BRA 076
"""

_TOKENS = _TABLE.split()  # triples: INSEE code, alpha-3, numeric
COUNTRIES: dict[str, Country] = {insee: Country(insee, alpha3, numeric) for insee, alpha3, numeric
                                 in zip(_TOKENS[0::3], _TOKENS[1::3], _TOKENS[2::3], strict=True)}

FRANCE = COUNTRIES["99100"]


def country_of_birth(code: str | None) -> Country | None:
    """The country of an INSEE birth-place code: France for a commune code, the table's entry for 99xxx."""
    if not code:
        return None
    return COUNTRIES.get(code) if code.startswith("99") else FRANCE
