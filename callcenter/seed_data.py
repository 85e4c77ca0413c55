"""Pure generation of the Weihai demo city: rows as named tuples, ready for COPY. No I/O.

Everything is drawn from `random.Random` streams derived from the seed (one stream per part, so
the number of elders does not change the providers), never from `hash()`, set order or the
clock: the same (districts, elders, seed, reference date) gives byte-identical rows. Row ids are
local numbers 1..n; the writer shifts them when a table already has rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from callcenter import seed_catalogue as cat
from callcenter import seed_lists as lists
from callcenter.seed_people import make_elders
from callcenter.seed_rows import (
    COMMUNITY_SPREAD_M,
    CST,
    REFERENCE_DATE,
    RURAL_MINUTES,
    RURAL_RADIUS_M,
    SURNAME_PINYIN,
    TOWN_SPREAD_M,
    URBAN_MINUTES,
    URBAN_RADIUS_M,
    ZONE_ID_AREA,
    City,
    ContactRow,
    DeviceRow,
    DistrictInfo,
    ElderRow,
    PhoneBook,
    ProviderItemRow,
    ProviderRegionRow,
    ProviderRow,
    RegionRow,
    StaffRow,
    StaffSkillRow,
    UserRow,
    age_on,
    offset_point,
    person_name,
    rng_for,
    surname,
)

__all__ = ["CST", "REFERENCE_DATE", "City", "ContactRow", "DeviceRow", "DistrictInfo",
           "ElderRow", "ProviderItemRow", "ProviderRegionRow", "ProviderRow", "RegionRow",
           "StaffRow", "StaffSkillRow", "UserRow", "age_on", "district_of", "generate_city",
           "make_organisations", "make_regions", "parse_regions_csv"]


# --- regions -----------------------------------------------------------------------------------

def parse_regions_csv(text: str) -> list[DistrictInfo]:
    """The packaged weihai_regions.csv: the city and its districts with rough centres."""
    rows = csv.DictReader(io.StringIO(text))
    return [DistrictInfo(r["level"], r["code"], r["parent_code"] or None, r["name"], r["name_en"],
                         r["kind"], float(r["approx_lat"]), float(r["approx_lon"])) for r in rows]


def _service(kind: str) -> tuple[int, int]:
    """(radius in metres, minutes) of a service circle."""
    return (URBAN_RADIUS_M, URBAN_MINUTES) if kind == "urban" else (RURAL_RADIUS_M, RURAL_MINUTES)


def _region(code: str, parent: RegionRow | None, level: str, name: str, name_en: str, kind: str,
            lat: float, lon: float) -> RegionRow:
    """One region row; path continues the parent's."""
    radius_m, minutes = _service(kind)
    path = code if parent is None else f"{parent.path}.{code}"
    return RegionRow(code, parent.code if parent else None, level, name, name_en, kind, radius_m,
                     minutes, lat, lon, path)


def _village_name(rng: random.Random, used: set[str]) -> tuple[str, str]:
    """A new village name (zh, en) like 王家庄村 / Wangjiazhuang Village."""
    while True:
        if rng.random() < 0.7:
            sn = surname(rng)
            end, end_en = rng.choice(lists.VILLAGE_ENDINGS)
            zh, en = f"{sn}家{end}村", f"{SURNAME_PINYIN[sn]}jia{end_en}"
        else:
            (pos, pos_en), (land, land_en) = (rng.choice(lists.VILLAGE_POSITIONS),
                                              rng.choice(lists.VILLAGE_LANDFORMS))
            zh, en = f"{pos}{land}村", f"{pos_en}{land_en}"
        if zh not in used:
            used.add(zh)
            return zh, f"{en} Village"


