"""One fake patient: identity, address, contact points, hospital id, then the administrative and
clinical parts, every identifying value unique in the registry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from canary.generate.admin import AdminTables, make_administrative
from canary.generate.catchment import Catchment, Geography
from canary.generate.clinical import ClinicalTables, make_clinical
from canary.generate.contacts import EmailChoice, PhoneBook, PhoneChoice, choose_email, choose_phones
from canary.generate.crowding import ContactBudget
from canary.generate.mail_shapes import MailboxShaper, name_rarity
from canary.generate.names import (
    ORIGIN_NAMING_SHARE,
    naming_department,
    pick_first_names,
    pick_surname,
    used_name_share,
)
from canary.generate.nir import make_nir, order_range
from canary.generate.places import make_address, pick_birth_place, pick_residence
from canary.generate.pools import Pools
from canary.generate.profile import CONTACT_AGES, HostProfile
from canary.generate.profile_births import BirthShares
from canary.generate.profile_ipp_time import IppTimeline, arrival_ages
from canary.generate.profile_names import HostFirstNames, HostSurnames
from canary.generate.reference import Commune, Reference
from canary.normalize import name_birth_key
from canary.store.shapes import ContactPoint, PatientRecord, Physician
from canary.weighted import EvenDraws, WeightedTable, pick_at

if TYPE_CHECKING:
    from canary.generate.registers.lookup import Registers

# Hospital patients by age (ATIH, stays by age band; rounded): newborns and the elderly dominate.
# (youngest, oldest, weight, share of women)
_AGE_BANDS = (
    (0, 0, 4.0, 0.49), (1, 4, 3.0, 0.45), (5, 14, 4.0, 0.46), (15, 24, 6.0, 0.58), (25, 34, 10.0, 0.70),
    (35, 44, 9.0, 0.60), (45, 54, 11.0, 0.50), (55, 64, 14.0, 0.46), (65, 74, 17.0, 0.47),
    (75, 84, 14.0, 0.55), (85, 94, 7.0, 0.66), (95, 102, 1.0, 0.78),
)
_AGES = WeightedTable(_AGE_BANDS, [band[2] for band in _AGE_BANDS])
# INS identity status at admission (hospital identity-vigilance reports, 2023-2024; rounded).
IDENTITY_STATUSES = WeightedTable(("QUAL", "VALI", "RECUP", "PROV"), (55, 17, 16, 12))
IPP_DIGITS = 9  # one fixed width, like a real hospital's identifier
NEWBORN_DAYS = 7  # born after the last profiled slice: one of the numbers the host hands out over a week


__all__ = ["PatientGenerator", "Pools", "BoundedGenerator"]


@dataclass(frozen=True, eq=False)
class PatientGenerator:
    """Builds records from immutable tables; all randomness comes from the ``rng`` passed in.

    ``catchment``: the establishment's patients' residences (None: the national mix).
    ``profile``: the host's aggregates (age/sex, places, contact points, status, IPP) to follow.
    """

    reference: Reference
    pools: Pools
    # Public registers loaded by the operator (BAN points, RPPS physicians); None: synthetic values.
    registers: Registers | None = None
    catchment: Catchment | None = None
    profile: HostProfile | None = None
    geography: Geography | None = None
    # New patients arriving over the next N days (with a learnt IPP timeline): ages of the host's new
    # patients at arrival, IPPs the host hands out at each arrival, for planting at that time.
    arriving_over: float | None = None
    phone_book: PhoneBook = field(init=False)
    # Where the patients the profile's published places leave out live: the catchment (or the
    # national mix) without those places, which already hold their share.
    elsewhere: WeightedTable[Commune] | None = field(init=False, default=None)
    # A batch follows the host's shares closely (see EvenDraws); used only with a catchment or profile.
    even: EvenDraws = field(init=False, default_factory=EvenDraws)
    admin_tables: AdminTables = field(init=False)
    clinical_tables: ClinicalTables = field(init=False)
    # The host's frequent surnames (profile), drawn at the host's own rate.
    host_surnames: HostSurnames | None = field(init=False, default=None)
    host_first_names: HostFirstNames | None = field(init=False, default=None)  # by sex and decade
    # What the profile learnt of birth places and of IPPs against time (None: the national model).
    births: BirthShares | None = field(init=False, default=None)
    timeline: IppTimeline | None = field(init=False, default=None)
    arrival_bands: WeightedTable[tuple[int, int]] | None = field(init=False, default=None)
    # Mailbox names at consumer providers: the host's shapes by age, free ones only (mail_shapes.py).
    mailbox_shaper: MailboxShaper | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        # Everything is read once here, from the same seeds folder as the identity tables.
        object.__setattr__(self, "phone_book", PhoneBook.from_pool(tuple(self.pools.phones)))
        object.__setattr__(self, "admin_tables", AdminTables.load(self.reference.seeds_dir))
        object.__setattr__(self, "clinical_tables", ClinicalTables.load(self.reference.seeds_dir))
        if self.profile:
            object.__setattr__(self, "host_surnames", HostSurnames.from_profile(self.profile.data))
            object.__setattr__(self, "host_first_names", HostFirstNames.from_profile(self.profile.data))
        if self.geography is None:
            object.__setattr__(self, "geography", Geography.load(self.reference.communes, self.reference.seeds_dir))
        if self.profile:
            object.__setattr__(self, "births", BirthShares.from_data(self.profile.data))
            object.__setattr__(self, "timeline", IppTimeline.from_data(self.profile.data))
            if self.arriving_over and self.timeline is not None:
                object.__setattr__(self, "arrival_bands", arrival_ages(self.profile.data))
        if self.pools.mailbox_providers:
            rarity = name_rarity(self.reference.names.bearers, self.reference.first_names)
            object.__setattr__(self, "mailbox_shaper", MailboxShaper(
                rarity, self.profile.data.get("email_shapes") if self.profile else None))
        if self.profile and self.profile.published:
            residences = self.catchment.without(self.profile.published) if self.catchment else None
            if residences is None:
                national = self.reference.residences.items
                kept = [c for c in national if c.code not in self.profile.published]
                residences = WeightedTable(kept, [c.population for c in kept]) if kept else None
            object.__setattr__(self, "elsewhere", residences)

    def bounded(self, budget: ContactBudget) -> BoundedGenerator:
        """This generator for one seeding run of one system, under that system's crowding bounds."""
        return BoundedGenerator(self, budget)

    def generate(self, rng: random.Random, *, today: date, taken: Callable[[str, str], bool],
                 budget: ContactBudget | None = None) -> PatientRecord:
        """One record. With ``budget`` (a seeding run), phones and owned domains stay under the
        system's bounds and the record's ``contact_points`` lists what the registry must keep aside:
        consumer mailboxes to open (``pending``) and contact points the pools could not give
        (``unfilled``). Without it, a consumer mailbox is still only proposed, never carried."""
        ref = self.reference
        profile = self.profile
        band = None
        arrival = None
        if profile and profile.sexes:
            sex = pick_at(profile.sexes, self.even.next("sex", rng))
            band = pick_at(profile.ages_by_sex[sex], self.even.next(f"age:{sex}", rng))
        if self.arrival_bands is not None and self.arriving_over:
            arrival = datetime.combine(today, time()) + timedelta(days=self.even.next("arrival", rng)
                                                                   * self.arriving_over)
            low, high = pick_at(self.arrival_bands, self.even.next("arrival-age", rng))
            band = (band[0] if band else rng.choice("FM"), low, high)
        birth_date, sex = _birth_date_and_sex(rng, arrival.date() if arrival else today, band)
        birth_date = min(birth_date, today)  # a newborn arriving later is born by the seed day at the latest
        age = _age(birth_date, today)
        home = self._residence(rng)
        # Children born abroad get their NIR months or years after arriving: none among infants.
        nearby = self.geography.nearby.get(home.department) if self.geography else None
        birth_place = pick_birth_place(ref, rng, birth_date, home, abroad_possible=age >= 3, nearby=nearby,
                                       **self._birth_category(rng, age, home))
        first_names, birth_name, used_name = self._names(rng, sex, birth_date, age, birth_place.name_origin, taken,
                                                         naming_department(ref, rng, home.department, birth_place.code))
        nir = self._nir(rng, sex, birth_date, birth_place.code, birth_place.monthly_births, taken)
        zone = ref.phone_zones[home.department]
        # Drawn in this order (the random stream of a seeded run depends on it), assembled at the end.
        identity_status = (pick_at(profile.statuses, self.even.next("status", rng)) if profile and profile.statuses
                           else IDENTITY_STATUSES.pick(rng))
        address = make_address(ref, rng, home, self.registers)
        phones = self._phones(rng, age, zone, taken, budget)
        email = self._email(rng, first_names[0], used_name or birth_name, birth_date.year, age, home.department,
                            taken, budget)
        ipp = _ipp(rng, taken, profile, self.timeline, birth_date, today, arrival)
        administrative = make_administrative(rng, self.admin_tables, sex=sex, birth_date=birth_date,
                                             commune_code=home.code, today=today, physicians=self.registers)
        gp: Physician | None = administrative["gp"]
        if profile and profile.gp_share is not None and self.even.next("gp", rng) >= profile.gp_share:
            gp = None  # as many records without a treating physician as the host has
        clinical = make_clinical(rng, sex=sex, birth_date=birth_date, today=today, tables=self.clinical_tables)
        record: PatientRecord = {
            "sex": sex,
            "birth_name": birth_name,
            "used_name": used_name,
            "first_names": first_names,
            "birth_date": birth_date.isoformat(),
            "birth_place": {"code": birth_place.code, "name": birth_place.name},
            "nir": nir,
            "identity_status": identity_status,
            "address": address,
            "phones": phones.numbers,
            # A consumer mailbox stays off the record until the operator has opened it: a real person
            # may own that address.
            "email": None if email.at_provider else email.address,
            "ipp": ipp,
            "coverage": administrative["coverage"],
            "gp": gp,
            "conditions": clinical["conditions"],
            "prescriptions": clinical["prescriptions"],
            "allergies": clinical["allergies"],
        }
        points: list[ContactPoint] = []
        if email.at_provider and email.address:
            points.append({"kind": "email", "value": email.address, "provider": email.address.split("@")[1],
                           "state": "pending"})
        if budget is not None:
            if phones.unfilled and self.phone_book.by_category:
                points.append({"kind": "phone", "value": None, "provider": None, "state": "unfilled"})
                budget.unfilled["phone"] += 1
            if email.unfilled:
                points.append({"kind": "email", "value": None, "provider": None, "state": "unfilled"})
                budget.unfilled["email"] += 1
        if points:
            record["contact_points"] = points
        return record

    def _birth_category(self, rng: random.Random, age: int, home: Commune) -> dict[str, str]:
        """The host's birth-place category for this age and residence, drawn evenly over the batch."""
        if self.births is None:
            return {}
        found = self.births.table(_contact_group(age), home.department)
        if found is None:
            return {}
        trait, table = found
        return {"category": pick_at(table, self.even.next(f"birth:{trait}", rng)),
                "site_department": self.births.site_department}

    def _email(self, rng: random.Random, first_name: str, family_name: str, birth_year: int, age: int,
               department: str, taken: Callable[[str, str], bool], budget: ContactBudget | None) -> EmailChoice:
        if age < 15:
            # A child's record carries a parent's address: a parent's first name and birth year.
            birth_year -= rng.randint(24, 40)
            first_name = self.reference.first_names[(rng.choice("FM"), self.reference.decade(birth_year))].pick(rng)
        share = self.profile.contact_share("email", age) if self.profile else None
        if share is not None:  # decided here, evenly over the batch: then always or never
            share = 1.0 if self.even.next("email", rng) < share else 0.0
        return choose_email(rng, self.pools.mail_domains, first_name=first_name, family_name=family_name,
                            birth_year=birth_year, department=department, age=age, taken=taken,
                            providers=self.pools.mailbox_providers, budget=budget, email_share=share,
                            provider_mix=self.profile.data.get("email_providers") if self.profile else None,
                            shaper=self.mailbox_shaper)

    def _residence(self, rng: random.Random) -> Commune:
        profile = self.profile
        if not (profile or self.catchment):
            return pick_residence(self.reference, rng)
        u = self.even.next("home", rng)
        if profile and profile.places:
            if u < profile.place_share:
                return pick_at(profile.places, u / profile.place_share)
            u = (u - profile.place_share) / (1 - profile.place_share)
        if self.elsewhere is not None:
            return pick_at(self.elsewhere, u)
        return self.catchment.pick_at(u) if self.catchment else pick_at(self.reference.residences, u)

    def _phones(self, rng: random.Random, age: int, zone: str, taken: Callable[[str, str], bool],
                budget: ContactBudget | None) -> PhoneChoice:
        """National figures by age, or the host's: no phone exactly as often as the host has none."""
        profile = self.profile
        share = profile.contact_share("phone", age) if profile else None
        if profile is None or share is None:
            return choose_phones(self.phone_book, rng, age=age, zone=zone, taken=taken, budget=budget)
        if self.even.next("phone", rng) >= share:
            return PhoneChoice([], wanted=False)
        mobile = min(1.0, (profile.contact_share("mobile", age) or 0.0) / max(share, 1e-9))
        landline = min(1.0, (profile.contact_share("landline", age) or 0.0) / max(share, 1e-9))
        choice = choose_phones(self.phone_book, rng, age=age, zone=zone, taken=taken, budget=budget,
                               mobile_share=mobile, landline_share=landline)
        if not choice.numbers:  # drew neither, or the pool has no landline for this zone: one is enough
            wants_landline = rng.random() < landline / max(mobile + landline, 1e-9)
            for mobile_share in ((0.0, 1.0) if wants_landline else (1.0,)):
                choice = choose_phones(self.phone_book, rng, age=age, zone=zone, taken=taken, budget=budget,
                                       mobile_share=mobile_share, landline_share=1.0 - mobile_share)
                if choice.numbers:
                    break
        return PhoneChoice(choice.numbers, wanted=True)

    def _names(self, rng: random.Random, sex: str, birth_date: date, age: int, origin: str | None,
               taken: Callable[[str, str], bool], department: str) -> tuple[list[str], str, str | None]:
        iso = birth_date.isoformat()
        # Most people born abroad carry their country's names; the others (expatriates' children,
        # mixed families) French ones. Decided once, so first names and surname agree.
        if origin and rng.random() >= ORIGIN_NAMING_SHARE:
            origin = None
        for attempt in range(100):
            origin = origin if attempt < 50 else None  # a crowded origin list: French lists then
            first_names = pick_first_names(self.reference, rng, sex, birth_date.year, origin, department,
                                           self.host_first_names)
            birth_name = pick_surname(self.reference, rng, origin=origin, department=department,
                                      host=self.host_surnames)
            used_name = None
            if rng.random() < used_name_share(sex, age):
                spouse_origin = origin if rng.random() < ORIGIN_NAMING_SHARE else None
                used_name = pick_surname(self.reference, rng, avoid=birth_name, origin=spouse_origin,
                                         department=department, host=self.host_surnames)
            names = (birth_name, used_name) if used_name else (birth_name,)
            if not any(taken("name_birth", name_birth_key(n, first_names[0], iso)) for n in names):
                return first_names, birth_name, used_name
        raise RuntimeError("no free name for this birth date")  # needs millions of canaries

    def _nir(self, rng: random.Random, sex: str, birth_date: date, place: str, births: float,
             taken: Callable[[str, str], bool]) -> str:
        low, high = order_range(births)
        for attempt in range(60):
            # A crowded range widens upward, still below 999.
            order = rng.randint(low, min(999, high + attempt * 5))
            nir = make_nir(sex, birth_date, place, order)
            if not taken("nir", nir) and not taken("nir13", nir[:13]):
                return nir
        raise RuntimeError("no free NIR order number")


