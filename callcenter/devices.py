"""Devices: register (the secret is shown once), read, and rotate the signing secret."""

from __future__ import annotations

import re
import secrets
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, keys
from callcenter.elders import fetch_in_scope
from callcenter.errors import NotFound, json_response
from callcenter.http import PAGING, json_body, page_of, paging
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import (
    DEVICE_KINDS,
    Form,
    Invalid,
    ValidationError,
    choice,
    coordinates,
    integer,
)

routes = Routes("devices", "设备：SOS电话、手环、传感器 (devices: SOS phones, bracelets, sensors)")
ADMIN = frozenset({"admin"})
SERIAL = re.compile(r"^[A-Za-z0-9_-]{4,64}$")

DEVICE_BODY: dict[str, Any] = {
    "type": "object", "required": ["serial", "kind", "elder_id"],
    "properties": {
        "serial": {"type": "string", "pattern": SERIAL.pattern},
        "kind": {"type": "string", "enum": list(DEVICE_KINDS)},
        "elder_id": {"type": "integer"},
        "secret": {"type": "string", "minLength": 16,
                   "description": "omit to have one generated; it is returned once"},
        "geofence": {"type": "object", "description": "bracelets: {lat, lon, radius_m}",
                     "properties": {"lat": {"type": "number"}, "lon": {"type": "number"},
                                    "radius_m": {"type": "integer"}}},
    },
}

_SELECT = """
SELECT d.id, d.serial, d.kind, d.elder_id, d.geofence_lat, d.geofence_lon, d.geofence_radius_m,
       d.last_heartbeat_at, d.battery, d.status, d.secret_rotated_at, d.created_at, d.updated_at
FROM devices d JOIN elders e ON e.id = d.elder_id JOIN regions r ON r.code = e.region_code
"""


def new_secret() -> str:
    return secrets.token_hex(16)


def _serial(value: Any) -> str:
    if not isinstance(value, str) or not SERIAL.match(value.strip()):
        raise Invalid("序列号应为4-64位字母、数字、-或_ (serial: 4-64 letters, digits, - or _)")
    return value.strip()


def _secret(value: Any) -> str:
    if not isinstance(value, str) or len(value) < 16 or len(value) > 128 or \
            not re.fullmatch(r"[\x21-\x7e]+", value):
        raise Invalid("密钥应为16-128个可打印字符，不含空格 (secret: 16-128 printable characters)")
    return value


def _geofence(value: Any) -> tuple[float, float, int]:
    if not isinstance(value, dict):
        raise Invalid("应为 {lat, lon, radius_m} (must be {lat, lon, radius_m})")
    lat, lon = coordinates(value.get("lat"), value.get("lon"))
    return lat, lon, integer(value.get("radius_m"), low=50, high=50000)


def view(row: asyncpg.Record) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "serial", "kind", "elder_id", "last_heartbeat_at", "battery",
                               "status", "secret_rotated_at", "created_at", "updated_at")}
    out["geofence"] = None if row["geofence_lat"] is None else {
        "lat": row["geofence_lat"], "lon": row["geofence_lon"],
        "radius_m": row["geofence_radius_m"]}
    return out


async def fetch_device(db: asyncpg.Pool, p: auth.Principal, serial: str) -> asyncpg.Record:
    if p.role not in STAFF_ROLES or not SERIAL.match(serial):
        raise NotFound(fields={"serial": "不存在或不在您的辖区内 (not found, or outside your region)"})
    row = await db.fetchrow(_SELECT + f" WHERE d.serial = $1 AND {auth.scope_sql(2)}",
                            serial, *auth.scope_args(p))
    if row is None:
        raise NotFound(fields={"serial": "不存在或不在您的辖区内 (not found, or outside your region)"})
    return row


@routes.get("/api/v1/devices", name="devices_list", roles=STAFF_ROLES,
            query=(Param("elder_id", "devices serving this elder", "integer"),
                   Param("kind", ", ".join(DEVICE_KINDS)), *PAGING),
            summary="辖区内的设备 (devices in your region)")
async def devices_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit, after = paging(request)
    conditions, args = ["d.id > $1", auth.scope_sql(2)], [after, *auth.scope_args(p)]
    if request.query.get("elder_id"):
        raw = request.query["elder_id"]
        if not raw.isdigit():
            raise ValidationError({"elder_id": "应为整数 (must be a whole number)"})
        conditions.append(f"d.elder_id = ${len(args) + 1}")
        args.append(int(raw))
    if request.query.get("kind"):
        if request.query["kind"] not in DEVICE_KINDS:
            raise ValidationError({"kind": "未知设备类型 (unknown device kind)"})
        conditions.append(f"d.kind = ${len(args) + 1}")
        args.append(request.query["kind"])
    rows = await request.app[keys.DB].fetch(
        _SELECT + " WHERE " + " AND ".join(conditions) + f" ORDER BY d.id LIMIT {limit}", *args)
    return json_response(page_of([view(r) for r in rows], limit))


@routes.get("/api/v1/devices/{serial}", name="device_detail", roles=STAFF_ROLES,
            summary="一台设备 (one device; the secret is never shown again)")
async def device_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response(view(await fetch_device(request.app[keys.DB], p,
                                                 request.match_info["serial"])))


@routes.post("/api/v1/devices", name="devices_register", roles=ADMIN, body=DEVICE_BODY,
             status=201, summary="登记设备，返回一次性密钥 (register a device; the response "
                                 "holds its secret, shown this once)")
async def devices_register(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    form = Form(await json_body(request))
    form.unknown(DEVICE_BODY["properties"])
    form.field("serial", _serial)
    form.field("kind", lambda v: choice(v, DEVICE_KINDS))
    form.field("elder_id", lambda v: integer(v, low=1, high=2**62))
    form.field("secret", _secret, required=False)
    form.field("geofence", _geofence, required=False)
    data = form.result()
    try:
        await fetch_in_scope(db, p, data["elder_id"])
    except NotFound:
        raise ValidationError({"elder_id": "老人不存在或不在您的辖区内 (no such elder in your "
                                           "region)"}) from None
    secret = data["secret"] or new_secret()
    fence = data["geofence"] or (None, None, None)
    async with db.acquire() as conn, conn.transaction():
        try:
            row = await conn.fetchrow(
                """INSERT INTO devices (serial, kind, elder_id, secret, geofence_lat, geofence_lon,
                       geofence_radius_m) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
                data["serial"], data["kind"], data["elder_id"], secret, *fence)
        except asyncpg.UniqueViolationError:
            raise ValidationError({"serial": "该序列号已登记 (this serial is already "
                                             "registered)"}) from None
        await audit.write(conn, request, p.user_id, "device.register", "device", data["serial"])
    return json_response({**view(row), "secret": secret}, status=201)


@routes.post("/api/v1/devices/{serial}/rotate-secret", name="device_rotate_secret", roles=ADMIN,
             summary="更换设备密钥，返回一次性新密钥 (rotate the signing secret; the new one "
                     "is returned this once)")
async def device_rotate_secret(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    row = await fetch_device(db, p, request.match_info["serial"])
    secret = new_secret()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE devices SET secret = $2, secret_rotated_at = now(), "
                           "updated_at = now() WHERE id = $1", row["id"], secret)
        await audit.write(conn, request, p.user_id, "device.rotate_secret", "device",
                          row["serial"])
    fresh = await fetch_device(db, p, row["serial"])
    return json_response({**view(fresh), "secret": secret})
