"""Typed shapes of what the registry keeps: the canary record (docs/architecture.md, "The canary record")
and an event row as code reads it. Plain dicts at run time (JSON in, JSON out); the types say which keys
a reader may count on and which may be missing."""

# No postponed annotations: at run time NotRequired must be seen, for __optional_keys__ (Python 3.11).
from typing import Any, NotRequired, TypedDict


class BirthPlace(TypedDict):
    code: str  # INSEE code of the commune, or 99xxx for a country
    name: str


class Address(TypedDict):
    line: str
    postcode: str
    city: str
    commune_code: str


class Complementary(TypedDict):
    """The complementary insurer (AMC, mutuelle); no member number under the CSS, managed by the CPAM."""

    name: str
    member_number: str | None


class Coverage(TypedDict):
    regime: str
    caisse: str
    caisse_code: str | None  # none outside the general regime
    amc: Complementary | None


class Physician(TypedDict):
    """The treating physician (médecin traitant): a real RPPS entry where the registers cover the town."""

    rpps: str
    family_name: str
    first_name: str
    city: str
    specialty: str


class Condition(TypedDict):
    code: str  # CIM-10
    label: str
    onset: str | None  # YYYY-MM-DD


class Prescription(TypedDict):
    drug: str
    cip13: str | None
    atc: str | None
    dosage: str
    start: str
    end: str | None


class Allergy(TypedDict):
    substance: str
    reaction: str | None


class Tokens(TypedDict):
    url: str | None  # callback URL, when tripwire.base_url is set
    hostname: str | None  # DNS name, when tripwire.dns_zone is set


class ContactPoint(TypedDict):
    """A contact point the registry keeps aside (table ``contact_points``), never on the record."""

    kind: str  # phone / email
    value: str | None  # none when ``unfilled``
    provider: str | None
    state: str  # pending / confirmed / unfilled


class PatientRecord(TypedDict):
    """One fake patient as the generator makes it, before the registry gives it an id and tokens."""

    sex: str  # "F" / "M"
    birth_name: str
    used_name: str | None
    first_names: list[str]
    birth_date: str  # YYYY-MM-DD
    birth_place: BirthPlace
    nir: str  # 15 characters
    identity_status: str  # VALI / QUAL / PROV / RECUP
    address: Address
    phones: list[str]  # E.164
    email: str | None
    ipp: str
    coverage: Coverage
    gp: Physician | None
    conditions: list[Condition]
    prescriptions: list[Prescription]
    allergies: list[Allergy]
    # Only during a seeding run: what the registry keeps aside; seeding takes it off the record.
    contact_points: NotRequired[list[ContactPoint]]


class CanaryRecord(PatientRecord):
    """A canary as the registry keeps it (``canaries.record``) and every domain reads it."""

    id: str
    system: str
    generation: int
    created_at: str
    tokens: Tokens
    status: NotRequired[str]  # active / retired: added when read from the registry
    token: NotRequired[str]  # the callback secret: on a canary just seeded only, never in the stored record


class EventRow(TypedDict):
    """A row of the ``events`` table as ``list_events`` and the alerting domain read it (``details`` decoded)."""

    id: int
    time: str
    recorded_at: str
    channel: str
    canary_id: str | None
    system: str | None
    source: str | None
    severity: str  # info / low / medium / high / critical
    account: str | None
    action: str | None
    details: dict[str, Any]  # what the watcher saw: free-form JSON, ``group`` its correlation key
