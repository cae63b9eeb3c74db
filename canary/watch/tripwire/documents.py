"""Per-canary documents that call back when opened: a PDF and a DOCX (compte rendu or ordonnance).

What calls back, and how:

- DOCX: pictures in the header and footer are *linked*, not embedded (an external image relationship,
  as Word writes for "Insert > Picture > Link to file"). Word fetches them when the file is opened:
  one from the callback URL (HTTP hit), one from ``http://<token hostname>/`` (DNS hit, then HTTP).
  The body also carries a hyperlink to the patient portal.
- PDF: an open action pointing at the callback URL (Acrobat and several readers ask to, or do, open
  it), a clickable portal link in the body, and on the ordonnance a QR code of the callback URL, as
  French e-prescriptions carry one. PDF readers do not fetch remote images, so a PDF fires on
  opening only in readers that honour the open action; the link and QR code fire when used.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date
from typing import Any

import sqlite_utils

from canary.errors import CanaryError
from canary.store.registry import canary_token, get_canary, get_system
from canary.watch.tripwire.tokens import token_links

KINDS = ("compte-rendu", "ordonnance")

_DOCTORS = [("Dr", "Claire", "LEFEBVRE"), ("Dr", "Thomas", "GARNIER"), ("Pr", "Hélène", "ROUSSEL"),
            ("Dr", "Julien", "FAURE"), ("Dr", "Sophie", "MERCIER"), ("Dr", "Antoine", "BLANC")]
# The consulting service follows the first condition's CIM-10 chapter, as a real letter would.
_SERVICES = {"I": "Service de cardiologie", "E": "Service d'endocrinologie, diabétologie et nutrition",
             "J": "Service de pneumologie", "K": "Service d'hépato-gastro-entérologie", "N": "Service de néphrologie",
             "M": "Service de rhumatologie", "G": "Service de neurologie", "F": "Consultations de psychiatrie"}
_DEFAULT_SERVICE = "Service de médecine interne"


def callback_links(db: sqlite_utils.Database, canary_id: str) -> dict[str, str | None]:
    """The canary's URL and hostname as seeded, or as the current settings make them."""
    canary = get_canary(db, canary_id)
    links = dict(canary.get("tokens") or {})
    current = token_links(db, canary_token(db, canary_id))
    url = links.get("url") or current["url"]
    hostname = links.get("hostname") or current["hostname"]
    if not url and not hostname:
        raise CanaryError("no callback for this canary: set tripwire.base_url and/or tripwire.dns_zone first")
    return {"url": url, "hostname": hostname}


def build_document(db: sqlite_utils.Database, canary_id: str, *, fmt: str, kind: str = "compte-rendu",
                   today: date | None = None) -> bytes:
    if kind not in KINDS:
        raise CanaryError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    canary = get_canary(db, canary_id)
    system = get_system(db, canary["system"])
    content = document_content(canary, system, kind, today or date.today())
    links = callback_links(db, canary_id)
    if fmt == "pdf":
        return _pdf(content, links)
    if fmt == "docx":
        return _docx(content, links)
    raise CanaryError(f"unknown document format {fmt!r}; expected pdf or docx")


# --- content -------------------------------------------------------------------------------------

