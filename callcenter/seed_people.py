"""Pure generation of the demo city's elders, their emergency contacts and devices. No I/O.

Shares (of all elders): 高龄 exactly the 80+ on the reference date (≈16% with the age curve
below), 独居 12%, 空巢 40%, 留守 8% (drawn among rural elders only), 失能 ≈6% (rising with
age), 重残 2%, 计生特殊 1.5%, 低保 5%, 特困 1.5%, 优抚 1%; mobile 85%, landline 50%; an SOS
phone each and a bracelet for about one in five (more often for the 80+ and the disabled).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter import geo
from callcenter import seed_lists as lists
from callcenter.seed_rows import (
    CST,
    HOME_SPREAD_M,
    ZONE_ID_AREA,
    ContactRow,
    DeviceRow,
    ElderRow,
    PhoneBook,
    ProviderRegionRow,
    RegionRow,
    cumulative,
    given_name,
    pick,
    rng_for,
    surname,
    years_before,
)
from callcenter.validation import make_id_number

MIN_AGE, MAX_AGE, AGE_DECAY_YEARS = 60, 100, 12.0
DISTRICT_OF_ZONE_IDS = ("371071", "371072", "371073")
SHARE_ALONE, SHARE_EMPTY_NEST, SHARE_LEFT_BEHIND = 0.12, 0.40, 0.08
DISABLED_BY_AGE = ((70, 0.03), (80, 0.08), (200, 0.15))  # (below age, probability)
SHARE_SEVERE, SHARE_FAMILY_PLANNING, SHARE_ALLOWANCE, SHARE_POVERTY, SHARE_ENTITLED = (
    0.02, 0.015, 0.05, 0.015, 0.01)
SHARE_MOBILE, SHARE_LANDLINE = 0.85, 0.50
SHARE_PREFERRED_PROVIDER = 0.12
BRACELET_AT_RISK, BRACELET_OTHERS = 0.35, 0.16
URBAN_COMMUNITY_WEIGHT = 1.6
_M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True)
class People:
    """Elders with their contacts and devices."""
    elders: list[ElderRow]
    contacts: list[ContactRow]
    devices: list[DeviceRow]


@dataclass(frozen=True)
class _Home:
    """A community as a place to live: address prefix, centre and what covers it."""
    code: str
    prefix: str
    village: bool
    lat: float
    lon: float
    m_to_lat: float
    m_to_lon: float
    area6: str
    roads: tuple[str, ...]
    providers: tuple[int, ...]


def _homes(rng: random.Random, regions: Sequence[RegionRow],
           provider_regions: Sequence[ProviderRegionRow]) -> tuple[list[_Home], list[float], float]:
    """Communities with cumulative weights (by district share) and the expected rural share."""
    by_code = {r.code: r for r in regions}
    covering: dict[str, list[int]] = {}
    for pr in provider_regions:
        covering.setdefault(pr.region_code, []).append(pr.provider_id)
    communities = [r for r in regions if r.level == "community"]
    raw = [(URBAN_COMMUNITY_WEIGHT if c.kind == "urban" else 1.0) * rng.uniform(0.6, 1.4)
           for c in communities]
    per_district: dict[str, float] = {}
    for c, w in zip(communities, raw, strict=False):
        d = c.path.split(".")[1]
        per_district[d] = per_district.get(d, 0.0) + w
    homes: list[_Home] = []
    weights: list[float] = []
    rural = 0.0
    for c, w in zip(communities, raw, strict=False):
        town = by_code[c.parent_code or ""]
        district = by_code[town.parent_code or ""]
        weight = lists.DISTRICT_WEIGHTS[district.code] * w / per_district[district.code]
        rural += weight if c.kind == "rural" else 0.0
        roads = tuple(rng.sample(lists.ROADS, 3))
        homes.append(_Home(
            c.code, f"{district.name}{town.name}{c.name}", c.kind == "rural", c.center_lat,
            c.center_lon, 1 / _M_PER_DEG_LAT,
            1 / (_M_PER_DEG_LAT * math.cos(math.radians(c.center_lat))),
            ZONE_ID_AREA if district.code in DISTRICT_OF_ZONE_IDS else district.code, roads,
            tuple(sorted(covering.get(district.code, [])))))
        weights.append(weight)
    return homes, cumulative(weights), rural / sum(weights)


def make_elders(regions: Sequence[RegionRow], provider_regions: Sequence[ProviderRegionRow], *,
                count: int, seed: int,
                reference_date: dt.date, phones: PhoneBook) -> People:
    """`count` elders spread over the communities, with 1-3 contacts, an SOS phone, bracelets."""
    rng = rng_for(seed, "elders")
    homes, home_cum, rural_share = _homes(rng, regions, provider_regions)
    left_behind_rural = min(0.5, SHARE_LEFT_BEHIND / rural_share) if rural_share else 0.0
    ages = list(range(MIN_AGE, MAX_AGE + 1))
    age_cum = cumulative([math.exp(-(a - MIN_AGE) / AGE_DECAY_YEARS) for a in ages])
    birth_span = {}  # age -> (first possible birth ordinal, number of possible days)
    for a in ages:
        first = years_before(reference_date, a + 1).toordinal() + 1
        birth_span[a] = (first, years_before(reference_date, a).toordinal() - first + 1)
    used_ids: set[str] = set()
    elders: list[ElderRow] = []
    contacts: list[ContactRow] = []
    sos: list[DeviceRow] = []
    bracelets: list[DeviceRow] = []
    random_ = rng.random
    for eid in range(1, count + 1):
        home = pick(rng, homes, home_cum)
        age = pick(rng, ages, age_cum)
        first, span = birth_span[age]
        birth = dt.date.fromordinal(first + int(random_() * span))
        male = random_() >= 0.5 + 0.004 * (age - MIN_AGE)
        family = surname(rng)
        name = family + given_name(rng, male, birth.year)
        while True:
            number = make_id_number(home.area6, birth, int(random_() * 500) * 2 + male)
            if number not in used_ids:
                used_ids.add(number)
                break
        has_mobile = random_() < SHARE_MOBILE
        has_landline = random_() < ((SHARE_LANDLINE - (1 - SHARE_MOBILE)) / SHARE_MOBILE
                                    if has_mobile else 1.0)
        elder_phones = ([phones.mobile()] if has_mobile else []) + (
            [phones.landline()] if has_landline else [])
        num = 1 + int(random_() * (120 if home.village else 200))
        if home.village:
            house = f"{num}号"
        else:
            house = (f"{home.roads[int(random_() * 3)]}{num}号{1 + int(random_() * 4)}单元"
                     f"{1 + int(random_() * 7)}0{1 + int(random_() * 2)}室")
        dist_m = HOME_SPREAD_M * math.sqrt(random_())
        angle = random_() * 2 * math.pi
        lat = round(home.lat + dist_m * math.cos(angle) * home.m_to_lat, 6)
        lon = round(home.lon + dist_m * math.sin(angle) * home.m_to_lon, 6)
        glat, glon = geo.wgs84_to_gcj02(lat, lon)
        groups, care_level = _risk(rng, age, home.village, left_behind_rural)
        k = pick(rng, (0, 1, 2, 3), _NOTES_CUM)
        notes = "；".join(rng.sample(lists.CONDITIONS, k)) if k else ""
        consent_day = reference_date - dt.timedelta(days=30 + int(random_() * 900))
        consent_at = dt.datetime(consent_day.year, consent_day.month, consent_day.day,
                                 8 + int(random_() * 9), int(random_() * 60), tzinfo=CST)
        preferred = (home.providers[int(random_() * len(home.providers))]
                     if home.providers and random_() < SHARE_PREFERRED_PROVIDER else None)
        elders.append(ElderRow(
            eid, name, number, "M" if male else "F", birth, elder_phones, home.prefix + house,
            home.code, lat, lon, round(glat, 6), round(glon, 6), groups, care_level, notes, True,
            consent_at, "active", preferred))
        for position, (c_name, relation) in enumerate(
                _contacts(rng, family, male, birth.year, groups, home.village), start=1):
            contacts.append(ContactRow(eid, position, c_name, phones.mobile(), relation))
        sos.append(DeviceRow(f"SOS-{eid:07d}", "sos_phone", eid, f"{rng.getrandbits(256):064x}",
                             None, None, None, 60 + int(random_() * 41), "active"))
        at_risk = "高龄" in groups or "失能" in groups
        if random_() < (BRACELET_AT_RISK if at_risk else BRACELET_OTHERS):
            bracelets.append(DeviceRow(
                f"BR-{len(bracelets) + 1:07d}", "bracelet", eid, f"{rng.getrandbits(256):064x}",
                lat, lon, 500 + 100 * int(random_() * 16), 60 + int(random_() * 41), "active"))
    return People(elders, contacts, sos + bracelets)


_NOTES_CUM = cumulative((0.3, 0.4, 0.2, 0.1))


def _risk(rng: random.Random, age: int, rural: bool, left_behind_rural: float
          ) -> tuple[list[str], int]:
    """Risk groups (in the SPEC's order) and a care level 0-5."""
    r = rng.random
    groups: list[str] = []
    living = r()
    if living < SHARE_ALONE:
        groups.append("独居")
    elif living < SHARE_ALONE + SHARE_EMPTY_NEST:
        groups.append("空巢")
    if rural and r() < left_behind_rural:
        groups.append("留守")
    disabled = r() < next(p for below, p in DISABLED_BY_AGE if age < below)
    if disabled:
        groups.append("失能")
    severe = r() < SHARE_SEVERE
    if severe:
        groups.append("重残")
    if r() < SHARE_FAMILY_PLANNING:
        groups.append("计生特殊")
    if age >= 80:
        groups.append("高龄")
    support = r()
    if support < SHARE_ALLOWANCE:
        groups.append("低保")
    elif support < SHARE_ALLOWANCE + SHARE_POVERTY:
        groups.append("特困")
    if r() < SHARE_ENTITLED:
        groups.append("优抚")
    if disabled:
        care = 3 + int(r() * 3)
    elif severe:
        care = 2 + int(r() * 2)
    else:
        x = r()
        care = 0 if x < (0.45 if age >= 80 else 0.7) else (1 if x < 0.93 else 2)
    return groups, care


_CONTACT_COUNT_CUM = cumulative((0.25, 0.45, 0.30))
_CHILDREN_CUM = cumulative((0.3, 0.45, 0.25))


def _contacts(rng: random.Random, family: str, male: bool, birth_year: int, groups: list[str],
              rural: bool) -> list[tuple[str, str]]:
    """1-3 emergency contacts (name, relation): children, a spouse, then relatives or neighbours."""
    wanted = pick(rng, (1, 2, 3), _CONTACT_COUNT_CUM)
    # Children carry the father's surname: the elder's, or the husband's for a woman.
    spouse_family = surname(rng)
    child_family = family if male else spouse_family
    found: list[tuple[str, str]] = []
    if "特困" not in groups:  # 特困 elders have no one obliged to support them
        for _ in range(pick(rng, (1, 2, 3), _CHILDREN_CUM)):
            son = rng.random() < 0.5
            child_year = birth_year + 22 + int(rng.random() * 16)
            found.append((child_family + given_name(rng, son, child_year),
                          "儿子" if son else "女儿"))
    if "独居" not in groups and rng.random() < 0.6:
        spouse = (spouse_family + given_name(rng, not male, birth_year + int(rng.random() * 5)),
                  "配偶")
        found.insert(0 if rng.random() < 0.4 else len(found), spouse)
    others = lists.OTHER_RELATIONS_RURAL if rural else lists.OTHER_RELATIONS_URBAN
    while len(found) < wanted:
        relation = rng.choice(others)
        kin = relation in ("侄子", "侄女")
        found.append(((family if kin else surname(rng))
                      + given_name(rng, relation in ("侄子", "外甥") or rng.random() < 0.5,
                                   birth_year + 25 + int(rng.random() * 15)), relation))
    return found[:wanted]
