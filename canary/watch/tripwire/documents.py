"""Per-canary documents that call back when opened: PDF, DOCX (compte rendu or ordonnance) and XLSX.

What calls back, and how (the URLs come from ``beacon_urls``; docs/tripwire.md has which reader fires):

- DOCX: pictures in the header and footer are *linked*, not embedded (an external image relationship,
  as Word writes for "Insert > Picture > Link to file"), plus an ``INCLUDEPICTURE "url" \\d`` field in
  the header whose result is a linked picture too. Word and LibreOffice fetch them on opening: from
  the callback URL (HTTP hit) and from ``http://<token hostname>/`` (DNS hit, then HTTP).
- XLSX: a sheet with two linked pictures (Excel's "Link to file"), one per kind of link.
- PDF: an ``/OpenAction`` URI action whose *host name* carries the token (Acrobat resolves it before
  asking whether to connect: the DNS tripwire fires even if the user refuses), a page-open action as
  second chance, a clickable portal link and, on the ordonnance, a QR code of it.

No macros and no remote templates: mail gateways and antivirus flag those.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.store.registry import canary_token, get_canary, get_system
from canary.store.tokens import token_links
from canary.watch.tripwire.document_docx import docx_document
from canary.watch.tripwire.document_meta import document_meta
from canary.watch.tripwire.document_pdf import pdf_document
from canary.watch.tripwire.document_xlsx import xlsx_document
from canary.watch.tripwire.pages import DOCUMENT_PICTURES

KINDS = ("compte-rendu", "ordonnance")
FORMATS = ("pdf", "docx", "xlsx")

# The consulting service follows the first condition's CIM-10 chapter, as a real letter would.
_SERVICES = {"I": "Service de cardiologie", "E": "Service d'endocrinologie, diabétologie et nutrition",
             "J": "Service de pneumologie", "K": "Service d'hépato-gastro-entérologie", "N": "Service de néphrologie",
             "M": "Service de rhumatologie", "G": "Service de neurologie", "F": "Consultations de psychiatrie"}
_DEFAULT_SERVICE = "Service de médecine interne"


def callback_links(db: sqlite_utils.Database, canary_id: str) -> dict[str, str | None]:
    """The canary's URL and hostname as seeded, or as the current settings make them."""
    canary = get_canary(db, canary_id)
    seeded = canary.get("tokens")
    current = token_links(db, canary_token(db, canary_id))
    url = (seeded and seeded.get("url")) or current["url"]
    hostname = (seeded and seeded.get("hostname")) or current["hostname"]
    if not url and not hostname:
        raise CanaryError("no callback for this canary: set tripwire.base_url and/or tripwire.dns_zone first")
    return {"url": url, "hostname": hostname}


def build_document(db: sqlite_utils.Database, canary_id: str, *, fmt: str, kind: str = "compte-rendu",
                   today: date | None = None) -> bytes:
    from canary.settings import get_list
    if kind not in KINDS:
        raise CanaryError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise CanaryError(f"unknown document format {fmt!r}; expected one of {', '.join(FORMATS)}")
    canary = get_canary(db, canary_id)
    system = get_system(db, canary["system"])
    day = today or date.today()
    content = document_content(canary, system, kind, day, signers=get_list(db, "tripwire.document_signers"))
    meta = document_meta(content, canary["id"], day)
    urls = beacon_urls(callback_links(db, canary_id))
    if fmt == "pdf":
        return pdf_document(content, meta, urls)
    if fmt == "docx":
        return docx_document(content, meta, urls)
    return xlsx_document(content, meta, urls)


# --- content -------------------------------------------------------------------------------------

