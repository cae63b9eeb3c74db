"""The kinds of tripwire sighting, one module each, and the one registry the writer looks them up in.

To add a kind: write ``canary/watch/tripwire/kinds/NAME.py`` ending with ``KIND = SightingKind(...)`` (see
``base.SightingKind``; a kind carrying one ``Hit`` stores through ``base.store_hit`` with its own canary
lookup), add it to ``KINDS`` below and a row to the sightings table of docs/tripwire.md; the listener
hands ``SightingStore.sighting(NAME, payload)`` to the writer. ``tests/tripwire/test_sighting_kinds.py``
checks them.
"""

from __future__ import annotations

from canary.watch.tripwire.kinds import dns, http, mail, webhook
from canary.watch.tripwire.kinds.base import SightingKind

KINDS: dict[str, SightingKind] = {kind.name: kind for kind in (http.KIND, webhook.KIND, dns.KIND, mail.KIND)}
