"""Write the Weihai demo city (SPEC §8) into an empty database, in one transaction.

Generation is pure (callcenter.seed_data); this module reads the packaged region list, hashes the
demo password once, and COPYs every table. It refuses to write into a database that already
holds regions, so a seeded city is never doubled or mixed with real data.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from callcenter.security import hash_password
from callcenter.seed_data import (
    REFERENCE_DATE,
    City,
    DistrictInfo,
    generate_city,
    parse_regions_csv,
)
from callcenter.seed_volunteers import seed_volunteers

log = logging.getLogger("callcenter.seed")

DATA_DIR = Path(__file__).parent / "data"
REGIONS_CSV = DATA_DIR / "weihai_regions.csv"

# (username, role, region name, description) of the logins printed by `callcenter demo`.
DEMO_LOGINS: list[tuple[str, str, str, str]] = [
    ("admin", "admin", "威海市", "系统管理员 (administrator: regions, users, catalogue, devices)"),
    ("supervisor", "supervisor", "威海市", "中心主管 (supervisor: live city picture, SLAs)"),
    ("operator", "operator", "威海市", "市级坐席 (city-desk operator: every alarm and order)"),
    ("op.huancui", "operator", "环翠区", "区县坐席 (district operator)"),
    ("op.wendeng", "operator", "文登区", "区县坐席 (district operator)"),
    ("op.rongcheng", "operator", "荣成市", "区县坐席 (district operator)"),
    ("op.rushan", "operator", "乳山市", "区县坐席 (district operator)"),
    ("op.torch", "operator", "威海火炬高技术产业开发区", "区县坐席 (district operator)"),
    ("op.etdz", "operator", "威海经济技术开发区", "区县坐席 (district operator)"),
    ("op.lingang", "operator", "威海临港经济技术开发区", "区县坐席 (district operator)"),
    ("pa.001", "provider_admin", "环翠区", "服务商管理员 (provider admin: own staff and jobs)"),
    ("ps.001.01", "provider_staff", "环翠区", "服务人员 (provider staff: offers, check-in/out)"),
]

# Columns COPYed per table, in the order of the seed_data row tuples.
COLUMNS: dict[str, tuple[str, ...]] = {
    "regions": ("code", "parent_code", "level", "name", "name_en", "kind", "service_radius_m",
                "service_minutes", "center_lat", "center_lon", "path"),
    "skills": ("code", "name_zh", "name_en"),
    "service_categories": ("code", "name_zh", "name_en", "sort_order"),
    "service_items": ("code", "category_code", "name_zh", "name_en", "unit", "price_cents",
                      "duration_min", "target_response_min", "subsidy_eligible", "skill_code",
                      "active"),
    "providers": ("id", "name", "name_en", "licence_no", "phone", "address", "region_code",
                  "star_rating", "active"),
    "provider_regions": ("provider_id", "region_code"),
    "provider_items": ("provider_id", "item_code"),
    "users": ("id", "username", "display_name", "role", "region_code", "provider_id", "skills",
              "active", "password_hash"),
    "staff": ("id", "provider_id", "user_id", "name", "phone", "certificates", "shift_start",
              "shift_end", "home_lat", "home_lon", "capacity", "active"),
    "staff_skills": ("staff_id", "skill_code"),
    "elders": ("id", "name", "id_number", "sex", "birth_date", "phones", "address", "region_code",
               "lat", "lon", "lat_gcj02", "lon_gcj02", "risk_groups", "care_level",
               "medical_notes", "consent", "consent_at", "status", "preferred_provider_id"),
    "elder_contacts": ("elder_id", "position", "name", "phone", "relation"),
    "devices": ("serial", "kind", "elder_id", "secret", "geofence_lat", "geofence_lon",
                "geofence_radius_m", "battery", "status"),
}
# Tables whose bigserial ids the seed sets itself (then moves the sequence past them).
_ID_TABLES = ("providers", "users", "staff", "elders")


class SeedError(Exception):
    """The city cannot be seeded (the database already holds one)."""


@dataclass(frozen=True)
class SeedReport:
    """Rows written per table and how long it took."""
    regions: int
    skills: int
    service_categories: int
    service_items: int
    providers: int
    provider_regions: int
    provider_items: int
    users: int
    staff: int
    staff_skills: int
    elders: int
    elder_contacts: int
    devices: int
    seconds: float
    generate_seconds: float
    write_seconds: float


def load_districts(path: Path = REGIONS_CSV) -> list[DistrictInfo]:
    """The city and its districts from the packaged CSV."""
    return parse_regions_csv(path.read_text("utf-8"))


async def _refuse_if_seeded(conn: asyncpg.Connection) -> None:
    """Raise SeedError when regions exist."""
    count = await conn.fetchval("SELECT count(*) FROM regions")
    if count:
        raise SeedError(f"database already holds a city; found {count} regions — seed only into "
                        "an empty, migrated database")


def _shift(rows: Iterable[tuple[Any, ...]], positions: Sequence[int],
           bases: Sequence[int]) -> list[tuple[Any, ...]]:
    """Rows with local ids at `positions` moved up by `bases` (None stays None)."""
    out = []
    for row in rows:
        values = list(row)
        for pos, base in zip(positions, bases, strict=False):
            if values[pos] is not None:
                values[pos] += base
        out.append(tuple(values))
    return out


def _rebase(city: City, base: dict[str, int], password_hash: str) -> dict[str, list[Any]]:
    """Rows per table, with ids shifted past existing rows and the password hash added."""
    p, u, s, e = base["providers"], base["users"], base["staff"], base["elders"]
    users = [(*row, password_hash) for row in city.users]
    if not any((p, u, s, e)):  # a fresh database: local ids are the real ids
        return {"regions": city.regions, "skills": city.skills,
                "service_categories": city.categories, "service_items": city.items,
                "providers": city.providers, "provider_regions": city.provider_regions,
                "provider_items": city.provider_items, "users": users, "staff": city.staff,
                "staff_skills": city.staff_skills, "elders": city.elders,
                "elder_contacts": city.contacts, "devices": city.devices}
    return {"regions": city.regions, "skills": city.skills, "service_categories": city.categories,
            "service_items": city.items,
            "providers": _shift(city.providers, [0], [p]),
            "provider_regions": _shift(city.provider_regions, [0], [p]),
            "provider_items": _shift(city.provider_items, [0], [p]),
            "users": _shift(users, [0, 5], [u, p]),
            "staff": _shift(city.staff, [0, 1, 2], [s, p, u]),
            "staff_skills": _shift(city.staff_skills, [0], [s]),
            "elders": _shift(city.elders, [0, 18], [e, p]),
            "elder_contacts": _shift(city.contacts, [0], [e]),
            "devices": _shift(city.devices, [2], [e])}


# Risk groups that carry a subsidised-hours programme (sql/006_subsidy.sql seeds the programmes).
SUBSIDY_GROUPS = (("低保", "dibao"), ("特困", "tekun"), ("优抚", "youfu"), ("计生特殊", "jisheng"),
                  ("失能", "shineng"))


async def _subsidy_eligibility(conn: asyncpg.Connection, after_elder_id: int,
                               reference_date: dt.date) -> None:
    """Each new elder in a subsidised risk group is eligible for its programme since January of
    the year before the reference date, approved by the elder's district."""
    groups, codes = zip(*SUBSIDY_GROUPS, strict=True)
    await conn.execute(
        "INSERT INTO subsidy_eligibility (elder_id, programme_code, starts_on,"
        " approved_region_code)"
        " SELECT e.id, m.code, $3, coalesce(nullif(split_part(r.path, '.', 2), ''), r.code)"
        " FROM elders e JOIN regions r ON r.code = e.region_code"
        " JOIN unnest($1::text[], $2::text[]) AS m (grp, code) ON m.grp = ANY (e.risk_groups)"
        " WHERE e.id > $4 ORDER BY e.id, m.code", list(groups), list(codes),
        dt.date(reference_date.year - 1, 1, 1), after_elder_id)


