"""Fonts and XMP metadata of a PDF as Word's "Save as PDF" writes them.

Word embeds subsets of the fonts it used (Calibri for a letter in the default template), named with a
six-letter tag, and writes an XMP packet repeating the document information. Calibri itself is Microsoft's
and not on a Linux host; Carlito (Debian fonts-crosextra-carlito) has the same metrics, so the text sits
where Word would put it. The subsets are named Calibri / Calibri-Bold, with tags of the shape Word's are.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from canary.watch.tripwire.document_meta import DocumentMeta

FONT_DIRS = (Path("/usr/share/fonts/truetype/crosextra"), Path("/usr/local/share/fonts"))
# ReportLab tags the n-th subset of a font AAAAAA, AAAAAB...; Word's tags look like BCDEEE, BCDFEE. Same length,
# so replacing them keeps every cross-reference offset.
_TAGS = {b"AAAAAA+Calibri-Bold": b"BCDFEE+Calibri-Bold", b"AAAAAA+Calibri": b"BCDEEE+Calibri"}


@dataclass(frozen=True)
class WordFonts:
    regular: str
    bold: str
    embedded: bool

    def renamed(self, data: bytes) -> bytes:
        if not self.embedded:
            return data
        for ours, words in _TAGS.items():
            data = data.replace(b"/" + ours, b"/" + words)
        return data


def _find(name: str) -> Path | None:
    return next((d / name for d in FONT_DIRS if (d / name).is_file()), None)


@functools.lru_cache(maxsize=1)
def word_fonts() -> WordFonts:
    """Calibri-named subsets of Carlito when the system has it, else the base-14 Helvetica (not embedded)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    regular, bold = _find("Carlito-Regular.ttf"), _find("Carlito-Bold.ttf")
    if not regular or not bold:
        return WordFonts("Helvetica", "Helvetica-Bold", embedded=False)
    for name, path in (("Calibri", regular), ("Calibri-Bold", bold)):
        font = TTFont(name, str(path))
        font.face.name = name.encode()  # the PostScript name the subset carries (BaseFont, FontName)
        pdfmetrics.registerFont(font)
    return WordFonts("Calibri", "Calibri-Bold", embedded=True)


def xmp_packet(meta: DocumentMeta, creator_tool: str, producer: str) -> bytes:
    """The XMP metadata Word writes: title, author, subject, producer, tool, dates, document and instance ids."""
    stable = hashlib.sha256(f"{meta.title}|{meta.author}|{meta.created.isoformat()}".encode()).digest()
    document_id = uuid.UUID(bytes=stable[:16], version=4)
    instance_id = uuid.UUID(bytes=stable[16:32], version=4)
    created = meta.created.isoformat(timespec="seconds")
    modified = meta.modified.isoformat(timespec="seconds")
    body = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="3.1-701">\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about=""  xmlns:pdf="http://ns.adobe.com/pdf/1.3/">\n'
        f"<pdf:Producer>{escape(producer)}</pdf:Producer></rdf:Description>\n"
        '<rdf:Description rdf:about=""  xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(meta.title)}</rdf:li></rdf:Alt></dc:title>'
        f"<dc:creator><rdf:Seq><rdf:li>{escape(meta.author)}</rdf:li></rdf:Seq></dc:creator>"
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(meta.subject)}</rdf:li></rdf:Alt>'
        "</dc:description></rdf:Description>\n"
        '<rdf:Description rdf:about=""  xmlns:xmp="http://ns.adobe.com/xap/1.0/">\n'
        f"<xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool><xmp:CreateDate>{created}</xmp:CreateDate>"
        f"<xmp:ModifyDate>{modified}</xmp:ModifyDate></rdf:Description>\n"
        '<rdf:Description rdf:about=""  xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/">\n'
        f"<xmpMM:DocumentID>uuid:{str(document_id).upper()}</xmpMM:DocumentID>"
        f"<xmpMM:InstanceID>uuid:{str(instance_id).upper()}</xmpMM:InstanceID></rdf:Description>\n"
        "</rdf:RDF></x:xmpmeta>\n"
    )
    padding = (" " * 99 + "\n") * 20  # writers leave room to edit the packet in place
    return (body + padding + '<?xpacket end="w"?>').encode()
