"""The kinds of access-log endpoint and the one registry they are looked up in.

Each kind's record ends its service's module (the parsing of its ``--from`` URL sits there, read by the
service too). To add one: write the module with its service, ``claims``, ``check_url``, ``check_request``
and ``ENDPOINT = EndpointKind(...)`` (see ``endpoint_kind.EndpointKind``), add it to ``ENDPOINTS`` below
and a row to the Sources table of docs/accesslog.md. ``tests/accesslog/test_endpoint_kinds.py`` checks them.
"""

from __future__ import annotations

from canary.errors import CanaryError
from canary.watch.accesslog import fhir_poller, sqlpoller, syslog, tailer
from canary.watch.accesslog.endpoint_kind import EndpointKind

ENDPOINTS: dict[str, EndpointKind] = {kind.name: kind for kind in (
    syslog.ENDPOINT, tailer.ENDPOINT, fhir_poller.ENDPOINT, sqlpoller.ENDPOINT)}


def endpoint_for(url: str) -> EndpointKind:
    """The kind a ``--from`` value is read by, its URL checked; one line naming every kind if none claims it."""
    text = url.strip()
    for kind in ENDPOINTS.values():
        if kind.claims(text):
            kind.check_url(url)
            return kind
    usages = [kind.usage for kind in ENDPOINTS.values()]
    raise CanaryError(f"invalid --from {url!r}: use {', '.join(usages[:-1])} or {usages[-1]}")


def endpoint_named(name: str) -> EndpointKind:
    """The kind a stored source was added as."""
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise CanaryError(f"unknown access-log source kind {name!r}; expected one of {', '.join(ENDPOINTS)}") \
            from None
