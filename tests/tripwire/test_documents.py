"""Documents that call back: produced through the CLI, opened with real parsers, their callbacks
replayed against the real listeners as Word, Excel and Acrobat make them (user agent, path, DNS)."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from urllib.parse import urlsplit

import openpyxl
import pypdf
import pytest
import requests
from dnslib import RCODE, DNSRecord
from docx import Document

from canary.store.events import list_events
from canary.store.registry import get_system

WORD_AGENT = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
EXCEL_AGENT = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Excel 16.0.17328; Pro)"
ACROBAT_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AcroRd32/23.008"
# What the libraries write when nobody sets the metadata: none of it may remain in any document.
TELLTALES = (b"python-docx", b"reportlab", b"anonymous", b"unspecified", b"macintosh", b"2013-12-23",
             b"canary", b"openpyxl", b'w:val="en-us"')
FORMATS = [("pdf", "compte-rendu"), ("pdf", "ordonnance"), ("docx", "compte-rendu"), ("docx", "ordonnance"),
           ("xlsx", "compte-rendu"), ("xlsx", "ordonnance")]


def _write(cli, canary, tmp_path, fmt: str, kind: str = "compte-rendu") -> bytes:
    target = tmp_path / f"{kind}.{fmt}"
    result = cli("tripwire", "documents", canary["id"], "--format", fmt, "--kind", kind, "-o", str(target))
    assert result.exit_code == 0, result.output
    return target.read_bytes()


def _ooxml_parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _external_images(parts: dict[str, bytes]) -> list[str]:
    rels = b"".join(v for k, v in parts.items() if k.endswith(".rels")).decode()
    return re.findall(r'Type="[^"]+/image" Target="([^"]+)" TargetMode="External"', rels)


def _fetch_as(listeners, url: str, agent: str) -> requests.Response:
    """What a reader does for ``url``: the request reaches our listener with its Host and path."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return requests.get(f"http://127.0.0.1:{listeners['CallbackService'].port}{path}", timeout=5,
                        headers={"User-Agent": agent, "Host": parts.netloc})


def _resolve(listeners, name: str) -> DNSRecord:
    port = listeners["DnsService"].port
    return DNSRecord.parse(DNSRecord.question(name, "A").send("127.0.0.1", port, timeout=5))


