"""Row types and small helpers of the demo-city generator (pure, no I/O)."""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, TypeVar

from callcenter import seed_catalogue as cat
from callcenter import seed_lists as lists
from callcenter import validation

T = TypeVar("T")
REFERENCE_DATE = dt.date(2026, 11, 23)
CST = dt.timezone(dt.timedelta(hours=8), "CST")  # Asia/Shanghai has no DST
URBAN_RADIUS_M, URBAN_MINUTES = 3000, 15
RURAL_RADIUS_M, RURAL_MINUTES = 8000, 20
TOWN_SPREAD_M, COMMUNITY_SPREAD_M, HOME_SPREAD_M = 8000, 2000, 1500
ZONE_ID_AREA = "371002"  # residents of the development zones got IDs from 环翠区
_M_PER_DEG_LAT = 111_320.0


class DistrictInfo(NamedTuple):
    """A row of weihai_regions.csv: the city or a district with its rough centre."""
    level: str
    code: str
    parent_code: str | None
    name: str
    name_en: str
    kind: str
    lat: float
    lon: float


class RegionRow(NamedTuple):
    """A `regions` row."""
    code: str
    parent_code: str | None
    level: str
    name: str
    name_en: str
    kind: str
    service_radius_m: int
    service_minutes: int
    center_lat: float
    center_lon: float
    path: str


class ProviderRow(NamedTuple):
    """A `providers` row."""
    id: int
    name: str
    name_en: str
    licence_no: str
    phone: str
    address: str
    region_code: str
    star_rating: Decimal
    active: bool


class ProviderRegionRow(NamedTuple):
    """A `provider_regions` row."""
    provider_id: int
    region_code: str


class ProviderItemRow(NamedTuple):
    """A `provider_items` row."""
    provider_id: int
    item_code: str


class StaffRow(NamedTuple):
    """A `staff` row."""
    id: int
    provider_id: int
    user_id: int | None
    name: str
    phone: str
    certificates: list[str]
    shift_start: dt.time
    shift_end: dt.time
    home_lat: float
    home_lon: float
    capacity: int
    active: bool


class StaffSkillRow(NamedTuple):
    """A `staff_skills` row."""
    staff_id: int
    skill_code: str


class UserRow(NamedTuple):
    """A login without its password hash (the writer hashes the demo password once)."""
    id: int
    username: str
    display_name: str
    role: str
    region_code: str
    provider_id: int | None
    skills: list[str]
    active: bool


class ElderRow(NamedTuple):
    """An `elders` row (WGS-84 as a device would report it, GCJ-02 for maps)."""
    id: int
    name: str
    id_number: str
    sex: str
    birth_date: dt.date
    phones: list[str]
    address: str
    region_code: str
    lat: float
    lon: float
    lat_gcj02: float
    lon_gcj02: float
    risk_groups: list[str]
    care_level: int
    medical_notes: str
    consent: bool
    consent_at: dt.datetime
    status: str
    preferred_provider_id: int | None


class ContactRow(NamedTuple):
    """An `elder_contacts` row."""
    elder_id: int
    position: int
    name: str
    phone: str
    relation: str


class DeviceRow(NamedTuple):
    """A `devices` row (id assigned by the database)."""
    serial: str
    kind: str
    elder_id: int
    secret: str
    geofence_lat: float | None
    geofence_lon: float | None
    geofence_radius_m: int | None
    battery: int
    status: str


@dataclass(frozen=True)
class City:
    """Every row of the demo city, in insertion order."""
    regions: list[RegionRow]
    skills: list[cat.Skill]
    categories: list[cat.Category]
    items: list[cat.Item]
    providers: list[ProviderRow]
    provider_regions: list[ProviderRegionRow]
    provider_items: list[ProviderItemRow]
    staff: list[StaffRow]
    staff_skills: list[StaffSkillRow]
    users: list[UserRow]
    elders: list[ElderRow]
    contacts: list[ContactRow]
    devices: list[DeviceRow]


# --- small helpers ---------------------------------------------------------------------------

def rng_for(seed: int, part: str) -> random.Random:
    """A random stream for one part of the city (string seeds are hashed with SHA-512)."""
    return random.Random(f"anxin-12349:{seed}:{part}")


