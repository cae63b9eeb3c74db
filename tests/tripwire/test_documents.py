"""Documents that call back: produced through the CLI, opened with real parsers."""

from __future__ import annotations

import zipfile

import pypdf
from docx import Document


def test_pdf_compte_rendu_and_ordonnance_carry_the_callback(cli, canaries, tmp_path):
    canary = canaries[0]
    url = canary["tokens"]["url"]
    for kind in ("compte-rendu", "ordonnance"):
        target = tmp_path / f"{kind}.pdf"
        result = cli("tripwire", "documents", canary["id"], "--format", "pdf", "--kind", kind, "-o", str(target))
        assert result.exit_code == 0, result.output
        reader = pypdf.PdfReader(str(target))
        text = reader.pages[0].extract_text()
        assert canary["birth_name"] in text and url in text
        assert ("ORDONNANCE" if kind == "ordonnance" else "COMPTE RENDU DE CONSULTATION") in text
        assert reader.trailer["/Root"]["/OpenAction"]["/URI"] == url
        uris = [a.get_object()["/A"]["/URI"] for a in reader.pages[0]["/Annots"]]
        assert url in uris
        assert b"canary" not in target.read_bytes().lower()


def test_docx_links_pictures_that_word_fetches_on_open(cli, canaries, tmp_path):
    canary = canaries[1]
    target = tmp_path / "cr.docx"
    assert cli("tripwire", "documents", canary["id"], "--format", "docx", "-o", str(target)).exit_code == 0
    document = Document(str(target))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "COMPTE RENDU DE CONSULTATION" in text and canary["birth_name"] in text
    external = {}
    for part in (document.part, document.sections[0].header.part, document.sections[0].footer.part):
        for rel in part.rels.values():
            if rel.is_external:
                external[rel.target_ref] = rel.reltype.rsplit("/", 1)[-1]
    assert external[f"{canary['tokens']['url']}/entete.gif"] == "image"
    assert external[f"http://{canary['tokens']['hostname']}/img/logo.gif"] == "image"
    assert external[canary["tokens"]["url"]] == "hyperlink"
    with zipfile.ZipFile(target) as archive:
        rels = "".join(archive.read(n).decode() for n in archive.namelist() if n.endswith(".rels"))
        assert 'TargetMode="External"' in rels
        assert "canary" not in "".join(archive.read(n).decode("utf-8", "replace").lower() for n in archive.namelist())


def test_documents_refuse_unknown_canary_and_missing_callback(cli, db, add_hand_canaries, tmp_path):
    assert "unknown canary" in cli("tripwire", "documents", "nope", "--format", "pdf", "-o",
                                   str(tmp_path / "x.pdf")).output
    [canary] = add_hand_canaries(count=1)  # no base_url / zone configured
    result = cli("tripwire", "documents", canary["id"], "--format", "docx", "-o", str(tmp_path / "x.docx"))
    assert result.exit_code == 1 and "tripwire.base_url" in result.output
    assert not (tmp_path / "x.docx").exists()
