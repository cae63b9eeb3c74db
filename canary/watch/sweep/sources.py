"""Units of work and what the source kinds share to make and read them: a file's units (byte ranges,
archive members), listings and downloads of URLs. Which kind an input is, and its units, is the source
kinds' (``canary.watch.sweep.source_kinds``)."""

from __future__ import annotations

import json
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from canary.watch.sweep.containers import kind_of
from canary.watch.sweep.layout import Layout
from canary.watch.sweep.limits import Limits
from canary.watch.sweep.regions import output_encoding
from canary.watch.sweep.textnorm import decode, sniff_encoding

# A plain file bigger than this is cut into byte ranges scanned in parallel (with --jobs > 1).
SPLIT_MIN = 64 * 1024 * 1024
USER_AGENT = "canary-sweep/0.1"


class Unreachable(Exception):
    """A URL or path that could not be read; the message is the reason."""


@dataclass(frozen=True)
class Unit:
    name: str  # what findings and skips call it
    path: str | None = None
    url: str | None = None
    start: int = 0
    end: int | None = None  # exclusive; None: to the end, and the file may be an archive
    encoding: str | None = None  # fixed for a byte range of a plain file
    size: int = 0
    members: tuple[str, ...] = ()  # members of the zip or tar archive at ``path``, read without the others
    # What a byte range knows of its whole file, as a scan of the file learns it from its start: the CSV
    # header's roles and delimiter, the tables its head creates (so a range after the first grades alike).
    layout: Layout | None = field(default=None, compare=False)
    kind: str = "path"  # the source kind that reads it (source_kinds.SOURCE_KINDS)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


REGISTRY_NOT_SCANNED = "the canary registry or its cache (never scanned)"  # by design: not a missed input