async def seed_city(conn: asyncpg.Connection, *, elders: int = 2000, seed: int = 12349,
                    demo_password: str = "anxin12349",
                    reference_date: dt.date = REFERENCE_DATE) -> SeedReport:
    """Generate and write the demo city in one transaction; SeedError if one is already there."""
    if elders < 0:
        raise ValueError("elders must be ≥ 0")
    started = time.perf_counter()
    await _refuse_if_seeded(conn)
    districts = load_districts()
    # CPU-bound work off the event loop: generation (seconds for 200k elders) and one scrypt.
    city = await asyncio.to_thread(generate_city, districts, elders=elders, seed=seed,
                                   reference_date=reference_date)
    password_hash = await asyncio.to_thread(hash_password, demo_password)
    generated = time.perf_counter()
    log.info("generated city elders=%d seed=%d ms=%.0f", elders, seed,
             (generated - started) * 1000)
    counts: dict[str, int] = {}
    async with conn.transaction():
        # Serialise concurrent seeders, then check again inside the transaction.
        await conn.execute("LOCK TABLE regions IN SHARE ROW EXCLUSIVE MODE")
        await _refuse_if_seeded(conn)
        base = {t: await conn.fetchval(f"SELECT coalesce(max(id), 0) FROM {t}")
                for t in _ID_TABLES}
        for table, rows in _rebase(city, base, password_hash).items():
            t0 = time.perf_counter()
            await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
            counts[table] = len(rows)
            log.debug("copied table=%s rows=%d ms=%.0f", table, len(rows),
                      (time.perf_counter() - t0) * 1000)
        await _subsidy_eligibility(conn, base["elders"], reference_date)
        await seed_volunteers(conn, base["elders"], reference_date, seed)
        for table in _ID_TABLES:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))")
        await conn.execute("ANALYZE regions, providers, staff, users, elders, elder_contacts, "
                           "devices")
        # a bulk load leaves the phone index's new entries in its pending list, which every
        # screen-pop lookup would read end to end until autovacuum gets round to it
        await conn.execute("SELECT gin_clean_pending_list('elders_phones_idx')")
    finished = time.perf_counter()
    report = SeedReport(**counts, seconds=round(finished - started, 3),
                        generate_seconds=round(generated - started, 3),
                        write_seconds=round(finished - generated, 3))
    log.info("seeded city elders=%d contacts=%d devices=%d s=%.1f", report.elders,
             report.elder_contacts, report.devices, report.seconds)
    return report
