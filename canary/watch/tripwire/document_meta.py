"""What a hospital's own documents say about themselves: application, dates, author.

A stolen document is looked at in "Properties" before anything else. Everything here is what an
establishment's office suite writes (Microsoft 365, the suite French hospitals mostly run): A4 pages,
the establishment as author and company, the document's own date at a working hour; no thumbnail (Office
on Windows saves none by default). Nothing names the library that wrote the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

# (Application, AppVersion) as Microsoft 365 writes them in docProps/app.xml.
WORD_APPLICATION = ("Microsoft Office Word", "16.0000")
EXCEL_APPLICATION = ("Microsoft Excel", "16.0300")
# Word's "Enregistrer sous > PDF" in a French Microsoft 365 writes this as both Creator and Producer.
PDF_CREATOR = "Microsoft® Word pour Microsoft 365"
PDF_PRODUCER = "Microsoft® Word pour Microsoft 365"

_PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class DocumentMeta:
    title: str
    subject: str
    author: str  # the establishment (or the prescriber's practice)
    last_modified_by: str  # who signed it
    company: str
    created: datetime  # aware, Europe/Paris
    modified: datetime
    revision: int
    editing_minutes: int

    def created_utc(self) -> datetime:
        return self.created.astimezone(UTC)

    def modified_utc(self) -> datetime:
        return self.modified.astimezone(UTC)


def document_meta(content: dict[str, Any], seed: str, day: date) -> DocumentMeta:
    """Metadata of one document: stable for a canary and a day (the same file twice is the same file)."""
    pick = int(hashlib.sha256(f"{seed}:{content['kind']}:{day.isoformat()}".encode()).hexdigest(), 16)
    # Letters are typed between consultations: 8:30 to 17:30, a few minutes of editing.
    saved = datetime.combine(day, time(8, 30), _PARIS) + timedelta(minutes=pick % 540)
    editing = 3 + (pick >> 12) % 14
    return DocumentMeta(
        title=content["title"].capitalize(),
        subject=content["subject"],
        author=content["author"],
        last_modified_by=content["signature"],
        company=content["company"],
        created=saved - timedelta(minutes=editing),
        modified=saved,
        revision=2 + (pick >> 20) % 3,
        editing_minutes=editing,
    )


def pdf_date(moment: datetime) -> str:
    """PDF date string with the UTC offset, as Word writes it: D:20260312101500+01'00'."""
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"D:{moment.strftime('%Y%m%d%H%M%S')}{sign}{abs(minutes) // 60:02d}'{abs(minutes) % 60:02d}'"


def w3cdtf(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def core_xml(meta: DocumentMeta) -> bytes:
    """docProps/core.xml as Office writes it."""
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<dc:title>{escape(meta.title)}</dc:title><dc:subject>{escape(meta.subject)}</dc:subject>"
        f"<dc:creator>{escape(meta.author)}</dc:creator><cp:keywords></cp:keywords><dc:description></dc:description>"
        f"<cp:lastModifiedBy>{escape(meta.last_modified_by)}</cp:lastModifiedBy>"
        f"<cp:revision>{meta.revision}</cp:revision>"
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{w3cdtf(meta.created)}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{w3cdtf(meta.modified)}</dcterms:modified>'
        "</cp:coreProperties>"
    ).encode()


def word_app_xml(meta: DocumentMeta, text: str, paragraphs: int) -> bytes:
    """docProps/app.xml of a one-page Word document with ``text`` as its words."""
    words = len(text.split())
    characters = len("".join(text.split()))
    application, version = WORD_APPLICATION
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        f"<Template>Normal.dotm</Template><TotalTime>{meta.editing_minutes}</TotalTime><Pages>1</Pages>"
        f"<Words>{words}</Words><Characters>{characters}</Characters><Application>{application}</Application>"
        f"<DocSecurity>0</DocSecurity><Lines>{max(1, len(text) // 80)}</Lines><Paragraphs>{paragraphs}</Paragraphs>"
        f"<ScaleCrop>false</ScaleCrop><Company>{escape(meta.company)}</Company><LinksUpToDate>false</LinksUpToDate>"
        f"<CharactersWithSpaces>{len(text)}</CharactersWithSpaces><SharedDoc>false</SharedDoc>"
        f"<HyperlinksChanged>false</HyperlinksChanged><AppVersion>{version}</AppVersion></Properties>"
    ).encode()


def excel_app_xml(meta: DocumentMeta, sheet_name: str) -> bytes:
    application, version = EXCEL_APPLICATION
    return (
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        f"<Application>{application}</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>"
        '<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Feuilles de calcul</vt:lpstr>'
        '</vt:variant><vt:variant><vt:i4>1</vt:i4></vt:variant></vt:vector></HeadingPairs>'
        f'<TitlesOfParts><vt:vector size="1" baseType="lpstr"><vt:lpstr>{escape(sheet_name)}</vt:lpstr></vt:vector>'
        f"</TitlesOfParts><Company>{escape(meta.company)}</Company><LinksUpToDate>false</LinksUpToDate>"
        f"<SharedDoc>false</SharedDoc><HyperlinksChanged>false</HyperlinksChanged><AppVersion>{version}</AppVersion>"
        "</Properties>"
    ).encode()


def document_lines(content: dict[str, Any]) -> list[str]:
    """The document's text in reading order (thumbnails and word counts)."""
    lines = [line for line in content["header"] if line] + [content["title"]] + list(content["meta"])
    for heading, body in content["sections"]:
        lines += ([heading] if heading else []) + list(body)
    return lines + [content["signature"], content["footer"]]
