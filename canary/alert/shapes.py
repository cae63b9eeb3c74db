"""Typed shapes of an alert as the operator and the destinations see it (``canary alerts --json`` items,
webhook bodies): the fields of ``alert_view`` and the texts ``render`` writes from them."""

# No postponed annotations: at run time NotRequired must be seen, for __optional_keys__ (Python 3.11).
from typing import NotRequired, TypedDict


class Bilingual(TypedDict):
    fr: str
    en: str


class SystemTally(TypedDict):
    """What an alert saw of one system (``alerts.by_system`` values)."""

    establishment: str | None
    kind: str | None
    canaries: int
    events: int


class SystemSighting(SystemTally):
    """One system of an alert (``by_system`` items of the view): its name and tally."""

    system: str


# When the canaries found can have been taken (alert/window.py); "from" is a keyword, hence the
# functional form. One system's window:
SystemWindow = TypedDict("SystemWindow", {
    "from": str | None,  # planted (or created) the newest canary found
    "to": str | None,  # planted the first canary after it that is absent from the dump
    "basis": str,  # where the dates come from: plantings, canaries.created_at...
    "generation_found": int | None,
    "generation_absent": int | None,
})
# The alert's window: the latest start and the earliest end across its systems.
TheftWindow = TypedDict("TheftWindow", {"from": str | None, "to": str | None, "basis": str,
                                        "systems": dict[str, SystemWindow]})


class AlertRow(TypedDict):
    """A row of the ``alerts`` table as stored: lists and objects are JSON text."""

    id: int
    key: str
    state: str
    severity: str
    channel: str
    systems: str  # JSON list
    canaries: str  # JSON list
    count: int
    first_seen: str
    last_seen: str
    window: str | None  # JSON TheftWindow
    created_at: str
    updated_at: str
    version: int
    paged: str  # JSON: severity, systems and destinations of the last page
    by_system: str  # JSON object: system -> establishment, kind, canaries, events
    establishments: str
    accounts: str
    account_systems: str
    sources: str
    exfiltration: int  # 0 / 1
    acked_by: str | None
    acked_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    note: str | None
    seen_again: int
    channels: str  # JSON list: every channel of the incident, in order of first sighting


class AlertFields(TypedDict):
    """An alert's public fields, from its ``alerts`` row (JSON columns decoded, peer text cleaned)."""

    id: int
    key: str  # correlation key (docs/architecture.md, "Event groups")
    state: str  # open / acknowledged / resolved
    severity: str
    channel: str  # of the first event
    channels: list[str]  # every channel the incident was seen on, in order of first sighting
    systems: list[str]
    canaries: list[str]
    count: int
    first_seen: str
    last_seen: str
    window: TheftWindow | None
    by_system: list[SystemSighting]
    establishments: list[str]
    accounts: list[str]
    account_systems: list[str]
    sources: list[str]
    exfiltration: bool
    seen_again: int  # the same dump swept again, after the alert
    version: int  # raised at each page
    created_at: str
    updated_at: str
    acked_by: str | None
    acked_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    note: str | None


class AlertText(TypedDict):
    """What ``render`` writes for people: one bilingual title line, five lines per language."""

    title: str
    text: Bilingual
    confidence: str
    first_action: Bilingual


class HistoryEntry(TypedDict):
    """One line of an alert's timeline (append-only): a note, an acknowledgement, a resolution, a reopening."""

    at: str
    by: str | None
    action: str  # note / acknowledged / resolved / reopened
    from_state: str | None
    to_state: str | None
    note: str | None


class Alert(AlertFields, AlertText):
    """The alert view: its fields and its texts."""

    test: NotRequired[bool]  # the synthetic alert of ``canary notify test``
    history: NotRequired[list[HistoryEntry]]  # the timeline, in listings for people (not in pages)


class NoticeText(TypedDict):
    title: str
    text: Bilingual


class Added(TypedDict):
    """What new evidence brought to an incident (a follow-up notice)."""

    channels: list[str]
    canaries: list[str]


# The change a notice tells (``from`` is a keyword: the functional form names it). ``added``: only in a
# follow-up (``type`` "update", canary.alert.followup).
Notice = TypedDict("Notice", {"type": str, "from": str, "to": str, "by": str | None, "at": str | None,
                              "note": str | None, "added": NotRequired[Added]})


class NoticePayload(Alert):
    """An acknowledged/resolved notice: the alert as it is now, the notice's title and text, and ``notice``."""

    notice: Notice
