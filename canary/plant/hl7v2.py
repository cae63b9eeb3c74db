"""HL7 v2.5 IHE PAM France messages for a canary: ADT^A28 (create), A31 (update), A29 (delete)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import hl7

# Version with the French national extension: HL7 2.5, country FRA, PAM FR release 2.10.
VERSION = "2.5^FRA^2.10"
INS_NIR_AUTHORITY = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
RPPS_AUTHORITY = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
# Identity statuses that carry an INS: the INSi teleservice returned it (RECUP) and the identity was
# checked (QUAL). A VALI or PROV identity with an INS would not match the national rules (RNIV).
INS_STATUSES = ("RECUP", "QUAL")
STRUCTURES = {"A28": "ADT_A05", "A31": "ADT_A05", "A29": "ADT_A21"}
CHARSETS = {"utf-8": "UNICODE UTF-8", "iso-8859-1": "8859/1", "latin-1": "8859/1", "ascii": "ASCII"}

_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(value: Any) -> str:
    """Escape the HL7 delimiters |^~\\& (and drop line breaks) in one field value."""
    if value is None:
        return ""
    text = " ".join(str(value).split("\n")).replace("\r", " ")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Peer:
    """Both ends of the link, as MSH-3..6 name them."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    # CX-4 of the IPP: the assigning authority, e.g. ``CHU-X&1.2.250.1.xxx&ISO``, already HL7-formatted.
    ipp_authority: str


def hd(namespace: str, universal_id: str | None = None, id_type: str | None = None) -> str:
    """An HD (hierarchic designator) written as a component: subcomponents joined with '&'."""
    parts = [escape(namespace), escape(universal_id or ""), escape(id_type or "")]
    return "&".join(parts).rstrip("&")


def build_adt(record: dict[str, Any], event: str, peer: Peer, control_id: str, *, charset: str = "utf-8",
              now: datetime | None = None) -> str:
    """The whole message, segments separated by carriage returns."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    msh = ["MSH", "^~\\&", escape(peer.sending_application), escape(peer.sending_facility),
           escape(peer.receiving_application), escape(peer.receiving_facility), stamp, "",
           f"ADT^{event}^{STRUCTURES[event]}", escape(control_id), "P", VERSION, "", "", "", "", "FRA",
           CHARSETS.get(charset.lower(), "UNICODE UTF-8"), "FRE"]
    evn = ["EVN", "", stamp, "", "", "", stamp]
    segments = ["|".join(msh), "|".join(evn), "|".join(_pid(record, peer))]
    pd1 = _pd1(record)
    if pd1:
        segments.append("|".join(pd1))
    segments.append("PV1|1|N")
    return "\r".join(segments) + "\r"


def _pid(record: dict[str, Any], peer: Peer) -> list[str]:
    pid = ["PID", "1", ""] + [""] * 30  # PID-0..PID-32
    identifiers = [f"{escape(record['ipp'])}^^^{peer.ipp_authority}^PI"]
    if record.get("nir") and record.get("identity_status") in INS_STATUSES:
        identifiers.append(f"{escape(record['nir'])}^^^{INS_NIR_AUTHORITY}^INS")
    pid[3] = "~".join(identifiers)
    pid[5] = "~".join(_names(record))
    pid[7] = (record.get("birth_date") or "").replace("-", "")
    pid[8] = record.get("sex") or "U"
    pid[11] = "~".join(_addresses(record))
    pid[13] = "~".join(_telecoms(record))
    pid[32] = escape(record.get("identity_status") or "PROV")
    return pid


def _names(record: dict[str, Any]) -> list[str]:
    first_names = [f.upper() for f in record.get("first_names") or []]
    first = escape(first_names[0]) if first_names else ""
    civility = "MME" if record.get("sex") == "F" else "M"
    birth_name = escape((record.get("birth_name") or "").upper())
    used_name = escape((record.get("used_name") or record.get("birth_name") or "").upper())
    return [f"{used_name}^{first}^^^{civility}^^D",
            f"{birth_name}^{first}^{escape(' '.join(first_names))}^^{civility}^^L"]


def _addresses(record: dict[str, Any]) -> list[str]:
    out = []
    address = record.get("address") or {}
    if address.get("line") or address.get("city"):
        out.append(f"{escape(address.get('line'))}^^{escape(address.get('city'))}^^"
                   f"{escape(address.get('postcode'))}^FRA^H")
    place = record.get("birth_place") or {}
    if place.get("code"):
        abroad = str(place["code"]).startswith("99")
        out.append(f"^^{escape(place.get('name'))}^^^{'' if abroad else 'FRA'}^BDL^^{escape(place['code'])}")
    return out


def national_phone(e164: str) -> str:
    return "0" + e164[3:] if e164.startswith("+33") else e164


def _telecoms(record: dict[str, Any]) -> list[str]:
    out = []
    for index, phone in enumerate(record.get("phones") or []):
        number = national_phone(phone)
        equipment = "CP" if number[:2] in ("06", "07") else "PH"
        use = "PRN" if index == 0 else "ORN"
        out.append(f"^{use}^{equipment}^^^^^^^^^{escape(number)}")
    if record.get("email"):
        out.append(f"^NET^Internet^{escape(record['email'])}")
    return out


def _pd1(record: dict[str, Any]) -> list[str] | None:
    gp = record.get("gp") or {}
    if not gp.get("rpps"):
        return None
    xcn = (f"8{escape(gp['rpps'])}^{escape((gp.get('family_name') or '').upper())}^"
           f"{escape((gp.get('first_name') or '').upper())}^^^^^^{RPPS_AUTHORITY}^D^^^RPPS")
    return ["PD1", "", "", "", xcn]


@dataclass(frozen=True)
class Ack:
    code: str  # AA, AE, AR (or CA, CE, CR in enhanced mode)
    control_id: str
    text: str

    @property
    def accepted(self) -> bool:
        return self.code in ("AA", "CA")


def read_ack(message: hl7.Message) -> Ack:
    """MSA-1 code, MSA-2 the acknowledged control id, and every text the peer gave (MSA-3, ERR)."""
    try:
        msa = message.segment("MSA")
    except KeyError:
        return Ack("AR", "", "acknowledgement without an MSA segment")
    code = str(msa(1)) if len(msa) > 1 else ""
    control_id = str(msa(2)) if len(msa) > 2 else ""
    texts = [str(msa(3))] if len(msa) > 3 and str(msa(3)) else []
    try:
        errors = message.segments("ERR")
    except KeyError:
        errors = []
    for err in errors:
        for index in (3, 8):  # ERR-3 HL7 error code (code^text), ERR-8 user message
            if len(err) > index and str(err(index)):
                texts.append(str(err(index)).replace("^", " "))
    return Ack(code, control_id, "; ".join(t for t in texts if t))