def document_content(canary: Mapping[str, Any], system: dict[str, Any], kind: str, today: date,
                     signers: list[str] | None = None) -> dict[str, Any]:
    """Title, header lines and sections, the same for both file formats."""
    from canary.watch.tripwire.document_people import child_weight, dated_at, signer_for, site_signers

    signer = signer_for(canary["id"], site_signers(system, signers or []))
    establishment = system.get("establishment") or "Centre hospitalier"
    family = canary.get("used_name") or canary.get("birth_name") or ""
    first_name = (canary.get("first_names") or [""])[0]
    born = "née" if canary.get("sex") == "F" else "né"
    weight = child_weight(canary, today)
    # A child is "Enfant" on a hospital letter, never "Mme"/"M.".
    civility = "Enfant" if weight is not None else "Mme" if canary.get("sex") == "F" else "M."
    birth = _fr_date(canary.get("birth_date"))
    patient = f"{civility} {family} {first_name}, {born} le {birth}"
    gp = canary.get("gp") or {}
    gp_line = f"Dr {gp.get('first_name', '')} {gp.get('family_name', '')}".strip() + (
        f" ({gp['city']})" if gp.get("city") else "")
    conditions = canary.get("conditions") or []
    prescriptions = canary.get("prescriptions") or []
    allergies = canary.get("allergies") or []
    when = dated_at(system, today)
    finess = f"FINESS {system['finess']}" if system.get("finess") else ""
    if kind == "ordonnance":
        # A hospital discharge prescription, signed by the establishment's (fictional) practitioner: a
        # real GP from the RPPS directory must never appear as the author of a fake prescription.
        prescriber = signer
        return {
            "kind": kind,
            "header": [establishment, finess, "Ordonnance de sortie", prescriber],
            "title": "ORDONNANCE",
            "meta": [when, patient] + ([f"Poids : {weight} kg"] if weight is not None else [])
                    + [f"Médecin traitant : {gp_line}"],
            "sections": [("", [f"{p['drug']} — {p.get('dosage') or ''}".strip(" —") + " — QSP 3 mois"
                               for p in prescriptions] or ["Renouvellement du traitement habituel."])],
            "footer": "Ordonnance numérique : retrouvez-la dans votre espace patient.",
            "signature": prescriber,
            "subject": "Ordonnance",
            "author": establishment,
            "company": establishment,
        }
    service = _SERVICES.get((conditions[0]["code"] or "?")[0] if conditions else "?", _DEFAULT_SERVICE)
    motive = conditions[0]["label"] if conditions else "bilan de santé"
    return {
        "kind": kind,
        "header": [establishment, finess, service],
        "title": "COMPTE RENDU DE CONSULTATION",
        "meta": [when, f"Patient(e) : {patient} — IPP {canary.get('ipp', '')}", f"Médecin traitant : {gp_line}"],
        "sections": [
            ("Motif", [f"Consultation de suivi : {motive.lower()}."]),
            ("Antécédents", [f"{c['label']} ({c['code']})" for c in conditions] or ["Pas d'antécédent notable."]),
            ("Traitement en cours", [f"{p['drug']} : {p.get('dosage') or ''}".rstrip(" :") for p in prescriptions]
             or ["Aucun traitement au long cours."]),
            ("Allergies", [a["substance"] + (f" ({a['reaction']})" if a.get("reaction") else "") for a in allergies]
             or ["Pas d'allergie connue."]),
            ("Examen clinique", [f"Enfant en bon état général. Poids {weight} kg. Auscultation cardio-pulmonaire "
                                 "normale." if weight is not None else
                                 "Patient(e) en bon état général. TA 132/84 mmHg, FC 72/min, SpO2 98 %. "
                                 "Auscultation cardio-pulmonaire normale."]),
            ("Conclusion", ["Situation stable. Poursuite du traitement actuel. Bilan biologique à prévoir "
                            "avant la prochaine consultation dans six mois."]),
        ],
        "footer": "Vos comptes rendus et résultats sont disponibles dans votre espace patient.",
        "signature": signer,
        "subject": f"Compte rendu de consultation — {service}",
        "author": establishment,
        "company": establishment,
    }


def _fr_date(iso: str | None) -> str:
    if not iso:
        return ""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def beacon_urls(links: dict[str, str | None]) -> dict[str, str]:
    """Every URL the documents call, by mechanism. The token is in the path of ``tokens.url`` (https
    through the operator's reverse proxy) and in the host name of ``tokens.hostname`` (plain http on
    port 80 of the zone's A record: a DNS query first, then the request)."""
    url = (links.get("url") or "").rstrip("/")
    host = links.get("hostname")
    on_path = url or f"http://{host}"  # callback_links guarantees one of the two
    urls = {
        "portal": url or f"http://{host}/",
        "docx-header-picture": f"{on_path}/{DOCUMENT_PICTURES['docx-header-picture']}",
        "docx-includepicture": f"{on_path}/{DOCUMENT_PICTURES['docx-includepicture']}",
        "xlsx-picture": f"{on_path}/{DOCUMENT_PICTURES['xlsx-picture']}",
        # Acrobat resolves the host of an open action before asking: the token must be in the name.
        "pdf-open-action": f"http://{host}/mon-espace/" if host else url,
        "pdf-page-open": f"http://www.{host}/" if host else f"{url}?ouverture=1",
    }
    if host:
        urls["docx-footer-picture"] = f"http://{host}/img/{DOCUMENT_PICTURES['docx-footer-picture']}"
        urls["xlsx-picture-dns"] = f"http://{host}/img/{DOCUMENT_PICTURES['xlsx-picture']}"
    return urls