def document_content(canary: dict[str, Any], system: dict[str, Any], kind: str, today: date) -> dict[str, Any]:
    """Title, header lines and sections, the same for both file formats."""
    pick = int(hashlib.sha256(canary["id"].encode()).hexdigest(), 16)
    title, first, last = _DOCTORS[pick % len(_DOCTORS)]
    establishment = system.get("establishment") or "Centre hospitalier"
    city = (canary.get("address") or {}).get("city") or ""
    family = canary.get("used_name") or canary.get("birth_name") or ""
    first_name = (canary.get("first_names") or [""])[0]
    civility, born = ("Mme", "née") if canary.get("sex") == "F" else ("M.", "né")
    birth = _fr_date(canary.get("birth_date"))
    patient = f"{civility} {family} {first_name}, {born} le {birth}"
    gp = canary.get("gp") or {}
    gp_line = f"Dr {gp.get('first_name', '')} {gp.get('family_name', '')}".strip() + (
        f" ({gp['city']})" if gp.get("city") else "")
    conditions = canary.get("conditions") or []
    prescriptions = canary.get("prescriptions") or []
    allergies = canary.get("allergies") or []
    when = f"{city + ', ' if city else ''}le {today.strftime('%d/%m/%Y')}"
    if kind == "ordonnance":
        prescriber = f"Dr {gp.get('first_name', '')} {gp.get('family_name', '')}".strip()
        return {
            "kind": kind,
            "header": [prescriber, "Médecine générale", f"RPPS {gp.get('rpps', '')}".strip(), gp.get("city") or ""],
            "title": "ORDONNANCE",
            "meta": [when, patient],
            "sections": [("", [f"{p['drug']} — {p.get('dosage') or ''}".strip(" —") + " — QSP 3 mois"
                               for p in prescriptions] or ["Renouvellement du traitement habituel."])],
            "footer": "Ordonnance numérique : retrouvez-la dans votre espace patient.",
            "signature": prescriber,
        }
    service = _SERVICES.get((conditions[0]["code"] or "?")[0] if conditions else "?", _DEFAULT_SERVICE)
    motive = conditions[0]["label"] if conditions else "bilan de santé"
    return {
        "kind": kind,
        "header": [establishment, service],
        "title": "COMPTE RENDU DE CONSULTATION",
        "meta": [when, f"Patient(e) : {patient} — IPP {canary.get('ipp', '')}", f"Médecin traitant : {gp_line}"],
        "sections": [
            ("Motif", [f"Consultation de suivi : {motive.lower()}."]),
            ("Antécédents", [f"{c['label']} ({c['code']})" for c in conditions] or ["Pas d'antécédent notable."]),
            ("Traitement en cours", [f"{p['drug']} : {p.get('dosage') or ''}".rstrip(" :") for p in prescriptions]
             or ["Aucun traitement au long cours."]),
            ("Allergies", [a["substance"] + (f" ({a['reaction']})" if a.get("reaction") else "") for a in allergies]
             or ["Pas d'allergie connue."]),
            ("Examen clinique", ["Patient(e) en bon état général. TA 132/84 mmHg, FC 72/min, SpO2 98 %. "
                                 "Auscultation cardio-pulmonaire normale."]),
            ("Conclusion", ["Situation stable. Poursuite du traitement actuel. Bilan biologique à prévoir "
                            "avant la prochaine consultation dans six mois."]),
        ],
        "footer": "Vos comptes rendus et résultats sont disponibles dans votre espace patient.",
        "signature": f"{title} {first} {last}",
    }


def _fr_date(iso: str | None) -> str:
    if not iso:
        return ""
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def _image_urls(links: dict[str, str | None]) -> list[str]:
    urls = []
    url = links.get("url")
    if url:
        urls.append(f"{url.rstrip('/')}/entete.gif")
    if links.get("hostname"):
        urls.append(f"http://{links['hostname']}/img/logo.gif")
    return urls


def _portal_url(links: dict[str, str | None]) -> str:
    return links.get("url") or f"http://{links['hostname']}/"


# --- PDF (reportlab) -----------------------------------------------------------------------------

def _pdf(content: dict[str, Any], links: dict[str, str | None]) -> bytes:
    from reportlab.graphics import renderPDF
    from reportlab.graphics.barcode.qr import QrCodeWidget
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFString
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=0)
    pdf.setTitle(content["title"].capitalize())
    pdf.setAuthor(content["signature"])
    portal = _portal_url(links)
    # Open action: readers that honour it contact the portal as soon as the file is opened.
    # reportlab has no public API for the catalog's OpenAction; its stubs leave out the private _doc.
    open_action = PDFDictionary({"S": PDFName("URI"), "URI": PDFString(portal)})
    pdf._doc.Catalog.OpenAction = open_action  # type: ignore[attr-defined]
    width, height = A4
    y = height - 2 * cm
    pdf.setFont("Helvetica-Bold", 12)
    for line in content["header"]:
        if line:
            pdf.drawString(2 * cm, y, line)
            pdf.setFont("Helvetica", 10)
            y -= 0.5 * cm
    y -= 0.8 * cm
    pdf.setFont("Helvetica-Bold", 15)
    pdf.drawCentredString(width / 2, y, content["title"])
    y -= 1.0 * cm
    pdf.setFont("Helvetica", 10)
    for line in content["meta"]:
        pdf.drawString(2 * cm, y, line)
        y -= 0.5 * cm
    y -= 0.4 * cm
    for heading, lines in content["sections"]:
        if heading:
            pdf.setFont("Helvetica-Bold", 11)
            pdf.drawString(2 * cm, y, heading)
            y -= 0.5 * cm
        pdf.setFont("Helvetica", 10)
        for line in lines:
            for part in _wrap(line, 95):
                pdf.drawString(2.4 * cm, y, part)
                y -= 0.45 * cm
        y -= 0.3 * cm
    y -= 0.5 * cm
    pdf.drawRightString(width - 2 * cm, y, content["signature"])
    # Footer: the portal link (clickable) and, on prescriptions, its QR code.
    pdf.setFont("Helvetica", 9)
    pdf.drawString(2 * cm, 2.6 * cm, content["footer"])
    pdf.setFillColorRGB(0, 0.33, 0.55)
    pdf.drawString(2 * cm, 2.1 * cm, portal)
    pdf.linkURL(portal, (2 * cm, 2.0 * cm, 2 * cm + pdf.stringWidth(portal, "Helvetica", 9), 2.5 * cm), relative=0)
    if content["kind"] == "ordonnance":
        widget = QrCodeWidget(portal)
        x0, y0, x1, y1 = widget.getBounds()
        size = 2.6 * cm
        drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
        drawing.add(widget)
        renderPDF.draw(drawing, pdf, width - 2 * cm - size, 1.6 * cm)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + ([current] if current else [])