@pytest.mark.parametrize(("fmt", "kind"), FORMATS)
def test_every_document_carries_the_metadata_of_a_hospitals_own(cli, canaries, configured, tmp_path, fmt, kind):
    canary = canaries[0]
    establishment = get_system(configured, canary["system"])["establishment"]
    data = _write(cli, canary, tmp_path, fmt, kind)
    today = date.today()
    if fmt == "pdf":
        reader = pypdf.PdfReader(io.BytesIO(data))
        info = reader.metadata
        assert info["/Producer"] == info["/Creator"] == "Microsoft® Word pour Microsoft 365"
        assert info["/Subject"] == "Ordonnance" or info["/Subject"].startswith("Compte rendu de consultation — ")
        assert info["/Title"] == ("Ordonnance" if kind == "ordonnance" else "Compte rendu de consultation")
        assert info["/Author"] == establishment
        for key in ("/CreationDate", "/ModDate"):
            assert re.fullmatch(rf"D:{today:%Y%m%d}(0[89]|1[0-7])\d{{4}}\+0[12]'00'", info[key]), info[key]
        assert [round(float(v)) for v in reader.pages[0].mediabox] == [0, 0, 595, 842]  # A4
        assert info.get("/Keywords", "") == "" and "/Trapped" not in info  # Word writes no /Trapped
        assert not any(t in data.lower() for t in TELLTALES)
        # As Word's export: Calibri embedded as subsets with Word's tags, an XMP packet repeating the info.
        fonts = {}
        for font in reader.pages[0]["/Resources"]["/Font"].values():
            font = font.get_object()
            fonts[str(font["/BaseFont"])] = "/FontFile2" in font["/FontDescriptor"].get_object()
        assert fonts == {"/BCDEEE+Calibri": True, "/BCDFEE+Calibri-Bold": True}
        xmp = reader.xmp_metadata
        assert xmp is not None and xmp.dc_title == {"x-default": info["/Title"]} and xmp.dc_creator == [establishment]
        assert xmp.pdf_producer == xmp.xmp_creator_tool == "Microsoft® Word pour Microsoft 365"
        assert xmp.xmp_create_date.date() == today and str(xmp.xmpmm_document_id).startswith("uuid:")
        return
    parts = _ooxml_parts(data)
    core, app = parts["docProps/core.xml"].decode(), parts["docProps/app.xml"].decode()
    assert f"<dc:creator>{establishment}</dc:creator>" in core
    assert "<dc:description></dc:description>" in core and "<cp:keywords></cp:keywords>" in core
    created = re.search(r'<dcterms:created xsi:type="dcterms:W3CDTF">([^<]+)<', core)[1]
    modified = re.search(r'<dcterms:modified xsi:type="dcterms:W3CDTF">([^<]+)<', core)[1]
    assert created.startswith(today.isoformat()) and modified.startswith(today.isoformat()) and created < modified
    assert re.search(r"<cp:revision>[2-4]</cp:revision>", core)
    assert re.search(rf"<Company>{establishment}</Company>", app)
    if fmt == "docx":
        assert "<Application>Microsoft Office Word</Application>" in app and "<AppVersion>16.0000</AppVersion>" in app
        assert int(re.search(r"<Words>(\d+)</Words>", app)[1]) > 20
        document = Document(io.BytesIO(data))
        assert b'<w:pgSz w:w="11906" w:h="16838"/>' in parts["word/document.xml"]  # A4 in twips, as Word writes
        assert document.core_properties.last_modified_by.startswith(("Dr", "Pr"))
        assert b'w:val="fr-FR"' in parts["word/settings.xml"] and b'w:val="en-US"' not in parts["word/styles.xml"]
    else:
        assert "<Application>Microsoft Excel</Application>" in app and "<AppVersion>16.0300</AppVersion>" in app
        assert b'paperSize="9"' in parts["xl/worksheets/sheet1.xml"]  # A4
    # Office 16 on Windows saves no thumbnail by default (Mac Office writes a JPEG one: a maker's trace).
    assert not any(name.startswith("docProps/thumbnail") for name in parts)
    assert b"thumbnail" not in parts["_rels/.rels"] and b"jpeg" not in parts["[Content_Types].xml"]
    # No macros, no remote template, no external workbook links: gateways flag those.
    assert not any(name.endswith(("vbaProject.bin", ".bin")) or "externalLink" in name for name in parts)
    assert b"attachedTemplate" not in parts.get("word/settings.xml", b"")
    everything = b"".join(parts.values()).lower()
    assert [t for t in TELLTALES if t in everything] == []


def test_pdf_open_action_names_the_token_host_and_fires_the_dns_tripwire_as_acrobat_does(
        cli, canaries, tmp_path, start_listeners, db):
    canary = canaries[0]
    hostname, url = canary["tokens"]["hostname"], canary["tokens"]["url"]
    listeners = start_listeners(dns=True)
    for kind in ("compte-rendu", "ordonnance"):
        reader = pypdf.PdfReader(io.BytesIO(_write(cli, canary, tmp_path, "pdf", kind)))
        text = reader.pages[0].extract_text()
        assert canary["birth_name"] in text and url in text  # the visible portal link stays
        assert ("ORDONNANCE" if kind == "ordonnance" else "COMPTE RENDU DE CONSULTATION") in text
        open_action = reader.trailer["/Root"]["/OpenAction"]
        assert open_action["/S"] == "/URI" and urlsplit(open_action["/URI"]).hostname == hostname
        page_open = reader.pages[0]["/AA"]["/O"]
        assert page_open["/S"] == "/URI" and urlsplit(page_open["/URI"]).hostname == f"www.{hostname}"
        assert url in [a.get_object()["/A"]["/URI"] for a in reader.pages[0]["/Annots"]]
    # Acrobat resolves the open action's host before its "allow?" prompt: the DNS tripwire fires even
    # when the user refuses; on "Allow" the request follows.
    assert _resolve(listeners, urlsplit(open_action["/URI"]).hostname).header.rcode == RCODE.NOERROR
    # A reader running the page's open action as well resolves the second name: same canary, one
    # lookup's fan-out (dns-burst, low) since it follows within seconds.
    _resolve(listeners, urlsplit(page_open["/URI"]).hostname)
    dns, page_dns = list_events(db, channel="dns")
    assert dns["canary_id"] == page_dns["canary_id"] == canary["id"] and dns["severity"] == "high"
    assert page_dns["details"]["qname"] == f"www.{hostname}" and page_dns["details"]["noise"] == "dns-burst"
    assert _fetch_as(listeners, open_action["/URI"], ACROBAT_AGENT).status_code == 200
    [http] = list_events(db, channel="http")
    assert http["canary_id"] == canary["id"] and http["severity"] == "high"
    assert http["details"]["host"] == hostname and http["details"]["path_kind"] == "page"


