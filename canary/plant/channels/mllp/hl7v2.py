"""HL7 v2.5 IHE PAM France messages for a canary: ADT^A28 (create), A31 (update or deactivate), A40 (merge)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import hl7

from canary.generate.text import ins_form
from canary.normalize import national_phone
from canary.plant.countries import country_of_birth
from canary.plant.identity import carries_ins, identity_evidence, is_child

# Version with the French national extension: HL7 2.5, country FRA, PAM FR release 2.10.
VERSION = "2.5^FRA^2.10"
INS_NIR_AUTHORITY = "ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO"
RPPS_AUTHORITY = "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
STRUCTURES = {"A28": "ADT_A05", "A31": "ADT_A05", "A40": "ADT_A39"}
CHARSETS = {"utf-8": "UNICODE UTF-8", "iso-8859-1": "8859/1", "latin-1": "8859/1", "ascii": "ASCII"}
# French senders stamp messages in local time with the offset (MSH-7, EVN-2, EVN-6).
LOCAL_TIME = ZoneInfo("Europe/Paris")
# Identity attribute of HL7 table 0445 (PAM FR) that marks a deactivated identity, sent in PID-32 after
# the status when a canary is retired with an A31.
DEACTIVATED = "DESA"
_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"}


def escape(value: Any) -> str:
    """Escape the HL7 delimiters |^~\\& (and drop line breaks) in one field value."""
    if value is None:
        return ""
    text = " ".join(str(value).split("\n")).replace("\r", " ")
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def upper(value: Any) -> str:
    """Names and places as HL7 identity feeds carry them: upper case without diacritics, escaped."""
    return escape(ins_form(str(value))) if value else ""


@dataclass(frozen=True)
class Peer:
    """Both ends of the link, as MSH-3..6 name them."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    # CX-4 of the IPP: the assigning authority, e.g. ``CHUX&1.2.250.1.xxx&ISO``, already HL7-formatted.
    ipp_authority: str


def hd(namespace: str, universal_id: str | None = None, id_type: str | None = None) -> str:
    """An HD (hierarchic designator) written as a component: subcomponents joined with '&'."""
    parts = [escape(namespace), escape(universal_id or ""), escape(id_type or "")]
    return "&".join(parts).rstrip("&")


def local_stamp(moment: datetime) -> str:
    """``YYYYMMDDHHMMSS+HHMM`` in Paris time."""
    return moment.astimezone(LOCAL_TIME).strftime("%Y%m%d%H%M%S%z")


def _header(event: str, peer: Peer, control_id: str, charset: str, stamp: str) -> list[str]:
    msh = ["MSH", "^~\\&", escape(peer.sending_application), escape(peer.sending_facility),
           escape(peer.receiving_application), escape(peer.receiving_facility), stamp, "",
           f"ADT^{event}^{STRUCTURES[event]}", escape(control_id), "P", VERSION, "", "", "", "", "FRA",
           CHARSETS.get(charset.lower(), "UNICODE UTF-8"), "FR"]
    evn = ["EVN", "", stamp, "", "", "", stamp]
    return ["|".join(msh), "|".join(evn)]


def build_adt(record: Mapping[str, Any], event: str, peer: Peer, control_id: str, *, charset: str = "utf-8",
              now: datetime | None = None, deactivate: bool = False, with_ipp: bool = True) -> str:
    """The whole A28/A31 message, segments separated by carriage returns. ``deactivate`` (A31 only)
    adds the deactivated-identity attribute to PID-32: how a PAM identity feed retires a record.
    ``with_ipp`` False: PID-3 carries no IPP (the receiver allocates it and returns it in its ACK), only the
    sender's own identifier of the record (type PT) and, for a QUAL identity, the INS."""
    moment = now or datetime.now(UTC)
    segments = _header(event, peer, control_id, charset, local_stamp(moment))
    pid = _pid(record, peer, moment.astimezone(LOCAL_TIME).date(), with_ipp=with_ipp)
    if deactivate:
        pid[32] += "~" + DEACTIVATED
    segments.append("|".join(pid))
    rol = _rol(record)
    if rol:
        segments.append("|".join(rol))
    segments.append("PV1|1|N")
    segments.append("|".join(_zfd(record)))
    return "\r".join(segments) + "\r"


def build_merge(record: Mapping[str, Any], survivor: Mapping[str, Any], peer: Peer, control_id: str, *,
                charset: str = "utf-8", now: datetime | None = None) -> str:
    """ADT^A40: the canary's record (MRG-1, its IPP) merged into the surviving record ``survivor``, whose full
    identity is the PID (PID-5 and the other traits are required of an A40 in HL7 2.5 and PAM FR)."""
    moment = now or datetime.now(UTC)
    segments = _header("A40", peer, control_id, charset, local_stamp(moment))
    segments.append("|".join(_pid(survivor, peer, moment.astimezone(LOCAL_TIME).date())))
    segments.append(f"MRG|{escape(record['ipp'])}^^^{peer.ipp_authority}^PI")
    return "\r".join(segments) + "\r"