def age_on(birth: dt.date, on: dt.date) -> int:
    """Whole years of age on a date."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def cumulative(weights: Sequence[float]) -> list[float]:
    """Cumulative weights for `pick`."""
    return list(itertools.accumulate(weights))


def pick(rng: random.Random, items: Sequence[T], cum: list[float]) -> T:
    """One weighted choice (faster than rng.choices for a single draw)."""
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def offset_point(rng: random.Random, lat: float, lon: float, max_m: float,
                 bearing_deg: float | None = None) -> tuple[float, float]:
    """A point uniformly spread within max_m of (lat, lon), optionally within ±100° of a bearing."""
    dist_m = max_m * math.sqrt(rng.random())
    if bearing_deg is None:
        angle = rng.random() * 2 * math.pi
    else:
        angle = math.radians(bearing_deg + (rng.random() * 200.0 - 100.0))
    dlat = dist_m * math.cos(angle) / _M_PER_DEG_LAT
    dlon = dist_m * math.sin(angle) / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


class PhoneBook:
    """Unique E.164 phone numbers: mobiles (1[3-9]…) and Weihai landlines (0631 + 7 digits)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        prefixes = _checked_prefixes()
        self._prefixes = [p for p, _ in prefixes]
        self._cum = cumulative([w for _, w in prefixes])

    def mobile(self) -> str:
        """A new mobile number."""
        while True:
            prefix = pick(self.rng, self._prefixes, self._cum)
            number = f"+86{prefix}{self.rng.randrange(10**8):08d}"
            if number not in self.used:
                self.used.add(number)
                return number

    def landline(self) -> str:
        """A new Weihai landline."""
        while True:
            first = lists.LANDLINE_FIRST_DIGITS[int(self.rng.random() * 3)]
            number = f"+86631{first}{self.rng.randrange(10**6):06d}"
            if number not in self.used:
                self.used.add(number)
                return number


@functools.lru_cache(maxsize=1)
def _checked_prefixes() -> tuple[tuple[str, float], ...]:
    """The mobile prefixes, each checked once with validation.phone (validity is per prefix)."""
    for prefix, _ in lists.MOBILE_PREFIXES:
        sample = f"+86{prefix}12345678"
        if validation.phone(sample) != sample:
            raise ValueError(f"mobile prefix {prefix} does not normalise to itself")
    for first in lists.LANDLINE_FIRST_DIGITS:
        sample = f"+86631{first}123456"
        if validation.phone(f"0631-{first}123456") != sample:
            raise ValueError(f"landline 0631-{first}… does not normalise to {sample}")
    return lists.MOBILE_PREFIXES


_SURNAMES = [s for s, _, _ in lists.SURNAMES]
_SURNAME_CUM = cumulative([w for _, _, w in lists.SURNAMES])
SURNAME_PINYIN = {s: p for s, p, _ in lists.SURNAMES}


def surname(rng: random.Random) -> str:
    """A surname, weighted by how common it is in Weihai."""
    return pick(rng, _SURNAMES, _SURNAME_CUM)


def given_name(rng: random.Random, male: bool, birth_year: int) -> str:
    """A given name in the style of the sex and the birth cohort."""
    r = rng.random()
    if birth_year >= 1967:
        names = lists.CHILD_MALE if male else lists.CHILD_FEMALE
        return names[int(r * len(names))]
    if male:
        old, new, first, second, single = (lists.MALE_FULL_OLD, lists.MALE_FULL_NEW,
                                           lists.MALE_FIRST, lists.MALE_SECOND, lists.MALE_SINGLE)
    else:
        old, new, first, second, single = (lists.FEMALE_FULL_OLD, lists.FEMALE_FULL_NEW,
                                           lists.FEMALE_FIRST, lists.FEMALE_SECOND,
                                           lists.FEMALE_SINGLE)
    share_new = 0.0 if birth_year < 1946 else 0.35
    if r < 0.2:
        return rng.choice(single)
    if r < 0.2 + share_new:
        return rng.choice(new)
    if r < 0.75:
        return rng.choice(old)
    return rng.choice(first) + rng.choice(second)


def person_name(rng: random.Random, male: bool, birth_year: int) -> str:
    """Surname and given name."""
    return surname(rng) + given_name(rng, male, birth_year)


