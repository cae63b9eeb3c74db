"""What each role may read of an object: one function per object shape, used by every API and console read.

- viewers learn that a canary exists, where and since when; never a marker value, an external id a target
  gave (for MLLP and file channels it is the canary's IPP), a credential or a path of the server;
- analysts read canaries in full, but credentials (a feed's ``https://svc:pass@...?token=``, a target's)
  are shown to nobody but admins, who typed them.

Fields peers wrote (event sources, alert sources) go through the same text cut as the ones operators wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from canary.web.roles import allows

# A URL anywhere in a text: its credentials (user:password@) and its query (?token=...) are cut.
_URL = re.compile(r"\b([a-z][a-z0-9+.-]{1,15})://([^\s\"'<>]*)", re.IGNORECASE)
# An absolute path of this host (not inside a URL): shown to viewers by its last part only.
_PATH = re.compile(r"(?<![\w:/.])(/(?:[^\s/\"'<>:]+/)+)([^\s/\"'<>]*)")
HIDDEN = "(hidden)"


def _url_without_secrets(match: re.Match[str], role: str) -> str:
    scheme, rest = match.group(1), match.group(2)
    parts = urlsplit(f"{scheme}://{rest}")
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    if ":" in host.strip("[]") and not host.startswith("["):
        host = f"[{host}]"
    path = parts.path
    if scheme.lower() == "file" and not allows(role, "analyst"):
        path = "/\u2026/" + path.rsplit("/", 1)[-1]
    shown = f"{scheme}://{'***@' if '@' in parts.netloc else ''}{host}{path}"
    return shown + ("?\u2026" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def text(value: Any, role: str) -> Any:
    """``value`` with every URL's credentials and query cut (below admin), and for viewers every server
    path reduced to its last part."""
    if not isinstance(value, str) or allows(role, "admin"):
        return value
    cut = _URL.sub(lambda m: _url_without_secrets(m, role), value)
    if not allows(role, "analyst"):
        cut = _PATH.sub(lambda m: "\u2026/" + m.group(2), cut)
    return cut


def _texts(values: Any, role: str) -> Any:
    if isinstance(values, list):
        return [_texts(v, role) for v in values]
    if isinstance(values, dict):
        return {k: _texts(v, role) for k, v in values.items()}
    return text(values, role)


def planting(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A planting (`canary plants --json` keys): viewers lose what the target calls the canary."""
    out = dict(row)
    if not allows(role, "analyst"):
        out.update(external_id=None, resources=[], error=HIDDEN if row.get("error") else None)
    for key in ("target", "error"):
        out[key] = text(out.get(key), role)
    return out


def target(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A row naming a target (a system page's target summary)."""
    return {**row, "target": text(row.get("target"), role)}


def event(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """An event: details (evidence) for analysts only; the source without credentials or server paths."""
    out = dict(row)
    out["details"] = _texts(row.get("details") or {}, role) if allows(role, "analyst") else {}
    out["source"] = text(row.get("source"), role)
    return out


def alert(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """An alert: the sources peers left are cut like an event's; texts built from them too."""
    return dict(_texts(dict(row), role))


def feed(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A leak feed (`canary feed list --json`): its source without credentials below admin."""
    return {**row, "source": text(row.get("source"), role), "last_error": text(row.get("last_error"), role)}


def sweep(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """A sweep run: its sources, skipped files and error cut like a feed's source."""
    out = dict(row)
    out["sources"] = [text(s, role) for s in row.get("sources") or []]
    out["skipped"] = [_texts(s, role) for s in row.get("skipped") or []]
    out["error"] = text(row.get("error"), role)
    return out


def access_source(row: Mapping[str, Any], role: str) -> dict[str, Any]:
    """An access-log source: its address (a DSN may carry a password, a file URL a path)."""
    return {k: text(v, role) for k, v in row.items()}
