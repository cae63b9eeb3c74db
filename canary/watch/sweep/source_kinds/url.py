"""One file at an http(s) URL, fetched whole (at most sweep.max_download_bytes); for a feed, a URL
serving a JSON list of URLs is read as those URLs."""

from __future__ import annotations

from typing import BinaryIO

from canary.watch.sweep.limits import Limits
from canary.watch.sweep.source_kinds.base import Expansion, Resolved, SourceKind, State, as_given
from canary.watch.sweep.sources import Unit, fetch, is_url, url_list

MAX_URL_LIST = 10 * 1024 * 1024  # a body larger than this is a file to scan, not a list


def _claims(text: str) -> bool:
    return is_url(text) and not text.endswith("/")  # "…/" is a listing page (source_kinds/listing.py)


def _units(item: str, _expansion: Expansion) -> list[Unit]:
    return [Unit(name=item, url=item, kind=SOURCE.name)]


def _open(unit: Unit, limits: Limits) -> BinaryIO:
    assert unit.url is not None
    return fetch(unit.url, limits)


def _resolve(source: str, limits: Limits, _state: State) -> Resolved:
    with fetch(source, limits) as body:
        head = body.read(MAX_URL_LIST + 1)
    urls = url_list(head) if len(head) <= MAX_URL_LIST else None
    return Resolved(urls if urls is not None else [source], {})


SOURCE = SourceKind(
    name="url", order=50, summary="an http(s):// URL of one file (for a feed, or of a JSON list of URLs)",
    claims=_claims, units=_units, open=_open, feed_source=as_given, resolve=_resolve)