@dataclass(frozen=True, eq=False)
class BoundedGenerator:
    """A generator and the crowding budget of one seeding run (the ``Generator`` of ``seed_system``)."""

    generator: PatientGenerator
    budget: ContactBudget

    def generate(self, rng: random.Random, *, today: date, taken: Callable[[str, str], bool]) -> PatientRecord:
        return self.generator.generate(rng, today=today, taken=taken, budget=self.budget)


def _birth_date_and_sex(rng: random.Random, today: date,
                        band: tuple[str, int, int] | None = None) -> tuple[date, str]:
    """``band``: (sex, youngest, oldest) from the host's pyramid, else the national hospital mix."""
    if band:
        sex, youngest, oldest = band
        return _birth_in_band(rng, today, youngest, oldest), sex
    youngest, oldest, _, women = _AGES.pick(rng)
    return _birth_in_band(rng, today, youngest, oldest), "F" if rng.random() < women else "M"


def _birth_in_band(rng: random.Random, today: date, youngest: int, oldest: int) -> date:
    # Uniform over the band: from the day of the (oldest+1)th birthday (excluded) to today.
    latest = today
    earliest = _shift_years(today, oldest + 1) + timedelta(days=1)
    if youngest:
        latest = _shift_years(today, youngest)
    return earliest + timedelta(days=int(rng.random() * ((latest - earliest).days + 1)))


