"""The Weihai demo city: pure generation (callcenter.seed_data) and the writer (callcenter.seed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter

import asyncpg
import pytest
from stdnum.cn import uscc

from callcenter import geo, seed_catalogue, validation
from callcenter.security import verify_password
from callcenter.seed import DEMO_LOGINS, SeedError, SeedReport, load_districts, seed_city
from callcenter.seed_data import REFERENCE_DATE, City, age_on, district_of, generate_city

ZONES = ("371071", "371072", "371073")
DISTRICTS = ("371002", "371003", "371082", "371083") + ZONES
# sha256 of the elders' ID numbers (in id order, one per line) for 500 elders, seed 12349,
# reference date 2026-11-23. A change here means every demo city changes: update on purpose.
ID_CHECKSUM_500 = "ce0eca17e38b3de7fabfe4a07f73313687ded3b34a9d4bdf2f893e51d66b97fe"


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(load_districts(), elders=2000, seed=12349)


def id_checksum(numbers: list[str]) -> str:
    return hashlib.sha256("\n".join(numbers).encode()).hexdigest()


# --- pure generation ---------------------------------------------------------------------------

def test_same_seed_same_rows_and_other_seed_other_rows(city: City) -> None:
    again = generate_city(load_districts(), elders=2000, seed=12349)
    assert again == city
    other = generate_city(load_districts(), elders=2000, seed=7)
    assert [e.id_number for e in other.elders] != [e.id_number for e in city.elders]
    assert [r.center_lat for r in other.regions] != [r.center_lat for r in city.regions]
    # the number of elders changes only the elders' part
    small = generate_city(load_districts(), elders=10, seed=12349)
    assert (small.regions, small.providers, small.staff, small.users) == (
        city.regions, city.providers, city.staff, city.users)


def test_regions_tree(city: City) -> None:
    by_code = {r.code: r for r in city.regions}
    levels = Counter(r.level for r in city.regions)
    assert levels["city"] == 1 and levels["district"] == 7 and levels["town"] == 71
    assert sorted(r.code for r in city.regions if r.level == "district") == sorted(DISTRICTS)
    assert by_code["371002"].name == "环翠区" and by_code["371082"].name_en == "Rongcheng"
    names = {r.name for r in city.regions if r.level == "town"}
    assert {"环翠楼街道", "蔄山镇", "天福路街道", "人和镇", "育黎镇", "黄岚街道"} <= names
    for r in city.regions:
        assert re.fullmatch(r"[0-9]{6}([0-9]{3}){0,2}", r.code)
        if r.level == "city":
            assert r.path == "371000" and r.parent_code is None
            continue
        parent = by_code[r.parent_code or ""]
        assert r.path == f"{parent.path}.{r.code}"
        assert r.code.startswith(parent.code if r.level != "district" else "37")
        if r.level in ("town", "community"):
            town = r if r.level == "town" else parent
            assert r.kind == ("urban" if town.name.endswith("街道") else "rural")
            assert (r.service_radius_m, r.service_minutes) == (
                (3000, 15) if r.kind == "urban" else (8000, 20))
        if r.level == "community":
            assert r.name.endswith("社区" if r.kind == "urban" else "村")
    per_town = Counter(r.parent_code for r in city.regions if r.level == "community")
    assert set(per_town.values()) <= {3, 4, 5} and len(per_town) == 71
    community_names = [(r.parent_code, r.name) for r in city.regions if r.level == "community"]
    assert len(set(community_names)) == len(community_names)


def test_every_id_number_is_valid_unique_and_matches_birth_and_sex(city: City) -> None:
    numbers = [e.id_number for e in city.elders]
    assert len(set(numbers)) == len(numbers)
    for e in city.elders:
        parsed = validation.id_number(e.id_number, today=REFERENCE_DATE)
        assert parsed.birth_date == e.birth_date
        assert e.sex == ("M" if int(e.id_number[16]) % 2 else "F") == parsed.sex
        district = e.region_code[:6]
        assert e.id_number[:6] == ("371002" if district in ZONES else district)
        assert 60 <= age_on(e.birth_date, REFERENCE_DATE) <= 100


def test_every_phone_is_valid_e164(city: City) -> None:
    phones = [p for e in city.elders for p in e.phones]
    phones += [c.phone for c in city.contacts] + [s.phone for s in city.staff]
    phones += [p.phone for p in city.providers]
    for number in phones:
        assert validation.phone(number) == number
    assert len(set(phones)) == len(phones)
    assert all(1 <= len(e.phones) <= 2 for e in city.elders)
    assert all(re.fullmatch(r"\+861[3-9][0-9]{9}", c.phone) for c in city.contacts)
    landlines = [p for e in city.elders for p in e.phones if p.startswith("+86631")]
    assert all(re.fullmatch(r"\+86631[568][0-9]{6}", p) for p in landlines)
    n = len(city.elders)
    mobile = sum(any(p.startswith("+861") for p in e.phones) for e in city.elders)
    landline = sum(any(p.startswith("+86631") for p in e.phones) for e in city.elders)
    assert 0.80 <= mobile / n <= 0.90 and 0.44 <= landline / n <= 0.56


def test_coordinates_lie_in_their_district(city: City) -> None:
    by_code = {r.code: r for r in city.regions}
    for e in city.elders:
        community = by_code[e.region_code]
        district = by_code[district_of(community)]
        assert geo.distance_m(e.lat, e.lon, community.center_lat, community.center_lon) <= 1600
        assert geo.distance_m(e.lat, e.lon, district.center_lat, district.center_lon) <= 11_600
        glat, glon = geo.wgs84_to_gcj02(e.lat, e.lon)
        assert (e.lat_gcj02, e.lon_gcj02) == (round(glat, 6), round(glon, 6))
    for r in city.regions:
        if r.level in ("town", "community"):
            district = by_code[district_of(r)]
            limit_m = 8_050 if r.level == "town" else 10_100
            assert geo.distance_m(r.center_lat, r.center_lon, district.center_lat,
                                  district.center_lon) <= limit_m
    providers = {p.id: p for p in city.providers}
    for s in city.staff:
        district = by_code[providers[s.provider_id].region_code]
        assert geo.distance_m(s.home_lat, s.home_lon, district.center_lat,
                              district.center_lon) <= 8_050


def test_risk_groups_have_plausible_shares(city: City) -> None:
    rural = {r.code for r in city.regions if r.kind == "rural"}
    n = len(city.elders)
    share = {g: sum(g in e.risk_groups for e in city.elders) / n for g in validation.RISK_GROUPS}
    expected = {"独居": (0.09, 0.15), "空巢": (0.35, 0.45), "留守": (0.05, 0.11),
                "失能": (0.04, 0.09), "重残": (0.01, 0.035), "计生特殊": (0.005, 0.03),
                "高龄": (0.11, 0.21), "低保": (0.035, 0.07), "特困": (0.005, 0.03),
                "优抚": (0.002, 0.02)}
    for group, (low, high) in expected.items():
        assert low <= share[group] <= high, (group, share[group])
    for e in city.elders:
        assert e.risk_groups == sorted(e.risk_groups, key=validation.RISK_GROUPS.index)
        assert not ("独居" in e.risk_groups and "空巢" in e.risk_groups)
        assert not ("低保" in e.risk_groups and "特困" in e.risk_groups)
        if "留守" in e.risk_groups:
            assert e.region_code in rural
        if "失能" in e.risk_groups:
            assert e.care_level >= 3
        assert 0 <= e.care_level <= 5 and e.consent and e.consent_at and e.status == "active"


@pytest.mark.parametrize("reference", [REFERENCE_DATE, dt.date(2031, 2, 28)])
def test_80_plus_exactly_at_the_reference_date(reference: dt.date) -> None:
    city = generate_city(load_districts(), elders=1500, seed=5, reference_date=reference)
    for e in city.elders:
        assert ("高龄" in e.risk_groups) == (age_on(e.birth_date, reference) >= 80)
        assert 60 <= age_on(e.birth_date, reference) <= 100


def test_contacts_and_devices(city: City) -> None:
    per_elder = Counter(c.elder_id for c in city.contacts)
    assert set(per_elder) == {e.id for e in city.elders} and set(per_elder.values()) <= {1, 2, 3}
    positions: dict[int, list[int]] = {}
    for c in city.contacts:
        positions.setdefault(c.elder_id, []).append(c.position)
        assert validation.name(c.name) == c.name and 1 <= len(c.relation) <= 20
    assert all(p == list(range(1, len(p) + 1)) for p in positions.values())
    elders = {e.id: e for e in city.elders}
    for c in city.contacts:  # a man's children carry his surname
        if c.relation in ("儿子", "女儿") and elders[c.elder_id].sex == "M":
            assert c.name[0] == elders[c.elder_id].name[0]
    sos = [d for d in city.devices if d.kind == "sos_phone"]
    bracelets = [d for d in city.devices if d.kind == "bracelet"]
    assert sorted(d.elder_id for d in sos) == sorted(elders)
    assert 0.16 <= len(bracelets) / len(elders) <= 0.24
    for d in city.devices:
        assert re.fullmatch(r"(SOS|BR)-[0-9]{7}", d.serial) and 60 <= d.battery <= 100
        assert re.fullmatch(r"[0-9a-f]{64}", d.secret)
    for b in bracelets:
        home = elders[b.elder_id]
        assert (b.geofence_lat, b.geofence_lon) == (home.lat, home.lon)
        assert b.geofence_radius_m is not None and 500 <= b.geofence_radius_m <= 2000
    assert len({d.serial for d in city.devices}) == len(city.devices)
    assert len({d.secret for d in city.devices}) == len(city.devices)


def test_catalogue_providers_staff_users(city: City) -> None:
    skills = {s.code for s in city.skills}
    assert len(skills) >= 12 and len(city.categories) >= 12
    assert all(re.fullmatch(r"[A-Z]{2}[0-9]{3}", i.code) for i in city.items)
    assert len([i for i in city.items if i.active]) >= 60
    assert {i.category_code for i in city.items} == {c.code for c in city.categories}
    for i in city.items:
        assert i.skill_code in skills and i.unit in ("次", "小时", "份", "天", "月")
        if i.category_code == "emergency":
            assert 15 <= i.target_response_min <= 30
    assert len(city.providers) == 30 and len({p.licence_no for p in city.providers}) == 30
    assert all(uscc.is_valid(p.licence_no) for p in city.providers)
    assert all(3.0 <= p.star_rating <= 5.0 for p in city.providers)
    assert 250 <= len(city.staff) <= 350
    item_skills = {i.code: i.skill_code for i in seed_catalogue.ITEMS}
    offered: dict[int, set[str]] = {}
    for pi in city.provider_items:
        offered.setdefault(pi.provider_id, set()).add(item_skills[pi.item_code])
    staff_skills: dict[int, set[str]] = {}
    for ss in city.staff_skills:
        staff_skills.setdefault(ss.staff_id, set()).add(ss.skill_code)
    for s in city.staff:
        assert staff_skills[s.id] and staff_skills[s.id] <= offered[s.provider_id]
        assert 2 <= s.capacity <= 5 and s.shift_start < s.shift_end
    for p in city.providers:  # every skill a provider sells, someone of theirs has
        mine = set().union(*(staff_skills[s.id] for s in city.staff if s.provider_id == p.id))
        assert mine == offered[p.id]
    for u in city.users:
        assert re.fullmatch(r"[a-z0-9_.-]{3,40}", u.username)
        assert (u.role in ("provider_admin", "provider_staff")) == (u.provider_id is not None)
    usernames = {u.username: u for u in city.users}
    assert len(usernames) == len(city.users)
    names = {r.code: r.name for r in city.regions}
    for username, role, region, _ in DEMO_LOGINS:
        assert usernames[username].role == role and names[usernames[username].region_code] == region
    linked = [s for s in city.staff if s.user_id is not None]
    assert len(linked) == 2 * len(city.providers)


# --- writing into PostgreSQL -------------------------------------------------------------------

TABLES = ("regions", "skills", "service_categories", "service_items", "providers",
          "provider_regions", "provider_items", "users", "staff", "staff_skills", "elders",
          "elder_contacts", "devices")


async def _counts(db: asyncpg.Connection) -> dict[str, int]:
    return {t: await db.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}


async def test_seed_city_writes_what_it_reports(db: asyncpg.Connection) -> None:
    report = await seed_city(db, elders=500, seed=12349, demo_password="pw-for-tests")
    assert isinstance(report, SeedReport) and report.seconds > 0
    assert await _counts(db) == {t: getattr(report, t) for t in TABLES}
    assert report.elders == 500 and report.devices >= 500
    # every elder lives in a town or community below a real district
    assert await db.fetchval("""
        SELECT count(*) FROM elders e JOIN regions r ON r.code = e.region_code
        JOIN regions d ON r.path LIKE d.path || '.%' AND d.level = 'district'
        WHERE r.level IN ('town', 'community')""") == 500
    assert await db.fetchval("SELECT count(DISTINCT category_code) FROM service_items "
                             "WHERE active") >= 12
    assert await db.fetchval("SELECT count(*) FROM service_items WHERE active") >= 60
    assert 25 <= report.providers <= 35 and 250 <= report.staff <= 350
    assert await db.fetchval("""
        SELECT count(*) FROM staff s WHERE home_lat IS NULL
        OR NOT EXISTS (SELECT 1 FROM staff_skills k WHERE k.staff_id = s.id)""") == 0
    assert await db.fetchval("""
        SELECT count(*) FROM elders e WHERE NOT EXISTS (
            SELECT 1 FROM devices d WHERE d.elder_id = e.id AND d.kind = 'sos_phone')""") == 0
    bracelets = await db.fetch("SELECT * FROM devices WHERE kind = 'bracelet'")
    assert 0.12 <= len(bracelets) / 500 <= 0.28
    assert all(b["geofence_radius_m"] and b["geofence_lat"] for b in bracelets)
    assert await db.fetchval("SELECT count(*) FROM elders WHERE cardinality(phones) = 0") == 0
    # one scrypt hash shared by every login, and it checks
    hashes = await db.fetch("SELECT DISTINCT password_hash FROM users")
    assert len(hashes) == 1 and verify_password("pw-for-tests", hashes[0]["password_hash"])
    row = await db.fetchrow("SELECT u.role, s.name FROM users u JOIN staff s ON s.user_id = u.id "
                            "WHERE u.username = 'ps.001.01'")
    assert row["role"] == "provider_staff" and row["name"]
    # sequences moved past the seeded ids
    new_id = await db.fetchval(
        "INSERT INTO elders (name, id_number, sex, birth_date, region_code) "
        "VALUES ('测试', '11010519491231002X', 'F', '1949-12-31', '371002') RETURNING id")
    assert new_id == 501


async def test_second_seed_is_refused_and_writes_nothing(db: asyncpg.Connection) -> None:
    await seed_city(db, elders=50, seed=1)
    before = await _counts(db)
    with pytest.raises(SeedError, match="already holds a city"):
        await seed_city(db, elders=50, seed=2)
    assert await _counts(db) == before


async def test_id_numbers_are_stable_for_a_fixed_seed(db: asyncpg.Connection) -> None:
    await seed_city(db, elders=500, seed=12349)
    numbers = [r["id_number"] for r in await db.fetch("SELECT id_number FROM elders ORDER BY id")]
    assert id_checksum(numbers) == ID_CHECKSUM_500
