"""Which reader fires which beacon of a planted document, and how its hit is graded.

`canary tripwire documents --explain` prints this table. Each row says what happens when a reader opens the
document, when someone follows the link the document invites them to, and whether the reader fetches anything
ahead of the person (pre-fetch). ``evidence`` says where the row comes from: "measured" rows were run with
`bench/beacons.py` (the version measured), "observed" rows were tried by hand with the reader against a listener, and
"documented" rows rest on the vendor's documented behaviour, not on a run. The grade of a hit (``class``) is
not written here: it is what the operator's current noise settings make of the user agent the reader sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from canary.watch.tripwire.pages import DOCUMENT_PICTURE

# User agents as the readers send them (pictures fetched by the suite itself, or the browser a click opens).
WORD_UA = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
LIBREOFFICE_UA = "LibreOffice 7.4.7.2 denylistedbackend/7.88.1 GnuTLS/3.7.9"
BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 " \
             "Safari/537.36"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SANDBOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0 " \
             "Safari/537.36"


@dataclass(frozen=True)
class Mechanism:
    name: str  # as documents.beacon_urls names it (details.picture of a picture hit)
    fmt: str
    trigger: str  # open, click, scan
    channel: str  # what the listener sees: http, or dns then http
    what: str


@dataclass(frozen=True)
class Reader:
    name: str
    fmt: str
    on_open: str
    on_click: str
    prefetch: str
    latency: str | None
    evidence: str
    user_agent: str | None  # of the request that reaches the listener (None: nothing reaches it)


MECHANISMS = (
    Mechanism("docx-header-picture", "docx", "open", "http", "header picture, linked (external image relationship)"),
    Mechanism("docx-includepicture", "docx", "open", "http", "INCLUDEPICTURE field in the header"),
    Mechanism("docx-footer-picture", "docx", "open", "dns+http", "footer picture, linked, on the token host name"),
    Mechanism("portal", "docx", "click", "http", "hyperlink to the patient portal in the body"),
    Mechanism("xlsx-picture", "xlsx", "open", "http", "linked picture in the sheet's drawing"),
    Mechanism("xlsx-picture-dns", "xlsx", "open", "dns+http", "second linked picture, on the token host name"),
    Mechanism("pdf-open-action", "pdf", "open", "dns+http", "catalog /OpenAction URI"),
    Mechanism("pdf-page-open", "pdf", "open", "dns+http", "first page's open action (/AA /O URI)"),
    Mechanism("portal", "pdf", "click", "http", "visible portal link in the footer"),
    Mechanism("portal", "pdf", "scan", "http", "QR code of the portal link (ordonnance)"),
)

_NEVER = "nothing"
OBSERVED = "observed on opening by hand (no HTTP, no DNS), not installed here; the click is the viewer's " \
           "documented behaviour"
MEASURED = "measured (bench/beacons.py, LibreOffice 7.4.7)"


def _measured_viewer(version: str) -> str:
    return (f"measured on opening (bench/beacons.py, {version}, left open 8 s on a virtual display); the click is "
            "the viewer's documented behaviour")
DOCUMENTED = "documented by the vendor, not measured here"
READERS = (
    Reader("Microsoft Word 16 (Windows, Mac)", "docx",
           "fires: linked pictures and INCLUDEPICTURE; nothing in Protected View (files from mail or the "
           "Internet) until 'Enable editing'", "fires (Ctrl+click opens the browser)", _NEVER, None,
           DOCUMENTED, WORD_UA),
    Reader("LibreOffice Writer 7.4 (GUI and headless)", "docx", "fires: every linked picture, 2-3 requests each",
           "fires (Ctrl+click opens the browser)", _NEVER, "first hit 4.5-5.3 s after start, headless",
           MEASURED, LIBREOFFICE_UA),
    Reader("Microsoft Excel 16 (Windows, Mac)", "xlsx",
           "fires: linked pictures; nothing in Protected View until 'Enable editing'", "-", _NEVER, None,
           DOCUMENTED, WORD_UA),
    Reader("LibreOffice Calc 7.4 (GUI and headless)", "xlsx", "fires: every linked picture", "-", _NEVER,
           "first hit 4.3-4.5 s after start, headless",
           MEASURED, LIBREOFFICE_UA),
    Reader("Adobe Acrobat / Reader", "pdf",
           "DNS only: resolves the open action's host name before asking to connect; HTTP on 'Allow'",
           "fires after its 'allow this site' prompt", _NEVER, None, DOCUMENTED, BROWSER_UA),
    Reader("Foxit PDF Reader", "pdf", "asks first; HTTP on 'Allow'", "fires after its prompt", _NEVER, None,
           DOCUMENTED, BROWSER_UA),
    Reader("Chromium / Chrome / Edge PDF viewer (PDFium)", "pdf", _NEVER + " (URI open actions ignored)",
           "fires (opens a tab)", _NEVER, None, _measured_viewer("Chromium 156"), BROWSER_UA),
    Reader("Firefox PDF viewer (pdf.js)", "pdf", _NEVER + " (URI open actions ignored)", "fires (opens a tab)",
           _NEVER, None, _measured_viewer("Firefox ESR 153"), FIREFOX_UA),
    Reader("Evince (poppler)", "pdf", _NEVER, "fires (opens the desktop's browser)", _NEVER, None,
           _measured_viewer("Evince 43.1"),
           FIREFOX_UA),
    Reader("Okular (poppler)", "pdf", _NEVER, "fires (opens the desktop's browser)", _NEVER, None, OBSERVED,
           FIREFOX_UA),
    Reader("xpdf", "pdf", _NEVER, "only with a configured URL command", _NEVER, None, OBSERVED, None),
    Reader("MuPDF viewer", "pdf", _NEVER, "fires (opens the desktop's browser)", _NEVER, None,
           _measured_viewer("MuPDF 1.21.1"),
           FIREFOX_UA),
    Reader("pdftoppm / mutool draw (converters)", "pdf", _NEVER, "-", _NEVER, "0.1 s to render",
           "measured (bench/beacons.py, poppler 22.12, MuPDF 1.21.1)", None),
    Reader("LibreOffice Draw 7.4 (PDF import)", "pdf", _NEVER + " (runs no action)", "fires (Ctrl+click)", _NEVER,
           "4.4-5.1 s to convert", MEASURED, LIBREOFFICE_UA),
    Reader("Phone camera (QR code on a printed ordonnance)", "pdf", "-", "fires when scanned and opened", _NEVER,
           None, DOCUMENTED, BROWSER_UA),
    Reader("Mail gateway or online viewer sandbox (Mimecast, headless Chrome)", "any",
           "fires: pictures and open actions the sandbox executes", "may follow links itself", "fires", None,
           "observed (sandbox user agents on document pictures)", SANDBOX_UA),
)


def grade(db: sqlite_utils.Database, user_agent: str | None) -> str:
    """How a hit with this user agent on a document picture is graded under the current settings."""
    from canary.watch.tripwire.noise import NoisePolicy, explain, noise_reason

    if user_agent is None:
        return "-"
    noise = noise_reason(db, NoisePolicy.from_settings(db), channel="http", canary_id="", source_ip=None,
                         user_agent=user_agent, hint=None, path_kind=DOCUMENT_PICTURE,
                         time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    return "high" if noise is None else f"low ({noise}: {explain(noise)})"


def reader_matrix(db: sqlite_utils.Database, fmt: str | None = None,
                  urls: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Per document format: its beacons (with this canary's URLs when given) and what each reader does."""
    out = []
    for kind in ("docx", "xlsx", "pdf"):
        if fmt and fmt != kind:
            continue
        mechanisms = []
        for m in MECHANISMS:
            if m.fmt != kind or (urls is not None and m.name not in urls):
                continue
            entry: dict[str, Any] = {"mechanism": m.name, "trigger": m.trigger, "channel": m.channel,
                                     "what": m.what}
            if urls is not None:
                entry["url"] = urls[m.name]
            mechanisms.append(entry)
        chosen = [r for r in READERS if r.fmt in (kind, "any")]
        readers = [{"reader": r.name, "on_open": r.on_open, "on_click": r.on_click, "prefetch": r.prefetch,
                    "latency": r.latency, "evidence": r.evidence, "class": grade(db, r.user_agent)}
                   for r in chosen]
        out.append({"format": kind, "mechanisms": mechanisms, "readers": readers,
                    "fires_on_open": [r.name for r in chosen if r.on_open.startswith("fires")],
                    "dns_only_on_open": [r.name for r in chosen if r.on_open.startswith("DNS only")]})
    return out


def render_matrix(matrix: list[dict[str, Any]]) -> str:
    lines = []
    for block in matrix:
        fires = ", ".join(block["fires_on_open"]) or "none / aucun"
        lines.append(f"{block['format'].upper()} fires on opening in / se déclenche à l'ouverture dans : {fires}")
        if block["dns_only_on_open"]:
            lines.append(f"  DNS only on opening / DNS seul : {', '.join(block['dns_only_on_open'])}")
        lines.append(f"{block['format'].upper()}: beacons / balises")
        for m in block["mechanisms"]:
            lines.append(f"  {m['mechanism']:<22} {m['trigger']:<6} {m['channel']:<9} {m['what']}"
                         + (f"  {m['url']}" if m.get("url") else ""))
        lines.append(f"{block['format'].upper()}: readers / lecteurs")
        for r in block["readers"]:
            lines.append(f"  {r['reader']} [{r['evidence']}" + (f", {r['latency']}" if r["latency"] else "") + "]")
            lines.append(f"    on open: {r['on_open']}")
            lines.append(f"    on click: {r['on_click']}; pre-fetch: {r['prefetch']}")
            lines.append(f"    class: {r['class']}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