def is_remote(text: str) -> bool:
    """An http(s) URL or another fsspec URL (``s3://bucket/prefix``, ``file:///shared/drops``)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.replace("+", "").isalnum()


def file_units(file: Path, jobs: int, skipped: list[dict], split_min: int, max_expanded: int) -> list[Unit]:
    """One local file as one unit, or (``jobs`` > 1) as byte ranges or groups of archive members."""
    name = str(file)
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(65536)
    except OSError as exc:
        skipped.append({"file": name, "reason": f"unreadable: {exc.strerror or exc}"})
        return []
    if jobs > 1 and kind_of(head) in ("zip", "tar"):
        return archive_member_units(name, kind_of(head), max_expanded, jobs * 4) or \
            [Unit(name=name, path=name, size=size)]
    if jobs <= 1 or size < split_min or kind_of(head) != "text":
        return [Unit(name=name, path=name, size=size)]
    encoding = sniff_encoding(head)
    if encoding.startswith("utf-16") or head[1::2].count(0) > len(head) // 4:
        return [Unit(name=name, path=name, size=size)]
    layout = file_layout(head)
    encoding = output_encoding(head)
    step = max(split_min // 2, size // (jobs * 4))
    starts = list(range(0, size, step))
    if len(starts) > 1 and size - starts[-1] < step // 4:
        starts.pop()  # a few bytes left over join the last range instead of making a unit of their own
    ends = [*starts[1:], size]
    return [Unit(name=name, path=name, start=s, end=e, encoding=encoding, size=e - s, layout=layout)
            for s, e in zip(starts, ends, strict=True)]


def file_layout(head: bytes) -> Layout:
    """The structure a scan of the whole file learns from its head (matcher.StreamMatcher.scan)."""
    from canary.watch.sweep.matcher import first_line

    layout = Layout()
    text_encoding = output_encoding(head)
    layout.learn_header(decode(first_line(head), text_encoding))
    if b"create" in head.lower():
        layout.learn_tables(decode(head, text_encoding))
    return layout


def archive_member_units(path: str, kind: str, max_expanded: int, parts: int) -> list[Unit]:
    """The members of the archive at ``path`` (``kind``: containers.kind_of its head, zip or tar) shared
    out into at most ``parts`` units of
    about the same stored size, in archive order, so that the members of a big archive are read by
    several workers; [] to keep it one unit.

    A zip is listed from its central directory, a plain tar from its headers (seeking over the data).
    At most ``parts`` (four per worker, like byte ranges): each unit lists the archive again, so an
    archive of 100,000 small files must not become 100,000 units. The archive stays one unit (read by
    one worker, as a walk of the whole) when it is a spreadsheet, holds fewer than two files or two
    files of one name, cannot be listed, or declares more than ``max_expanded`` bytes in all: each unit
    has its own expansion budget, and the declared sizes bound what members expand to
    (containers.BoundedReader), so the archive as a whole keeps the bound. A compressed tar (a stream,
    listed only by decompressing it through) and an archive inside another one are read whole by one
    worker.
    """
    members = _listed_members(path, kind)
    names = [name for name, _stored, _declared in members]
    if len(members) < 2 or parts < 2 or len(set(names)) < len(names) or "xl/workbook.xml" in names or \
            sum(declared for _name, _stored, declared in members) > max_expanded:
        return []
    units = []
    for group in _shared_out(members, parts):
        label = f"{path}!{group[0][0]}" if len(group) == 1 else path
        units.append(Unit(name=label, path=path, members=tuple(name for name, _stored, _declared in group),
                          size=sum(stored for _name, stored, _declared in group)))
    return units


def _listed_members(path: str, kind: str) -> list[tuple[str, int, int]]:
    """(name, stored bytes, declared expanded bytes) of each file of the zip or tar at ``path``; [] if unreadable."""
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                return [(i.filename, i.compress_size, i.file_size) for i in archive.infolist() if not i.is_dir()]
        with tarfile.open(path, "r:") as tar:  # plain tar only: "r:" refuses a compressed one
            return [(m.name, m.size, m.size) for m in tar.getmembers() if m.isfile()]
    except (OSError, zipfile.BadZipFile, tarfile.TarError, ValueError, EOFError):
        return []


def _shared_out(members: list[tuple[str, int, int]], parts: int) -> list[list[tuple[str, int, int]]]:
    """``members`` cut, in order, into at most ``parts`` groups of about the same stored size."""
    count = min(parts, len(members))
    weights = [max(stored, 1) for _name, stored, _declared in members]
    total = sum(weights)
    groups: list[list[tuple[str, int, int]]] = [[]]
    done = 0
    for index, (member, weight) in enumerate(zip(members, weights, strict=True)):
        groups[-1].append(member)
        done += weight
        groups_left = count - len(groups)
        if groups_left > 0 and (done * count >= total * len(groups) or len(members) - index - 1 == groups_left):
            groups.append([])
    return [group for group in groups if group]


def listed_units(url: str, skipped: list[dict]) -> list[Unit]:
    """The files of an fsspec URL: an object store prefix, a folder, or an http(s) listing page ("…/");
    what cannot be listed is added to ``skipped``."""
    import fsspec  # here: only remote inputs need it

    try:
        fs, path = fsspec.core.url_to_fs(url)
        if is_url(url):  # an index page: the files it links to, one level (the pages it links to are not walked)
            found = [(entry["name"], entry.get("size") or 0) for entry in fs.ls(path, detail=True)
                     if entry["type"] == "file" and entry["name"].startswith(url)]
        elif fs.isdir(path):
            found = [(name, info.get("size") or 0) for name, info in sorted(fs.find(path, detail=True).items())]
        else:
            found = [(path, fs.info(path).get("size") or 0)]
    except FileNotFoundError:
        skipped.append({"file": url, "reason": "unreachable: not found"})
        return []
    except ImportError as exc:  # s3:// without s3fs, gs:// without gcsfs...
        skipped.append({"file": url, "reason": f"not read: {_one_line(exc)} (s3://: pip install 'canary[s3]')"})
        return []
    except Exception as exc:  # any store error (auth, network, HTTP status) skips this input only
        skipped.append({"file": url, "reason": f"unreachable: {_one_line(exc)}"})
        return []
    if not found:
        skipped.append({"file": url, "reason": "no file at this URL"})
    units = []
    for name, size in sorted(found):
        full = name if is_url(name) else fs.unstrip_protocol(name)
        units.append(Unit(name=full, url=full, size=int(size)))
    return units


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}"[:300] if text else exc.__class__.__name__


def open_remote(url: str, limits: Limits) -> BinaryIO:
    """A readable stream of ``url``: http(s) through :func:`fetch`, other fsspec URLs opened directly."""
    if is_url(url):
        return fetch(url, limits)
    import fsspec

    try:
        return fsspec.open(url, "rb").open()
    except FileNotFoundError as exc:
        raise Unreachable("unreachable: not found") from exc
    except OSError as exc:
        raise Unreachable(f"unreachable: {_one_line(exc)}") from exc


def fetch(url: str, limits: Limits) -> BinaryIO:
    """The body of ``url`` in a spooled temporary file, at most ``sweep.max_download_bytes``."""
    import requests  # here: most scans read local files, and requests costs ~75 ms of every start

    try:
        response = requests.get(url, stream=True, timeout=(min(limits.http_timeout, 10.0), limits.http_timeout),
                                headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        raise Unreachable(f"unreachable: {exc.__class__.__name__}") from exc
    with response:
        if response.status_code != 200:
            raise Unreachable(f"unreachable: HTTP {response.status_code}")
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - returned open
        total = 0
        try:
            for block in response.iter_content(1024 * 1024):
                total += len(block)
                if total > limits.max_download_bytes:
                    spool.close()
                    raise Unreachable(f"larger than {limits.max_download_bytes} bytes (sweep.max_download_bytes)")
                spool.write(block)
        except requests.RequestException as exc:
            spool.close()
            raise Unreachable(f"download interrupted: {exc.__class__.__name__}") from exc
    spool.seek(0)
    # SpooledTemporaryFile is not declared a BinaryIO but reads, seeks and closes like one.
    return spool  # type: ignore[return-value]


def url_list(body: bytes) -> list[str] | None:
    """The URLs of a JSON list of URLs (a feed index), else None."""
    if not body.lstrip().startswith(b"["):
        return None
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and is_url(v) for v in value):
        return value
    return None