def make_regions(districts: Sequence[DistrictInfo], seed: int) -> list[RegionRow]:
    """City, districts, every town/street of the data README and 3-5 communities per town."""
    rng = rng_for(seed, "regions")
    city_info = next(d for d in districts if d.level == "city")
    city = _region(city_info.code, None, "city", city_info.name, city_info.name_en,
                   city_info.kind, city_info.lat, city_info.lon)
    out = [city]
    urban_pool = list(lists.URBAN_COMMUNITIES)
    rng.shuffle(urban_pool)
    used_names: set[str] = set()
    for d in (d for d in districts if d.level == "district"):
        district = _region(d.code, city, "district", d.name, d.name_en, d.kind, d.lat, d.lon)
        out.append(district)
        bearing = lists.INLAND_BEARING_DEG.get(d.code)
        for t_seq, (t_name, t_pinyin) in enumerate(lists.TOWNS[d.code], start=1):
            urban = t_name.endswith("街道")
            kind = "urban" if urban else "rural"
            t_lat, t_lon = offset_point(rng, d.lat, d.lon, TOWN_SPREAD_M, bearing)
            town = _region(f"{d.code}{t_seq:03d}", district, "town", t_name,
                           f"{t_pinyin} {'Subdistrict' if urban else 'Town'}", kind, t_lat, t_lon)
            out.append(town)
            stem = t_name[:-2] if urban else t_name[:-1]
            for c_seq in range(1, rng.randint(3, 5) + 1):
                if urban:
                    if urban_pool:
                        zh, en = urban_pool.pop()
                        c_name, c_en = f"{zh}社区", f"{en} Community"
                    else:
                        c_name, c_en = f"{stem}第{c_seq}社区", f"{t_pinyin} Community {c_seq}"
                elif c_seq == 1 and not stem.endswith("村") and f"{stem}村" not in used_names:
                    used_names.add(f"{stem}村")
                    c_name, c_en = f"{stem}村", f"{t_pinyin} Village"
                else:
                    c_name, c_en = _village_name(rng, used_names)
                c_lat, c_lon = offset_point(rng, t_lat, t_lon, COMMUNITY_SPREAD_M, bearing)
                out.append(_region(f"{town.code}{c_seq:03d}", town, "community", c_name, c_en,
                                   kind, c_lat, c_lon))
    return out


def district_of(region: RegionRow) -> str:
    """The district code above (or of) a region below the city."""
    return region.path.split(".")[1]


# --- providers, staff, users -------------------------------------------------------------------

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(rng: random.Random, registry: str, area6: str) -> str:
    """A unified social credit code (GB 32100 layout and check character) for a demo provider."""
    body = registry + area6 + "MA" + "".join(rng.choice(_USCC_CHARS) for _ in range(7))
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=False))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


@dataclass(frozen=True)
class Organisations:
    """Providers with their coverage, items, staff and the logins of the city."""
    providers: list[ProviderRow]
    provider_regions: list[ProviderRegionRow]
    provider_items: list[ProviderItemRow]
    staff: list[StaffRow]
    staff_skills: list[StaffSkillRow]
    users: list[UserRow]


def make_organisations(regions: Sequence[RegionRow], seed: int,
                       phones: PhoneBook) -> Organisations:
    """~30 providers (by district), ~300 staff, and the demo users."""
    rng = rng_for(seed, "providers")
    by_code = {r.code: r for r in regions}
    towns = [r for r in regions if r.level == "town"]
    brands = rng.sample(cat.PROVIDER_BRANDS, len(cat.PROVIDER_BRANDS))
    categories = [c.code for c in cat.CATEGORIES]
    skill_order = [s.code for s in cat.SKILLS]
    providers: list[ProviderRow] = []
    p_regions: list[ProviderRegionRow] = []
    p_items: list[ProviderItemRow] = []
    staff: list[StaffRow] = []
    s_skills: list[StaffSkillRow] = []
    provider_skills: dict[int, list[str]] = {}
    for d_code, count in cat.PROVIDERS_PER_DISTRICT.items():
        district = by_code[d_code]
        short, _, place_en = lists.DISTRICT_SHORT[d_code]
        deal = categories[:]
        rng.shuffle(deal)
        cursor = itertools.cycle(deal)
        d_towns = [t for t in towns if t.parent_code == d_code]
        for _ in range(count):
            pid = len(providers) + 1
            (brand, brand_en), (kind, kind_en) = brands[pid - 1], rng.choice(cat.PROVIDER_KINDS)
            town = rng.choice(d_towns)
            address = (f"{district.name}{town.name}{rng.choice(lists.ROADS)}"
                       f"{rng.randint(1, 300)}号")
            registry = "91" if kind.endswith("公司") else "52"
            area6 = ZONE_ID_AREA if d_code.startswith("37107") else d_code
            providers.append(ProviderRow(
                pid, f"{short}{brand}{kind}", f"{place_en} {brand_en} {kind_en}",
                uscc(rng, registry, area6), phones.landline(), address, d_code,
                Decimal(f"{rng.uniform(3.0, 5.0):.1f}"), True))
            covered = [d_code]
            if rng.random() < 0.4:
                covered.append(rng.choice(lists.NEIGHBOURS[d_code]))
            p_regions.extend(ProviderRegionRow(pid, c) for c in sorted(covered))
            wanted = rng.randint(3, 6)
            mine: list[str] = []
            while len(mine) < wanted:
                code = next(cursor)
                if code not in mine:
                    mine.append(code)
            items = [i for i in cat.ITEMS if i.category_code in mine and i.active]
            p_items.extend(ProviderItemRow(pid, i.code) for i in items)
            provider_skills[pid] = sorted({i.skill_code for i in items}, key=skill_order.index)
            bearing = lists.INLAND_BEARING_DEG.get(d_code)
            p_skills = provider_skills[pid]
            for k in range(max(rng.randint(6, 14), len(p_skills))):  # every skill staffed
                sid = len(staff) + 1
                mine_skills = [p_skills[k % len(p_skills)]]
                for extra in rng.sample(p_skills, min(len(p_skills), rng.randint(0, 2))):
                    if extra not in mine_skills:
                        mine_skills.append(extra)
                mine_skills.sort(key=skill_order.index)
                certs: list[str] = []
                for sk in mine_skills:
                    options = cat.CERTIFICATES[sk]
                    if options and rng.random() < 0.85:
                        cert = rng.choice(options)
                        if cert not in certs:
                            certs.append(cert)
                if "meals" in mine_skills or rng.random() < 0.6:
                    certs.append(cat.COMMON_CERTIFICATE)
                start, end = rng.choices(cat.SHIFTS, weights=(3, 5, 2))[0]
                h_lat, h_lon = offset_point(rng, district.center_lat, district.center_lon,
                                            TOWN_SPREAD_M, bearing)
                male = rng.random() < 0.25
                staff.append(StaffRow(
                    sid, pid, None, person_name(rng, male, rng.randint(1966, 1998)),
                    phones.mobile(), certs, dt.time.fromisoformat(start),
                    dt.time.fromisoformat(end), h_lat, h_lon, rng.randint(2, 5), True))
                s_skills.extend(StaffSkillRow(sid, sk) for sk in mine_skills)
    users, staff = _make_users(rng, regions, providers, staff)
    return Organisations(providers, p_regions, p_items, staff, s_skills, users)


