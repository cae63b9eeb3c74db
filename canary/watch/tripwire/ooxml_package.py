"""An OOXML package laid out as Word or Excel 16 on Windows writes it, whatever library made its parts.

What a forensic look at a ZIP-based Office file reads before any text: the entries' dates and host system
(Office writes every entry at 1980-01-01 00:00, marked FAT), their order, each part's XML declaration
(double quotes, CRLF), the namespaces of the root elements, the fonts and theme of the template, tab stops,
and whether a thumbnail is there (Windows Office saves none by default; Mac Office writes a JPEG one).
python-docx's template is a Mac Word 2011 one (``mo``/``mv`` namespaces, Japanese fonts, Cambria body text,
``defaultTabStop`` 720 where a French Word writes 708): all of it is rewritten here.
"""

from __future__ import annotations

import io
import re
import zipfile

DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
_ANY_DECLARATION = re.compile(rb"^<\?xml[^>]*\?>\s*")
_MAC_NAMESPACES = re.compile(rb'\s+xmlns:(?:mo|mv)="[^"]*"')
_THUMBNAIL_REL = re.compile(rb'<Relationship [^>]*Target="docProps/thumbnail\.[a-z]+"/>')
OFFICE_EPOCH = (1980, 1, 1, 0, 0, 0)
FAT = 0

# The fonts Word 16 for Windows lists for a document in the default template with bullets (Symbol).
WORD_FONT_TABLE = (
    b'<w:fonts xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    b'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    b'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml" mc:Ignorable="w14">'
    b'<w:font w:name="Symbol"><w:panose1 w:val="05050102010706020507"/><w:charset w:val="02"/>'
    b'<w:family w:val="roman"/><w:pitch w:val="variable"/><w:sig w:usb0="00000000" w:usb1="10000000" '
    b'w:usb2="00000000" w:usb3="00000000" w:csb0="80000000" w:csb1="00000000"/></w:font>'
    b'<w:font w:name="Calibri"><w:panose1 w:val="020F0502020204030204"/><w:charset w:val="00"/>'
    b'<w:family w:val="swiss"/><w:pitch w:val="variable"/><w:sig w:usb0="E4002EFF" w:usb1="C200247B" '
    b'w:usb2="00000009" w:usb3="00000000" w:csb0="000001FF" w:csb1="00000000"/></w:font>'
    b'<w:font w:name="Times New Roman"><w:panose1 w:val="02020603050405020304"/><w:charset w:val="00"/>'
    b'<w:family w:val="roman"/><w:pitch w:val="variable"/><w:sig w:usb0="E0002EFF" w:usb1="C000785B" '
    b'w:usb2="00000009" w:usb3="00000000" w:csb0="000001FF" w:csb1="00000000"/></w:font>'
    b'<w:font w:name="Calibri Light"><w:panose1 w:val="020F0302020204030204"/><w:charset w:val="00"/>'
    b'<w:family w:val="swiss"/><w:pitch w:val="variable"/><w:sig w:usb0="E4002EFF" w:usb1="C200247B" '
    b'w:usb2="00000009" w:usb3="00000000" w:csb0="000001FF" w:csb1="00000000"/></w:font></w:fonts>'
)


# The order Word and Excel 16 write a package's entries in (names not listed go after their folder's).
_ENTRY_ORDER = (
    "[Content_Types].xml", "_rels/.rels",
    "word/document.xml", "word/_rels/document.xml.rels", "word/numbering.xml", "word/header", "word/footer",
    "word/_rels/header", "word/_rels/footer", "word/theme/", "word/settings.xml", "word/styles.xml",
    "word/webSettings.xml", "word/fontTable.xml", "word/",
    "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet", "xl/theme/", "xl/styles.xml",
    "xl/sharedStrings.xml", "xl/drawings/drawing", "xl/worksheets/_rels/", "xl/drawings/_rels/", "xl/",
    "customXml/item", "customXml/_rels/", "customXml/", "docProps/core.xml", "docProps/app.xml",
)