def test_docx_pictures_and_includepicture_fire_high_when_word_opens_it(cli, canaries, tmp_path, start_listeners, db):
    canary = canaries[1]
    url, hostname = canary["tokens"]["url"], canary["tokens"]["hostname"]
    data = _write(cli, canary, tmp_path, "docx")
    document = Document(io.BytesIO(data))
    assert "COMPTE RENDU DE CONSULTATION" in "\n".join(p.text for p in document.paragraphs)
    parts = _ooxml_parts(data)
    header = parts["word/header1.xml"].decode()
    assert f'INCLUDEPICTURE "{url}/bandeau.png" \\d' in header
    assert header.count('w:fldCharType="begin"') == header.count('w:fldCharType="end"') == 1
    pictures = _external_images(parts)
    assert sorted(pictures) == sorted([f"{url}/entete.gif", f"{url}/bandeau.png",
                                       f"http://{hostname}/img/logo.gif"])
    assert f'Target="{url}"' in parts["word/_rels/document.xml.rels"].decode()  # the portal hyperlink
    listeners = start_listeners(dns=True)
    # Word: a DNS lookup for the host names, then a GET per picture with its user agent.
    _resolve(listeners, hostname)
    for picture in pictures:
        assert _fetch_as(listeners, picture, WORD_AGENT).headers["Content-Type"] == "image/gif"
    events = list_events(db, channel="http")
    assert [e["severity"] for e in events] == ["high"] * 3
    assert sorted(e["details"]["picture"] for e in events) == [
        "docx-footer-picture", "docx-header-picture", "docx-includepicture"]
    assert {e["canary_id"] for e in events + list_events(db, channel="dns")} == {canary["id"]}


def test_xlsx_links_pictures_that_excel_fetches(cli, canaries, tmp_path, start_listeners, db):
    canary = canaries[0]
    url, hostname = canary["tokens"]["url"], canary["tokens"]["hostname"]
    data = _write(cli, canary, tmp_path, "xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    cells = [str(c.value) for row in workbook.active.iter_rows() for c in row if c.value]
    assert "COMPTE RENDU DE CONSULTATION" in cells and any(canary["birth_name"] in c for c in cells)
    assert workbook.active.title == "Synthèse"
    pictures = _external_images(_ooxml_parts(data))
    assert sorted(pictures) == sorted([f"{url}/logo-etablissement.png",
                                       f"http://{hostname}/img/logo-etablissement.png"])
    listeners = start_listeners()
    for picture in pictures:
        _fetch_as(listeners, picture, EXCEL_AGENT)
    events = list_events(db, channel="http")
    assert [(e["severity"], e["details"]["picture"]) for e in events] == [("high", "xlsx-picture")] * 2


def test_documents_refuse_unknown_canary_and_missing_callback(cli, db, add_hand_canaries, tmp_path):
    assert "unknown canary" in cli("tripwire", "documents", "nope", "--format", "pdf", "-o",
                                   str(tmp_path / "x.pdf")).output
    [canary] = add_hand_canaries(count=1)  # no base_url / zone configured
    for fmt in ("docx", "xlsx"):
        result = cli("tripwire", "documents", canary["id"], "--format", fmt, "-o", str(tmp_path / f"x.{fmt}"))
        assert result.exit_code == 1 and "tripwire.base_url" in result.output
        assert not (tmp_path / f"x.{fmt}").exists()


def test_an_unwritable_output_is_one_line_naming_the_file(cli, canaries, tmp_path):
    missing = tmp_path / "no-such-dir" / "x.xlsx"
    result = cli("tripwire", "documents", canaries[0]["id"], "--format", "xlsx", "-o", str(missing))
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: cannot write {missing}: No such file or directory"]


def test_a_prescription_is_never_signed_by_the_treating_physician(cli, canaries, configured, tmp_path):
    """The GP may be a real physician from the RPPS directory: a fake prescription never names him or her
    as its author; it is the establishment's discharge prescription."""
    canary = canaries[0]
    gp = canary["gp"]
    reader = pypdf.PdfReader(io.BytesIO(_write(cli, canary, tmp_path, "pdf", "ordonnance")))
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Ordonnance de sortie" in text and "Médecin traitant" in text
    assert f"RPPS {gp['rpps']}" not in text
    assert gp["family_name"] not in reader.metadata["/Author"]


@pytest.mark.parametrize("kind", ["compte-rendu", "ordonnance"])
def test_xlsx_dimension_is_the_range_of_its_cells(cli, canaries, tmp_path, kind):
    data = _write(cli, canaries[0], tmp_path, "xlsx", kind)
    sheet = _ooxml_parts(data)["xl/worksheets/sheet1.xml"].decode()
    [dimension] = re.findall(r'<dimension ref="([^"]+)"/>', sheet)
    cells = re.findall(r'<c r="([A-Z]+)(\d+)"', sheet)
    rows, columns = [int(r) for _, r in cells], [c for c, _ in cells]
    assert dimension == f"{min(columns)}{min(rows)}:{max(columns)}{max(rows)}"
    # openpyxl's read-only mode trusts the dimension: it must agree with what is there.
    sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True).active
    assert sheet.calculate_dimension() == dimension
    assert sheet.max_row == max(rows) and sheet.max_column == 2


