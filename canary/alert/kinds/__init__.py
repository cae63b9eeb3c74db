"""The kinds of alert destination, one module each, and the one registry they are looked up in.

To add a kind: write ``canary/alert/kinds/NAME.py`` ending with ``KIND = DestinationKind(...)`` (see
``base.DestinationKind`` for what each field does), add it to ``KINDS`` below and a row to the
destinations table of docs/alert.md. ``tests/alert/test_destination_kinds.py`` checks all three.
"""

from __future__ import annotations

from canary.alert.kinds import apprise, jsonl, syslog, webhook
from canary.alert.kinds.base import DestinationKind

KINDS: dict[str, DestinationKind] = {kind.name: kind for kind in (
    webhook.WEBHOOK, webhook.SIGNED_WEBHOOK, syslog.KIND, jsonl.KIND, apprise.KIND)}
# URL scheme -> kind; a scheme not listed is an apprise URL.
SCHEMES: dict[str, DestinationKind] = {scheme: kind for kind in KINDS.values() for scheme in kind.schemes}
FALLBACK = apprise.KIND


def kind_for_scheme(scheme: str) -> DestinationKind:
    return SCHEMES.get(scheme.lower(), FALLBACK)


def stored_kind(name: str, url: str) -> DestinationKind:
    """The kind a stored destination was added as; a name this version does not know, by its URL's scheme."""
    return KINDS.get(name) or kind_for_scheme(url.split("://", 1)[0])
