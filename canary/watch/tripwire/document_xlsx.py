"""The XLSX document: a one-sheet extract with linked pictures, as Excel writes "Insert > Picture > Link to file".

Stolen extracts are often spreadsheets. The sheet's drawing holds two pictures whose bytes stay at
their URL (``<a:blip r:link>`` to an external image relationship): Excel and LibreOffice Calc fetch
them when the workbook opens, one on ``tokens.url`` (``xlsx-picture``) and, with a DNS zone, one on
the token host name (DNS, then HTTP). Written part by part (no library writes linked pictures); no
macros, no external workbook links.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from canary.watch.tripwire.document_meta import DocumentMeta, core_xml, document_lines, excel_app_xml, render_thumbnail

# Rows 1 to 3 hold the logos (drawing anchors, no cells): the text starts on row 4.
FIRST_ROW = 4
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_SHEET_NAME = "Synthèse"
_PICTURE_SIZE = 540000  # EMU, 1.5 cm: an establishment logo in the corner


def xlsx_document(content: dict[str, Any], meta: DocumentMeta, urls: dict[str, str]) -> bytes:
    rows = _rows(content)
    strings: list[str] = []
    sheet = _sheet_xml(rows, strings)
    pictures = [urls["xlsx-picture"]] + ([urls["xlsx-picture-dns"]] if "xlsx-picture-dns" in urls else [])
    parts = {
        "[Content_Types].xml": _content_types(),
        "_rels/.rels": _rels([("rId1", f"{_REL}/officeDocument", "xl/workbook.xml", False),
                              ("rId2", f"{_PKG_REL}/metadata/thumbnail", "docProps/thumbnail.jpeg", False),
                              ("rId3", f"{_PKG_REL}/metadata/core-properties", "docProps/core.xml", False),
                              ("rId4", f"{_REL}/extended-properties", "docProps/app.xml", False)]),
        "docProps/app.xml": excel_app_xml(meta, _SHEET_NAME),
        "docProps/core.xml": core_xml(meta),
        "docProps/thumbnail.jpeg": render_thumbnail(document_lines(content), sheet=True),
        "xl/workbook.xml": _workbook_xml(),
        "xl/_rels/workbook.xml.rels": _rels([("rId1", f"{_REL}/worksheet", "worksheets/sheet1.xml", False),
                                             ("rId2", f"{_REL}/styles", "styles.xml", False),
                                             ("rId3", f"{_REL}/sharedStrings", "sharedStrings.xml", False)]),
        "xl/worksheets/sheet1.xml": sheet,
        "xl/worksheets/_rels/sheet1.xml.rels": _rels([("rId1", f"{_REL}/drawing", "../drawings/drawing1.xml", False)]),
        "xl/drawings/drawing1.xml": _drawing_xml(pictures),
        "xl/drawings/_rels/drawing1.xml.rels": _rels(
            [(f"rId{i}", f"{_REL}/image", url, True) for i, url in enumerate(pictures, 1)]),
        "xl/sharedStrings.xml": _shared_strings_xml(strings),
        "xl/styles.xml": _styles_xml(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _rows(content: dict[str, Any]) -> list[tuple[list[str], bool]]:
    """(cells, bold) per row: header lines, title, identity, then one row per item under its heading."""
    rows: list[tuple[list[str], bool]] = [([line], True) for line in content["header"] if line]
    rows += [([], False), ([content["title"]], True)]
    rows += [([line], False) for line in content["meta"]]
    rows += [([], False), (["Rubrique", "Élément"], True)]
    for heading, lines in content["sections"]:
        for line in lines:
            rows.append(([heading or "Prescription", line], False))
    rows += [([], False), (["Signataire", content["signature"]], False)]
    return rows


def _sheet_xml(rows: list[tuple[list[str], bool]], strings: list[str]) -> bytes:
    # Two picture rows on top leave room for the logos, as letterhead extracts do.
    out = [f'{_XML}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
           f'<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr><dimension ref="{_dimension(rows)}"/>'
           '<sheetViews><sheetView workbookViewId="0" tabSelected="1"/></sheetViews>'
           '<sheetFormatPr defaultRowHeight="15"/><cols><col min="1" max="1" width="26" customWidth="1"/>'
           '<col min="2" max="2" width="90" customWidth="1"/></cols><sheetData>']
    for number, (cells, bold) in enumerate(rows, FIRST_ROW):
        out.append(f'<row r="{number}">')
        for column, text in zip("AB", cells, strict=False):
            if text not in strings:
                strings.append(text)
            style = ' s="1"' if bold else ""
            out.append(f'<c r="{column}{number}" t="s"{style}><v>{strings.index(text)}</v></c>')
        out.append("</row>")
    out.append('</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
               '<pageSetup paperSize="9" orientation="portrait" fitToWidth="1" fitToHeight="0"/>'
               '<drawing r:id="rId1"/></worksheet>')
    return "".join(out).encode()


def _dimension(rows: list[tuple[list[str], bool]]) -> str:
    """The used range as Excel writes it: from the first to the last cell written (rows start at FIRST_ROW)."""
    numbers = [number for number, (cells, _) in enumerate(rows, FIRST_ROW) if cells]
    width = max(len(cells) for cells, _ in rows)
    return f"A{numbers[0]}:{'AB'[width - 1]}{numbers[-1]}"


def _drawing_xml(pictures: list[str]) -> bytes:
    anchors = []
    for index, url in enumerate(pictures, 1):
        name = url.rsplit("/", 1)[-1]
        anchors.append(
            f'<xdr:oneCellAnchor><xdr:from><xdr:col>{index - 1}</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>0</xdr:row>'
            f'<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:ext cx="{_PICTURE_SIZE}" cy="{_PICTURE_SIZE}"/>'
            f'<xdr:pic><xdr:nvPicPr><xdr:cNvPr id="{index + 1}" name={quoteattr(f"Image {index}")} '
            f'descr={quoteattr(name)}/><xdr:cNvPicPr><a:picLocks noChangeAspect="1"/></xdr:cNvPicPr></xdr:nvPicPr>'
            f'<xdr:blipFill><a:blip r:link="rId{index}"/><a:stretch><a:fillRect/></a:stretch></xdr:blipFill>'
            f'<xdr:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{_PICTURE_SIZE}" cy="{_PICTURE_SIZE}"/></a:xfrm>'
            '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></xdr:spPr></xdr:pic><xdr:clientData/></xdr:oneCellAnchor>'
        )
    return (f'{_XML}<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
            f'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="{_REL}">'
            + "".join(anchors) + "</xdr:wsDr>").encode()


def _workbook_xml() -> bytes:
    return (f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><workbookPr defaultThemeVersion="166925"/>'
            '<bookViews><workbookView xWindow="0" yWindow="0" windowWidth="28800" windowHeight="12300"/></bookViews>'
            f'<sheets><sheet name={quoteattr(_SHEET_NAME)} sheetId="1" r:id="rId1"/></sheets>'
            '<calcPr calcId="191029"/></workbook>').encode()


def _shared_strings_xml(strings: list[str]) -> bytes:
    items = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
    return (f'{_XML}<sst xmlns="{_MAIN}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>').encode()


def _styles_xml() -> bytes:
    return (f'{_XML}<styleSheet xmlns="{_MAIN}">'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
            '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
            ).encode()


def _content_types() -> bytes:
    office = "application/vnd.openxmlformats-officedocument"
    overrides = [
        ("/xl/workbook.xml", f"{office}.spreadsheetml.sheet.main+xml"),
        ("/xl/worksheets/sheet1.xml", f"{office}.spreadsheetml.worksheet+xml"),
        ("/xl/styles.xml", f"{office}.spreadsheetml.styles+xml"),
        ("/xl/sharedStrings.xml", f"{office}.spreadsheetml.sharedStrings+xml"),
        ("/xl/drawings/drawing1.xml", f"{office}.drawing+xml"),
        ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
        ("/docProps/app.xml", f"{office}.extended-properties+xml"),
    ]
    return (f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="jpeg" ContentType="image/jpeg"/>'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in overrides)
            + "</Types>").encode()


def _rels(relations: list[tuple[str, str, str, bool]]) -> bytes:
    items = "".join(
        f'<Relationship Id="{rel_id}" Type="{kind}" Target={quoteattr(target)}'
        + (' TargetMode="External"' if external else "") + "/>"
        for rel_id, kind, target, external in relations)
    return f'{_XML}<Relationships xmlns="{_PKG_REL}">{items}</Relationships>'.encode()
