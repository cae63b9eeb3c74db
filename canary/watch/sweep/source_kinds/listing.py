"""Every file under a listing: an http(s) index page ("https://…/drops/": the files it links to under
it, one level) or another fsspec URL (``s3://bucket/prefix``, ``file:///shared/drops``)."""

from __future__ import annotations

import dataclasses
from typing import BinaryIO

from canary.watch.sweep.limits import Limits
from canary.watch.sweep.source_kinds.base import Expansion, SourceKind, as_given, whole_source
from canary.watch.sweep.sources import Unit, is_remote, listed_units, open_remote


def _claims(text: str) -> bool:
    return is_remote(text)  # asked after the url kind: an http(s) URL here ends with "/"


def _units(item: str, expansion: Expansion) -> list[Unit]:
    return [dataclasses.replace(unit, kind=SOURCE.name) for unit in listed_units(item, expansion.skipped)]


def _open(unit: Unit, limits: Limits) -> BinaryIO:
    assert unit.url is not None
    return open_remote(unit.url, limits)


SOURCE = SourceKind(
    name="listing", order=60, summary="an http(s):// index page ending in '/', or an fsspec URL (s3://bucket/prefix, "
    "file:///shared/drops)", claims=_claims, units=_units, open=_open, feed_source=as_given, resolve=whole_source)