def _make_users(rng: random.Random, regions: Sequence[RegionRow], providers: list[ProviderRow],
                staff: list[StaffRow]) -> tuple[list[UserRow], list[StaffRow]]:
    """admin, supervisor, city and district operators, provider admins, two staff per provider."""
    city = regions[0].code
    users: list[UserRow] = []

    def add(username: str, display: str, role: str, region: str, provider: int | None = None,
            skills: list[str] | None = None) -> int:
        users.append(UserRow(len(users) + 1, username, display, role, region, provider,
                             skills or [], True))
        return len(users)

    def someone() -> str:
        return person_name(rng, rng.random() < 0.4, rng.randint(1970, 1998))

    add("admin", "系统管理员", "admin", city)
    add("supervisor", someone(), "supervisor", city)
    add("operator", someone(), "operator", city, skills=["emergency"])
    for r in regions:
        if r.level == "district":
            add(f"op.{lists.DISTRICT_SHORT[r.code][1]}", someone(), "operator", r.code,
                skills=["emergency"])
    for p in providers:
        add(f"pa.{p.id:03d}", someone(), "provider_admin", p.region_code, p.id)
    linked: list[StaffRow] = []
    seen: dict[int, int] = {}
    for s in staff:
        seen[s.provider_id] = seen.get(s.provider_id, 0) + 1
        if seen[s.provider_id] <= 2:
            region = providers[s.provider_id - 1].region_code
            uid = add(f"ps.{s.provider_id:03d}.{seen[s.provider_id]:02d}", s.name,
                      "provider_staff", region, s.provider_id)
            s = s._replace(user_id=uid)
        linked.append(s)
    return users, linked


# --- the whole city ----------------------------------------------------------------------------

def generate_city(districts: Sequence[DistrictInfo], *, elders: int = 2000, seed: int = 12349,
                  reference_date: dt.date = REFERENCE_DATE) -> City:
    """Every row of the demo city."""
    regions = make_regions(districts, seed)
    phones = PhoneBook(rng_for(seed, "phones"))
    orgs = make_organisations(regions, seed, phones)
    people = make_elders(regions, orgs.provider_regions, count=elders, seed=seed,
                         reference_date=reference_date, phones=phones)
    return City(regions, list(cat.SKILLS), list(cat.CATEGORIES), list(cat.ITEMS), orgs.providers,
                orgs.provider_regions, orgs.provider_items, orgs.staff, orgs.staff_skills,
                orgs.users, people.elders, people.contacts, people.devices)
