"""Small, explicit test data: two districts of Weihai, users of every role, elders."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from callcenter.security import hash_password
from callcenter.validation import make_id_number

PASSWORD = "correct horse 12349"
_HASH = hash_password(PASSWORD)

REGIONS = [
    # code, parent, level, name, kind, radius, minutes, lat, lon
    ("371000", None, "city", "威海市", "urban", 3000, 15, 37.51, 122.12),
    ("371003", "371000", "district", "文登区", "rural", 8000, 20, 37.20, 122.06),
    ("371003001", "371003", "town", "龙山街道", "urban", 3000, 15, 37.19, 122.05),
    ("371003001001", "371003001", "community", "昆嵛社区", "urban", 3000, 15, 37.19, 122.05),
    ("371082", "371000", "district", "荣成市", "rural", 8000, 20, 37.16, 122.42),
    ("371082001", "371082", "town", "宁津街道", "urban", 3000, 15, 37.16, 122.41),
]


async def regions(conn: asyncpg.Connection) -> None:
    paths: dict[str, str] = {}
    for code, parent, level, name, kind, radius, minutes, lat, lon in REGIONS:
        paths[code] = f"{paths[parent]}.{code}" if parent else code
        await conn.execute(
            "INSERT INTO regions (code, parent_code, level, name, kind, service_radius_m,"
            " service_minutes, center_lat, center_lon, path) VALUES ($1, $2, $3, $4, $5, $6,"
            " $7, $8, $9, $10)", code, parent, level, name, kind, radius, minutes, lat, lon,
            paths[code])


async def provider(conn: asyncpg.Connection, region: str = "371003", licence: str = "LIC-0001"
                   ) -> int:
    return await conn.fetchval(
        "INSERT INTO providers (name, licence_no, phone, region_code) VALUES"
        " ('文登区康乐居家养老服务中心', $1, '+866318451234', $2) RETURNING id", licence, region)


async def user(conn: asyncpg.Connection, username: str, role: str, region: str,
               provider_id: int | None = None) -> int:
    return await conn.fetchval(
        "INSERT INTO users (username, display_name, password_hash, role, region_code, provider_id)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", username, username, _HASH, role,
        region, provider_id)


def id_number(seq: int, birth: dt.date = dt.date(1945, 5, 6), area: str = "371003") -> str:
    return make_id_number(area, birth, seq)


async def elder(conn: asyncpg.Connection, name: str, region: str, seq: int,
                phones: list[str] | None = None, **extra: Any) -> int:
    number = id_number(seq)
    return await conn.fetchval(
        "INSERT INTO elders (name, id_number, sex, birth_date, phones, region_code, risk_groups)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", name, number,
        "M" if int(number[16]) % 2 else "F", dt.date(1945, 5, 6),
        phones or ["+8613806310001"], region, extra.get("risk_groups", []))


async def world(conn: asyncpg.Connection) -> dict[str, int]:
    """Regions, one provider, a user of every role, an elder in 文登区 and one in 荣成市."""
    await regions(conn)
    pid = await provider(conn)
    ids = {
        "admin": await user(conn, "admin", "admin", "371000"),
        "supervisor": await user(conn, "supervisor", "supervisor", "371000"),
        "op_city": await user(conn, "op.city", "operator", "371000"),
        "op_wendeng": await user(conn, "op.wendeng", "operator", "371003"),
        "op_rongcheng": await user(conn, "op.rongcheng", "operator", "371082"),
        "sup_wendeng": await user(conn, "sup.wendeng", "supervisor", "371003"),
        "pa": await user(conn, "pa.001", "provider_admin", "371003", pid),
        "ps": await user(conn, "ps.001", "provider_staff", "371003", pid),
        "provider": pid,
    }
    ids["elder_wendeng"] = await elder(conn, "王秀英", "371003001001", 101,
                                       ["+8613806310001"], risk_groups=["独居", "高龄"])
    ids["elder_rongcheng"] = await elder(conn, "孙建国", "371082001", 203, ["+8613906310002"])
    return ids


DEVICE_SECRET = "0123456789abcdef0123456789abcdef"


async def device(conn: asyncpg.Connection, serial: str, elder_id: int, kind: str = "sos_phone",
                 fence: tuple[float, float, int] | None = None) -> int:
    lat, lon, radius = fence or (None, None, None)
    return await conn.fetchval(
        "INSERT INTO devices (serial, kind, elder_id, secret, geofence_lat, geofence_lon,"
        " geofence_radius_m) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", serial, kind,
        elder_id, DEVICE_SECRET, lat, lon, radius)


def event_body(event_id: str, kind: str = "sos", **extra: Any) -> bytes:
    import json

    body = {"event_id": event_id, "type": kind, "occurred_at": "2026-11-23T08:00:00+08:00",
            **extra}
    return json.dumps(body).encode()


def signed_headers(body: bytes, secret: str = DEVICE_SECRET, ts: int | None = None
                   ) -> dict[str, str]:
    import time

    from callcenter.device_events import sign

    stamp = int(time.time()) if ts is None else ts
    return {"X-Anxin-Timestamp": str(stamp), "X-Anxin-Signature": sign(secret, stamp, body),
            "Content-Type": "application/json"}