def _shift_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _contact_group(age: int) -> str:
    low, high = next(g for g in CONTACT_AGES if g[0] <= age <= g[1])
    return f"{low}-{high}"


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _ipp(rng: random.Random, taken: Callable[[str, str], bool], profile: HostProfile | None = None,
         timeline: IppTimeline | None = None, born: date | None = None, today: date | None = None,
         arrival: datetime | None = None) -> str:
    """Inside the host's live range and format when its profile has one, else 9 random digits. With
    the host's IPP/time relation, a number handed out after the birth (a newborn's: at the head)."""
    # Numbered at birth as often as the host's patients of this age were (a maternity's newborns).
    at_birth = (timeline is not None and born is not None and today is not None and arrival is None
                and rng.random() < timeline.at_birth_share(_age(born, today)))
    for attempt in range(200):
        if at_birth and timeline is not None and born is not None and attempt < 20:
            ipp = timeline.numbered_at_birth(born, rng, attempt)
            if ipp is not None:
                if not taken("ipp", ipp):
                    return ipp
                continue
        if timeline is not None and born is not None and arrival is not None:  # within the hour, then wider
            ipp = timeline.ipp_for(arrival, born, rng, spread_days=(1 + attempt) / 24)
        elif timeline is not None and born is not None and today is not None:
            # Born after every slice of the range: a new patient of the last days (more of them if taken).
            # An old slice's free numbers first; once those drawn are taken, a new patient's number.
            ipp = (timeline.historical(born, rng) if attempt < 20 else None) or timeline.ipp_for(
                max(today, born), born, rng, spread_days=NEWBORN_DAYS * (1 + attempt // 20))
        else:
            ipp = (profile.ipp(rng) if profile else None) or str(rng.randint(10 ** (IPP_DIGITS - 1),
                                                                              10**IPP_DIGITS - 1))
        if not taken("ipp", ipp):
            return ipp
    raise RuntimeError("no free IPP in the host's range")
