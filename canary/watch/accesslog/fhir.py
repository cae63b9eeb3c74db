"""Reading FHIR AuditEvent resources (R4, with the R5 spellings tolerated) as accesses."""

from __future__ import annotations

from typing import Any

from canary.watch.accesslog.model import AccessEntry, Malformed

# Looked up with the raw JSON value, whatever its type (unknown values pass through).
_ACTION_CODES: dict[object, str] = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "execute"}


def entry_from_auditevent(resource: Any) -> AccessEntry:
    """Who (requesting agent), which patients (entities and ``patient``), what, when, from where."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "AuditEvent":
        raise Malformed("not an AuditEvent resource")
    agents = [a for a in resource.get("agent") or [] if isinstance(a, dict)]
    requestor = next((a for a in agents if a.get("requestor")), agents[0] if agents else {})
    who = requestor.get("who") or {}
    account = ((who.get("identifier") or {}).get("value") or requestor.get("altId") or who.get("display")
               or requestor.get("name") or _tail(who.get("reference")))
    ip = None
    for agent in [requestor, *agents]:
        network = agent.get("network") or {}
        ip = network.get("address") or agent.get("networkString") or network.get("uri")
        if ip:
            break
    patients: list[str] = []
    references = [(e or {}).get("what") or {} for e in resource.get("entity") or [] if isinstance(e, dict)]
    if isinstance(resource.get("patient"), dict):
        references.append(resource["patient"])
    for ref in references:
        if ref.get("reference"):
            patients.append(str(ref["reference"]))
        if (ref.get("identifier") or {}).get("value"):
            patients.append(str(ref["identifier"]["value"]))
    subtypes = [s for s in resource.get("subtype") or [] if isinstance(s, dict)]
    action = (subtypes[0].get("code") or subtypes[0].get("display")) if subtypes else None
    if not action:
        code = resource.get("action")
        action = _ACTION_CODES.get(code, code) or ((resource.get("type") or {}).get("code"))
    time = resource.get("recorded") or (resource.get("period") or {}).get("start") \
        or (resource.get("meta") or {}).get("lastUpdated")
    if not account:
        raise Malformed("AuditEvent without an agent")
    return AccessEntry(str(account), patients, str(action) if action else None,
                       str(time) if time else None, str(ip) if ip else None)


def _tail(reference: str | None) -> str | None:
    return reference.rsplit("/", 1)[-1] if reference else None