def test_explain_lists_every_beacon_a_document_carries_with_the_canarys_urls(cli, canaries, tmp_path):
    import json

    canary = canaries[0]
    result = cli("tripwire", "documents", canary["id"], "--explain", "--json")
    assert result.exit_code == 0, result.output
    matrix = {block["format"]: block for block in json.loads(result.output)}
    assert list(matrix) == ["docx", "xlsx", "pdf"]
    for fmt in ("docx", "xlsx"):
        pictures = _external_images(_ooxml_parts(_write(cli, canary, tmp_path, fmt)))
        on_open = {m["url"] for m in matrix[fmt]["mechanisms"] if m["trigger"] == "open"}
        assert on_open == set(pictures)  # every linked picture the file holds, and nothing it lacks
    pdf = pypdf.PdfReader(io.BytesIO(_write(cli, canary, tmp_path, "pdf")))
    open_action = pdf.trailer["/Root"]["/OpenAction"]["/URI"]
    assert {m["mechanism"]: m["url"] for m in matrix["pdf"]["mechanisms"]}["pdf-open-action"] == open_action
    # Honest about PDFs: no viewer of the review fires on opening; Acrobat only resolves the name.
    assert matrix["pdf"]["fires_on_open"] == ["Mail gateway or online viewer sandbox (Mimecast, headless Chrome)"]
    assert matrix["pdf"]["dns_only_on_open"] == ["Adobe Acrobat / Reader"]
    assert {r["evidence"].split(" ")[0] for r in matrix["pdf"]["readers"]} == {"documented", "observed", "measured"}
    text = cli("tripwire", "documents", "--explain", "--format", "docx").output
    assert text.startswith("DOCX fires on opening in") and "LibreOffice Writer" in text and "PDF" not in text


def test_explain_grades_each_reader_as_the_listener_grades_its_hit(cli, canaries, tmp_path, start_listeners, db):
    import json

    from canary.watch.tripwire.readers import LIBREOFFICE_UA, SANDBOX_UA

    canary = canaries[0]
    readers = {r["reader"]: r["class"] for r in
               json.loads(cli("tripwire", "documents", "--explain", "--json", "--format", "docx").output)[0]["readers"]}
    assert readers["LibreOffice Writer 7.4 (GUI and headless)"] == "high"
    sandbox = readers["Mail gateway or online viewer sandbox (Mimecast, headless Chrome)"]
    assert sandbox.startswith("low (automated-fetcher:headlesschrome")
    listeners = start_listeners()
    picture = f"{canary['tokens']['url']}/entete.gif"
    _fetch_as(listeners, picture, LIBREOFFICE_UA)
    _fetch_as(listeners, picture, SANDBOX_UA)
    events = list_events(db, channel="http")
    assert [e["severity"] for e in events] == ["high", "low"]
    assert events[1]["details"]["noise"] == "automated-fetcher:headlesschrome"
    # Overridden by the operator: the table follows the setting.
    assert cli("config", "set", "tripwire.automated_are_noise", "false").exit_code == 0
    again = json.loads(cli("tripwire", "documents", "--explain", "--json", "--format", "docx").output)[0]["readers"]
    assert {r["class"] for r in again if r["reader"].startswith("Mail gateway")} == {"high"}


