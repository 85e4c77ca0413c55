"""Test data for dispatch on top of `factories.world`: the catalogue items it needs, elders with
homes, and provider staff with skills, shifts and logins.

文登区 (371003) is rural (8 km circle, 16 km widened); 龙山街道/昆嵛社区 are urban (3 km).
王秀英 (elder_wendeng) lives in 昆嵛社区 at HOME. `offset(HOME, metres_north)` places people.
"""

from __future__ import annotations

import math
from typing import Any

import asyncpg

from tests import factories

HOME = (37.1900, 122.0500)  # 王秀英's home, WGS-84
SKILLS = [("emergency", "紧急救援", "Emergency response"), ("bathing", "助浴", "Bathing"),
          ("meals", "助餐", "Meals")]
ITEMS = [  # code, category, zh, en, skill, price, duration, subsidy
    ("EM001", "emergency", "紧急上门查看", "Emergency on-site check", "emergency", 0, 60, False),
    ("BA001", "bathing", "上门助浴（可自理）", "Home bathing, self-care elder", "bathing", 8000, 60,
     True),
    ("ME001", "meals", "送餐上门", "Meal delivery", "meals", 1500, 20, True),
]


def offset(point: tuple[float, float], north_m: float = 0.0, east_m: float = 0.0
           ) -> tuple[float, float]:
    lat, lon = point
    return (lat + north_m / 111_320.0,
            lon + east_m / (111_320.0 * math.cos(math.radians(lat))))


async def catalogue(conn: asyncpg.Connection) -> None:
    await conn.executemany("INSERT INTO skills (code, name_zh, name_en) VALUES ($1, $2, $3)"
                           " ON CONFLICT DO NOTHING", SKILLS)
    await conn.executemany(
        "INSERT INTO service_categories (code, name_zh, name_en) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING", SKILLS)
    await conn.executemany(
        "INSERT INTO service_items (code, category_code, name_zh, name_en, unit, price_cents,"
        " duration_min, target_response_min, subsidy_eligible, skill_code) VALUES"
        " ($1, $2, $3, $4, '次', $6, $7, 60, $8, $5) ON CONFLICT DO NOTHING", ITEMS)


async def staff(conn: asyncpg.Connection, provider_id: int, name: str, skills: list[str], *,
                user_id: int | None = None, capacity: int = 3,
                home: tuple[float, float] | None = None) -> int:
    lat, lon = home or (None, None)
    sid = await conn.fetchval(
        "INSERT INTO staff (provider_id, user_id, name, phone, capacity, home_lat, home_lon)"
        " VALUES ($1, $2, $3, '+8613800000000', $4, $5, $6) RETURNING id", provider_id, user_id,
        name, capacity, lat, lon)
    await conn.executemany("INSERT INTO staff_skills (staff_id, skill_code) VALUES ($1, $2)",
                           [(sid, k) for k in skills])
    return int(sid)


async def world(conn: asyncpg.Connection, ids: dict[str, int]) -> dict[str, Any]:
    """The catalogue, 王秀英's home at HOME, a second provider, and staff:
    - ps (login ps.001, provider 1): bathing + emergency
    - ps2 (login ps.002, provider 1): bathing + emergency
    - ps3 (login ps.003, provider 2): emergency only
    """
    await catalogue(conn)
    await conn.execute("UPDATE elders SET lat = $2, lon = $3, lat_gcj02 = $2, lon_gcj02 = $3,"
                       " address = '文登区龙山街道昆嵛路18号' WHERE id = $1", ids["elder_wendeng"],
                       *HOME)
    p2 = await factories.provider(conn, "371003", "LIC-0002")
    u2 = await factories.user(conn, "ps.002", "provider_staff", "371003", ids["provider"])
    u3 = await factories.user(conn, "ps.003", "provider_staff", "371003", p2)
    out: dict[str, Any] = dict(ids)
    out["provider2"] = p2
    out["staff"] = await staff(conn, ids["provider"], "张师傅", ["bathing", "emergency"],
                               user_id=ids["ps"])
    out["staff2"] = await staff(conn, ids["provider"], "李阿姨", ["bathing", "emergency"],
                                user_id=u2)
    out["staff3"] = await staff(conn, p2, "赵大姐", ["emergency"], user_id=u3)
    return out