def _pid(record: Mapping[str, Any], peer: Peer, today: date, *, with_ipp: bool = True) -> list[str]:
    pid = ["PID", "1", ""] + [""] * 30  # PID-0..PID-32
    if with_ipp:
        identifiers = [f"{escape(record['ipp'])}^^^{peer.ipp_authority}^PI"]
    else:
        # The receiver allocates the IPP: the sender names its own record in its own domain (MSH-3, type PT,
        # an identifier external to the receiver), so PID-3, required in HL7 2.5, is never empty even when no
        # INS goes with the identity (below QUAL). It is the canary's marker number, never an IPP (PI).
        identifiers = [f"{escape(record['ipp'])}^^^{hd(peer.sending_application)}^PT"]
    if carries_ins(record):
        identifiers.append(f"{escape(record['nir'])}^^^{INS_NIR_AUTHORITY}^INS")
    pid[3] = "~".join(identifiers)
    pid[5] = "~".join(_names(record, today))
    pid[7] = (record.get("birth_date") or "").replace("-", "")
    pid[8] = record.get("sex") or "U"
    pid[11] = "~".join(_addresses(record))
    pid[13] = "~".join(_telecoms(record))
    pid[32] = escape(record.get("identity_status") or "PROV")
    return pid


def _names(record: Mapping[str, Any], today: date) -> list[str]:
    first_names = [upper(f) for f in record.get("first_names") or []]
    first = first_names[0] if first_names else ""
    civility = "ENF" if is_child(record, today) else "MME" if record.get("sex") == "F" else "M"
    birth_name = upper(record.get("birth_name"))
    used_name = upper(record.get("used_name") or record.get("birth_name"))
    return [f"{used_name}^{first}^^^{civility}^^D",
            f"{birth_name}^{first}^{' '.join(first_names)}^^{civility}^^L"]


def _addresses(record: Mapping[str, Any]) -> list[str]:
    out = []
    address = record.get("address") or {}
    if address.get("line") or address.get("city"):
        out.append(f"{upper(address.get('line'))}^^{upper(address.get('city'))}^^"
                   f"{escape(address.get('postcode'))}^FRA^H")
    place = record.get("birth_place") or {}
    if place.get("code"):
        code = str(place["code"])
        if code.startswith("99"):
            # Born abroad: no city, the country in XAD-6 (ISO 3166 alpha-3), the INSEE 99xxx code in XAD-9.
            country = country_of_birth(code)
            out.append(f"^^^^^{country.alpha3 if country else ''}^BDL^^{escape(code)}")
        else:
            out.append(f"^^{upper(place.get('name'))}^^^FRA^BDL^^{escape(code)}")
    return out


def _telecoms(record: Mapping[str, Any]) -> list[str]:
    out = []
    for index, phone in enumerate(record.get("phones") or []):
        number = national_phone(phone)
        equipment = "CP" if number[:2] in ("06", "07") else "PH"
        use = "PRN" if index == 0 else "ORN"
        out.append(f"^{use}^{equipment}^^^^^^^^^{escape(number)}")
    if record.get("email"):
        out.append(f"^NET^Internet^{escape(record['email'])}")
    return out


def _rol(record: Mapping[str, Any]) -> list[str] | None:
    """The médecin traitant as PAM FR feeds carry it: ROL-3 ODRP, the national id (IDNPS, '8' + RPPS: the value
    the PS OID 1.2.250.1.71.4.2.1 identifies, as FHIR writes it) with identifier type RPPS."""
    gp = record.get("gp") or {}
    if not gp.get("rpps"):
        return None
    xcn = (f"8{escape(gp['rpps'])}^{upper(gp.get('family_name'))}^{upper(gp.get('first_name'))}"
           f"^^^^^^{RPPS_AUTHORITY}^D^^^RPPS")
    return ["ROL", "1", "AD", "ODRP", xcn]


def _zfd(record: Mapping[str, Any]) -> list[str]:
    """PAM FR >= 2.10 demographic complement: ZFD-3 SMS consent, ZFD-4 corrected birth date, ZFD-5 identity
    source, ZFD-6 INSi query date, ZFD-7 identity document type."""
    evidence = identity_evidence(record)
    return ["ZFD", "", "", "N", "N", evidence["source"] or "",
            (evidence["insi_date"] or "").replace("-", ""), evidence["document"] or ""]


@dataclass(frozen=True)
class Ack:
    code: str  # AA, AE, AR (or CA, CE, CR in enhanced mode)
    control_id: str
    text: str
    # The IPP the receiver allocated, when its ACK carries a PID segment with one (PID-3, type PI).
    assigned_ipp: str | None = None

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
    return Ack(code, control_id, "; ".join(t for t in texts if t), _assigned_ipp(message))


def _assigned_ipp(message: hl7.Message) -> str | None:
    """PID-3's identifier of type PI in an ACK (receivers that allocate the IPP send it back so)."""
    try:
        pid = message.segment("PID")
    except KeyError:
        return None
    if len(pid) <= 3:
        return None
    for cx in str(pid(3)).split("~"):
        parts = cx.split("^")
        if len(parts) >= 5 and parts[4] == "PI" and parts[0].strip():
            return parts[0].strip()
    return None