def test_documents_without_explain_name_what_is_missing(cli, canaries):
    result = cli("tripwire", "documents", "--format", "pdf")
    assert result.exit_code == 1 and "CANARY_ID" in result.output and "-o/--output" in result.output


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_the_package_is_laid_out_as_office_16_on_windows_writes_it(cli, canaries, tmp_path, fmt):
    data = _write(cli, canaries[0], tmp_path, fmt)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = archive.infolist()
        parts = {info.filename: archive.read(info.filename) for info in entries}
    # Every entry dated at the DOS epoch and marked FAT, as Office writes them; the main part first.
    assert {(info.date_time, info.create_system) for info in entries} == {((1980, 1, 1, 0, 0, 0), 0)}
    main = "word/document.xml" if fmt == "docx" else "xl/workbook.xml"
    assert [info.filename for info in entries][:3] == ["[Content_Types].xml", "_rels/.rels", main]
    assert [e.filename for e in entries][-2:] == ["docProps/core.xml", "docProps/app.xml"]
    declaration = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    xml_parts = {n: d for n, d in parts.items() if n.endswith((".xml", ".rels"))}
    assert [n for n, d in xml_parts.items() if not d.startswith(declaration)] == []
    everything = b"".join(xml_parts.values())
    assert b"xmlns:mo=" not in everything and b"xmlns:mv=" not in everything  # Mac Office namespaces
    theme = parts[("word" if fmt == "docx" else "xl") + "/theme/theme1.xml"]
    assert re.search(rb'<a:minorFont>\s*<a:latin typeface="Calibri"', theme)
    assert re.search(rb'<a:majorFont>\s*<a:latin typeface="Calibri Light"', theme)
    if fmt == "docx":
        fonts = re.findall(rb'<w:font w:name="([^"]+)"', parts["word/fontTable.xml"])
        assert fonts == [b"Symbol", b"Calibri", b"Times New Roman", b"Calibri Light"]  # no Japanese font
        assert b'<w:defaultTabStop w:val="708"/>' in parts["word/settings.xml"]  # French Word's 1.25 cm
        assert Document(io.BytesIO(data)).paragraphs  # still a document python-docx reads
        # Only the styles the document uses and the defaults, as Word writes them (the template had ~160).
        styles = set(re.findall(rb'w:styleId="([^"]+)"', parts["word/styles.xml"]))
        assert {b"Normal", b"Header", b"Footer"} <= styles and b"LightShading-Accent1" not in styles
        assert len(parts["word/styles.xml"]) < 60_000
    else:
        assert openpyxl.load_workbook(io.BytesIO(data)).active.title == "Synthèse"
        styles = parts["xl/styles.xml"]  # a new Excel 16 workbook's stylesheet, not a minimal one
        assert b'mc:Ignorable="x14ac x16r2 xr"' in styles and b'defaultTableStyle="TableStyleMedium2"' in styles


def _docx_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    header = "\n".join(p.text for p in document.sections[0].header.paragraphs)
    return header + "\n" + "\n".join(p.text for p in document.paragraphs)


def test_content_is_the_sites_own_dated_there_signed_by_its_practitioners(cli, db, configured, canaries, tmp_path):
    import json

    canary = canaries[0]
    db.execute("UPDATE systems SET site_commune = '38544', finess = '380780080' WHERE name = ?", [canary["system"]])
    record = json.loads(db.execute("SELECT record FROM canaries WHERE id = ?", [canary["id"]]).fetchone()[0])
    four_years_old = date.today().replace(year=date.today().year - 4, month=1, day=15).isoformat()
    db.execute("UPDATE canaries SET record = ? WHERE id = ?",
               [json.dumps(record | {"birth_date": four_years_old, "sex": "F"}), canary["id"]])
    db.conn.commit()
    text = _docx_text(_write(cli, canary, tmp_path, "docx", "ordonnance"))
    assert f"Vienne, le {date.today():%d/%m/%Y}" in text  # where the hospital is, not the patient's town
    assert "FINESS 380780080" in text
    assert "Enfant " in text and "Mme " not in text and re.search(r"Poids : (1[3-9]) kg", text)
    # Signers: a few per site, none a "Pr" outside a university hospital; another site has others.
    signers = {re.search(r"^(Dr|Pr) .+$", _docx_text(_write(cli, c, tmp_path, "docx")).splitlines()[-2])[0]
               for c in canaries}
    assert all(s.startswith("Dr ") for s in signers)
    from canary.watch.tripwire.document_people import site_signers

    here = site_signers(get_system(db, canary["system"]), [])
    chu = site_signers({"establishment": "CHU de Grenoble Alpes", "name": "dpi"}, [])
    assert signers <= set(here) and set(here) != set(chu)
    assert sum(s.startswith("Pr ") for s in chu) == 1 and not any(s.startswith("Pr ") for s in here)
    # The operator's own list wins.
    assert cli("config", "set", "tripwire.document_signers", "Dr Anne PERRIN").exit_code == 0
    assert "Dr Anne PERRIN" in _docx_text(_write(cli, canary, tmp_path, "docx"))