# --- DOCX (python-docx) --------------------------------------------------------------------------

def _docx(content: dict[str, Any], links: dict[str, str | None]) -> bytes:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    document = Document()
    document.core_properties.title = content["title"].capitalize()
    document.core_properties.author = content["signature"]
    section = document.sections[0]
    urls = _image_urls(links)
    header = section.header.paragraphs[0]
    if urls:
        _linked_picture(section.header.part, header, urls[0], picture_id=101)
    header.add_run("  " + " — ".join(line for line in content["header"] if line)).bold = True
    heading = document.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = heading.add_run(content["title"])
    run.bold = True
    run.font.size = Pt(15)
    for line in content["meta"]:
        document.add_paragraph(line)
    for title, lines in content["sections"]:
        if title:
            paragraph = document.add_paragraph()
            paragraph.add_run(title).bold = True
        for line in lines:
            document.add_paragraph(line, style="List Bullet" if content["kind"] == "ordonnance" else None)
    signature = document.add_paragraph(content["signature"])
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    portal = _portal_url(links)
    footer_text = document.add_paragraph(content["footer"] + " ")
    _hyperlink(document.part, footer_text, portal)
    footer = section.footer.paragraphs[0]
    footer.add_run("Document confidentiel — secret médical. ")
    if len(urls) > 1:
        _linked_picture(section.footer.part, footer, urls[1], picture_id=102)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _linked_picture(part: Any, paragraph: Any, url: str, *, picture_id: int) -> None:
    """A picture whose bytes stay at ``url`` (r:link to an external relationship): Word fetches it on open."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    rel_id = part.relate_to(url, RT.IMAGE, is_external=True)
    size = 180000  # about 0.5 cm: a small logo
    run = paragraph.add_run()
    run._r.append(parse_xml(
        f'<w:drawing {nsdecls("w", "wp", "a", "pic", "r")}>'
        f'<wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="{size}" cy="{size}"/>'
        f'<wp:docPr id="{picture_id}" name="Logo {picture_id}"/>'
        '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        f'<pic:pic><pic:nvPicPr><pic:cNvPr id="{picture_id}" name="logo.gif"/><pic:cNvPicPr/></pic:nvPicPr>'
        f'<pic:blipFill><a:blip r:link="{rel_id}"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
        f'<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{size}" cy="{size}"/></a:xfrm>'
        '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>'
        '</a:graphicData></a:graphic></wp:inline></w:drawing>'
    ))


def _hyperlink(part: Any, paragraph: Any, url: str) -> None:
    from xml.sax.saxutils import escape

    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    rel_id = part.relate_to(url, RT.HYPERLINK, is_external=True)
    paragraph._p.append(parse_xml(
        f'<w:hyperlink {nsdecls("w", "r")} r:id="{rel_id}"><w:r><w:rPr><w:color w:val="0563C1"/>'
        f'<w:u w:val="single"/></w:rPr><w:t>{escape(url)}</w:t></w:r></w:hyperlink>'
    ))
