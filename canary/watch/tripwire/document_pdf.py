"""The PDF document (reportlab): open actions whose host name carries the token, metadata of Word's PDF export.

PDF readers never fetch remote pictures, so a PDF calls back through actions:

- the catalog's ``/OpenAction`` is a URI action to ``http://<token hostname>/mon-espace/``. Acrobat
  (and Reader) resolve that name before asking "allow this document to connect?": the DNS tripwire
  fires on opening whatever the answer, the HTTP one on "Allow";
- the first page's open action (``/AA /O``) is a second URI action, to ``http://www.<token hostname>/``,
  for readers that run page actions but skip the catalog's;
- the footer keeps the visible, clickable portal link and, on the ordonnance, its QR code.

As Word's export writes it: the text in Calibri, embedded as subsets (Carlito, metric-compatible with
Calibri, from the system's fonts-crosextra-carlito, carries the glyphs; without it, Helvetica unembedded),
and an XMP metadata stream beside the document information dictionary.
"""

from __future__ import annotations

import io
from typing import Any

from canary.watch.tripwire.document_meta import PDF_CREATOR, PDF_PRODUCER, DocumentMeta, pdf_date
from canary.watch.tripwire.pdf_fonts import WordFonts, word_fonts, xmp_packet

# reportlab's comments name it: blanked to the same length, so every offset in the xref stays right.
_LIBRARY_COMMENTS = (b"%\x93\x8c\x8b\x9e ReportLab Generated PDF document (opensource)\n",
                     b"% ReportLab generated PDF document -- digest (opensource)\n")
_BINARY_MARKER = b"%\xe2\xe3\xcf\xd3"  # the high-bit comment every PDF writer puts on line 2


def pdf_document(content: dict[str, Any], meta: DocumentMeta, urls: dict[str, str]) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFString
    from reportlab.pdfgen import canvas

    fonts: WordFonts = word_fonts()
    regular, bold = fonts.regular, fonts.bold
    buffer = io.BytesIO()
    # The stubs type initialFontName as a number; reportlab takes the font's name.
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=0, initialFontName=regular)  # type: ignore[arg-type]
    pdf.setTitle(meta.title)
    pdf.setAuthor(meta.author)
    pdf.setSubject(meta.subject)
    pdf.setCreator(PDF_CREATOR)
    pdf.setProducer(PDF_PRODUCER)
    pdf.setKeywords("")
    saved = pdf_date(meta.modified)
    pdf.setDateFormatter(lambda *_: saved)
    portal = urls["portal"]
    # reportlab has no public API for the catalog's OpenAction nor a page's /AA; its stubs leave out
    # the private _doc they hang on.
    document: Any = pdf._doc  # type: ignore[attr-defined]
    document.Catalog.OpenAction = _uri_action(urls["pdf-open-action"], PDFDictionary, PDFName, PDFString)
    width, height = A4
    y = height - 2 * cm
    pdf.setFont(bold, 12)
    for line in content["header"]:
        if line:
            pdf.drawString(2 * cm, y, line)
            pdf.setFont(regular, 10)
            y -= 0.5 * cm
    y -= 0.8 * cm
    pdf.setFont(bold, 15)
    pdf.drawCentredString(width / 2, y, content["title"])
    y -= 1.0 * cm
    pdf.setFont(regular, 10)
    for line in content["meta"]:
        pdf.drawString(2 * cm, y, line)
        y -= 0.5 * cm
    y -= 0.4 * cm
    for heading, lines in content["sections"]:
        if heading:
            pdf.setFont(bold, 11)
            pdf.drawString(2 * cm, y, heading)
            y -= 0.5 * cm
        pdf.setFont(regular, 10)
        for line in lines:
            for part in _wrap(line, 95):
                pdf.drawString(2.4 * cm, y, part)
                y -= 0.45 * cm
        y -= 0.3 * cm
    y -= 0.5 * cm
    pdf.drawRightString(width - 2 * cm, y, content["signature"])
    # Footer: the portal link (clickable) and, on prescriptions, its QR code.
    pdf.setFont(regular, 9)
    pdf.drawString(2 * cm, 2.6 * cm, content["footer"])
    pdf.setFillColorRGB(0, 0.33, 0.55)
    pdf.drawString(2 * cm, 2.1 * cm, portal)
    pdf.linkURL(portal, (2 * cm, 2.0 * cm, 2 * cm + pdf.stringWidth(portal, regular, 9), 2.5 * cm), relative=0)
    if content["kind"] == "ordonnance":
        _draw_qr(pdf, portal, width - 2 * cm - 2.6 * cm, 1.6 * cm, 2.6 * cm)
    pdf.showPage()
    first_page = document.Pages.pages[0]
    first_page.AA = PDFDictionary({"O": _uri_action(urls["pdf-page-open"], PDFDictionary, PDFName, PDFString)})
    from reportlab.pdfbase.pdfdoc import PDFStream

    metadata = PDFStream(PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
                         xmp_packet(meta, PDF_CREATOR, PDF_PRODUCER))
    metadata.filters = []  # XMP stays readable, as every writer leaves it
    pdf.setCatalogEntry("Metadata", document.Reference(metadata, "XMPMetadata"))
    pdf.save()
    return fonts.renamed(_unsigned(buffer.getvalue()))


def _unsigned(data: bytes) -> bytes:
    """The file without reportlab's name in it, declared PDF 1.7 as Word's export is (same lengths)."""
    header, comment = _LIBRARY_COMMENTS
    data = data.replace(header, _BINARY_MARKER + b" " * (len(header) - len(_BINARY_MARKER) - 1) + b"\n", 1)
    data = data.replace(comment, b" " * (len(comment) - 1) + b"\n", 1)
    # reportlab always writes /Trapped in the information dictionary, Word never does: blanked, same length.
    data = data.replace(b"/Trapped /False", b" " * len(b"/Trapped /False"), 1)
    if data.startswith(b"%PDF-1.3") or data.startswith(b"%PDF-1.4"):
        data = b"%PDF-1.7" + data[8:]
    return data


def _draw_qr(pdf: Any, text: str, x: float, y: float, size: float) -> None:
    """The QR code as filled rectangles on the page itself (a graphics renderer would add its own font)."""
    from reportlab.graphics.barcode.qr import QrCodeWidget

    widget = QrCodeWidget(text)
    x0, y0, x1, _ = widget.getBounds()
    scale = size / (x1 - x0)
    stack = [widget.draw()]
    while stack:
        node = stack.pop()
        if hasattr(node, "contents"):
            stack.extend(node.contents)
            continue
        if node.fillColor is None:  # the quiet zone: an outline, not filled
            continue
        pdf.setFillColor(node.fillColor)
        pdf.rect(x + (node.x - x0) * scale, y + (node.y - y0) * scale, node.width * scale, node.height * scale,
                 stroke=0, fill=1)


def _uri_action(uri: str, dictionary: Any, name: Any, string: Any) -> Any:
    return dictionary({"Type": name("Action"), "S": name("URI"), "URI": string(uri)})


def _wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    return lines + ([current] if current else [])
