"""Where a canary goes: a target URL read into a channel, a canonical address and its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from canary.errors import CanaryError

CHANNELS = ("mllp", "fhir", "file")


@dataclass(frozen=True)
class Target:
    channel: str
    # Canonical address, never with credentials: it is stored, printed and keyed on.
    address: str
    host: str | None = None
    port: int | None = None
    path: Path | None = None
    # Non-secret settings of the target (query parameters of the URL and CLI options).
    options: dict[str, Any] = field(default_factory=dict)
    # MLLP inside TLS (mllps://): same channel and messages, another address.
    tls: bool = False


def parse_target(url: str) -> Target:
    """Read ``mllp(s)://host:port``, ``http(s)://host/.../fhir`` or ``file:///path`` into a Target."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise CanaryError(f"invalid target URL {url!r}: {exc}") from exc
    scheme = parts.scheme.lower()
    query = dict(parse_qsl(parts.query))
    if parts.username or parts.password:
        raise CanaryError("target URLs must not carry credentials; use --token-env for FHIR bearer tokens")
    if scheme in ("mllp", "mllps"):
        if not parts.hostname or port is None:
            raise CanaryError(f"invalid MLLP target {url!r}: expected {scheme}://host:port")
        return Target("mllp", f"{scheme}://{_host(parts.hostname)}:{port}", parts.hostname, port, options=query,
                      tls=scheme == "mllps")
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise CanaryError(f"invalid FHIR target {url!r}: expected http(s)://host/base")
        netloc = _host(parts.hostname) + (f":{port}" if port is not None else "")
        base = urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))
        return Target("fhir", base, parts.hostname, port, options=query)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise CanaryError(f"invalid file target {url!r}: expected file:///absolute/path")
        path = Path(unquote(parts.path))
        if not path.is_absolute() or not path.name:
            raise CanaryError(f"invalid file target {url!r}: expected file:///absolute/path/to/file")
        path = path.parent.resolve() / path.name
        return Target("file", path.as_uri(), path=path, options=query)
    raise CanaryError(f"unsupported target {url!r}: use mllp://, mllps:// (MLLP over TLS), http(s):// (FHIR) or file://")


def _host(hostname: str) -> str:
    return f"[{hostname}]" if ":" in hostname else hostname.lower()