def _order(name: str) -> tuple[int, str]:
    rank = next((i for i, prefix in enumerate(_ENTRY_ORDER) if name.startswith(prefix)), len(_ENTRY_ORDER))
    return rank, name


def _declared(data: bytes) -> bytes:
    return DECLARATION + _ANY_DECLARATION.sub(b"", data, count=1)


def _office_part(name: str, data: bytes) -> bytes:
    if name == "word/fontTable.xml":
        return WORD_FONT_TABLE
    if name == "word/settings.xml":
        data = re.sub(rb'(<w:defaultTabStop w:val=")720(")', rb"\g<1>708\g<2>", data)
    if name.endswith("theme/theme1.xml"):
        # Office 2013-2021 theme: Calibri Light headings, Calibri body text (the Mac 2011 template: Cambria).
        data = re.sub(rb'(<a:majorFont>\s*<a:latin typeface=")[^"]*(")', rb"\g<1>Calibri Light\g<2>", data)
        data = re.sub(rb'(<a:minorFont>\s*<a:latin typeface=")[^"]*(")', rb"\g<1>Calibri\g<2>", data)
        data = data.replace(b'name="Office Theme"', 'name="Thème Office"'.encode())
    if name.startswith("word/") and name.endswith(".xml"):
        data = _MAC_NAMESPACES.sub(b"", data)
        data = re.sub(rb'mc:Ignorable="([^"]*)"',
                      lambda m: b'mc:Ignorable="' + b" ".join(p for p in m[1].split() if p not in (b"mo", b"mv"))
                      + b'"', data)
    return data


_STYLE_USE = re.compile(rb'w:(?:pStyle|rStyle|tblStyle|numStyleLink|styleLink) w:val="([^"]+)"')
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def pruned_styles(styles: bytes, used: set[str]) -> bytes:
    """Word writes the styles a document uses (and those they are based on, linked to or followed by) plus
    the defaults; python-docx's template carries every style of its gallery (about 160, 340 KB)."""
    from lxml import etree  # type: ignore[import-untyped]  # python-docx's own parser; no stubs installed

    root = etree.fromstring(styles)
    by_id = {el.get(f"{_W}styleId"): el for el in root.findall(f"{_W}style")}
    keep = {sid for sid, el in by_id.items() if el.get(f"{_W}default") == "1"} | (used & set(by_id))
    pending = list(keep)
    while pending:
        element = by_id[pending.pop()]
        for tag in ("basedOn", "link", "next"):
            ref = element.find(f"{_W}{tag}")
            target = ref.get(f"{_W}val") if ref is not None else None
            if target in by_id and target not in keep:
                keep.add(target)
                pending.append(target)
    for sid, element in by_id.items():
        if sid not in keep:
            root.remove(element)
    return etree.tostring(root, xml_declaration=False, encoding="UTF-8", standalone=None)


def office_package(package: bytes) -> bytes:
    """The package rewritten with Office's ZIP layout, declarations and template traits, without thumbnail."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        names = [n for n in source.namelist() if not n.startswith("docProps/thumbnail.")]
        used = {m.decode() for n in names if n.startswith("word/") and n != "word/styles.xml"
                for m in _STYLE_USE.findall(source.read(n))}
        for name in sorted(names, key=_order):
            data = source.read(name)
            if name == "word/styles.xml":
                data = pruned_styles(data, used)
            if name.endswith((".xml", ".rels")):
                data = _declared(_office_part(name, data))
            if name == "_rels/.rels":
                data = _THUMBNAIL_REL.sub(b"", data)
            if name == "[Content_Types].xml" and not any(n.endswith((".jpeg", ".jpg")) for n in names):
                data = data.replace(b'<Default Extension="jpeg" ContentType="image/jpeg"/>', b"")
            info = zipfile.ZipInfo(name, date_time=OFFICE_EPOCH)
            info.create_system = FAT
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, data)
    return out.getvalue()
