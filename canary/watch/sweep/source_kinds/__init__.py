"""The sweep source kinds, one module each, and the one registry inputs and feeds are looked up in.

To add a source kind: write ``canary/watch/sweep/source_kinds/NAME.py`` ending with
``SOURCE = SourceKind(...)`` (see ``base.SourceKind`` for what each field does). The registry finds it
by itself: every module of this package but ``base`` is a kind (docs/extending.md, "Sweep sources").
"""

from __future__ import annotations

import importlib
import pkgutil

from canary.watch.sweep.source_kinds.base import Expansion, SourceKind
from canary.watch.sweep.sources import Unit


def _discovered() -> dict[str, SourceKind]:
    kinds = [importlib.import_module(f"{__name__}.{module.name}").SOURCE
             for module in pkgutil.iter_modules(__path__) if module.name != "base"]
    return {kind.name: kind for kind in sorted(kinds, key=lambda kind: kind.order)}


# name -> kind, in the order they are asked which one an input is.
SOURCE_KINDS: dict[str, SourceKind] = _discovered()


def kind_of_input(text: str) -> SourceKind:
    """The kind an input belongs to: the first, in order, that claims it (the path kind takes the rest)."""
    return next(kind for kind in SOURCE_KINDS.values() if kind.claims(text))


def expand(inputs: list[str], expansion: Expansion | None = None) -> tuple[list[Unit], list[dict]]:
    """The units of work of ``inputs`` (paths, folders, globs, URLs, any kind's input), and what cannot
    be read (``{"file", "reason"}``), each input by its kind."""
    expansion = expansion or Expansion()
    units: list[Unit] = []
    for item in inputs:
        units.extend(kind_of_input(item).units(item, expansion))
    return units, expansion.skipped
