"""Service providers and their staff: registry reads for the city, edits for admins and the
provider's own admin; provider staff see only themselves."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, keys, regions
from callcenter.errors import NotFound, json_response
from callcenter.http import PAGING, json_body, page_of, paging, path_id
from callcenter.routing import ALL_ROLES, STAFF_ROLES, Routes
from callcenter.validation import (
    Form,
    Invalid,
    boolean,
    coordinates,
    integer,
    name,
    phone,
    text,
    text_list,
)

routes = Routes("providers", "服务商与服务人员 (providers and their staff)")
PROVIDER_READERS = STAFF_ROLES | {"provider_admin"}
STAFF_EDITORS = frozenset({"admin", "provider_admin"})

PROVIDER_BODY: dict[str, Any] = {
    "type": "object", "required": ["name", "licence_no", "phone", "region_code"],
    "properties": {
        "name": {"type": "string"}, "name_en": {"type": "string"},
        "licence_no": {"type": "string"}, "phone": {"type": "string"},
        "address": {"type": "string"}, "region_code": {"type": "string"},
        "regions_covered": {"type": "array", "items": {"type": "string"}},
        "item_codes": {"type": "array", "items": {"type": "string"}},
        "active": {"type": "boolean"},
    },
}
STAFF_BODY: dict[str, Any] = {
    "type": "object", "required": ["name", "phone"],
    "properties": {
        "name": {"type": "string"}, "phone": {"type": "string"},
        "skills": {"type": "array", "items": {"type": "string"}},
        "certificates": {"type": "array", "items": {"type": "string"}},
        "shift_start": {"type": "string", "example": "08:00"},
        "shift_end": {"type": "string", "example": "18:00"},
        "home_lat": {"type": "number"}, "home_lon": {"type": "number"},
        "capacity": {"type": "integer", "minimum": 1, "maximum": 20},
        "active": {"type": "boolean"},
    },
}

PROVIDER_SELECT = """
SELECT p.id, p.name, p.name_en, p.licence_no, p.phone, p.address, p.region_code,
       r.name AS region_name, p.star_rating, p.active, p.created_at, p.updated_at,
       (SELECT array_agg(region_code ORDER BY region_code) FROM provider_regions pr
         WHERE pr.provider_id = p.id) AS regions_covered,
       (SELECT array_agg(item_code ORDER BY item_code) FROM provider_items pi
         WHERE pi.provider_id = p.id) AS item_codes,
       (SELECT count(*) FROM staff s WHERE s.provider_id = p.id AND s.active) AS staff_count
FROM providers p JOIN regions r ON r.code = p.region_code
"""


def provider_view(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["star_rating"] = float(row["star_rating"])
    out["regions_covered"] = row["regions_covered"] or []
    out["item_codes"] = row["item_codes"] or []
    return out


def provider_scope(p: auth.Principal, first: int) -> tuple[str, list[Any]]:
    """Providers the user may see: their own (provider roles), or those based in or covering
    the user's region."""
    if p.provider_id is not None:
        return f"p.id = ${first}", [p.provider_id]
    return (f"({auth.scope_sql(first)} OR EXISTS (SELECT 1 FROM provider_regions pr JOIN regions"
            f" rr ON rr.code = pr.region_code WHERE pr.provider_id = p.id AND (rr.path = "
            f"${first} OR rr.path LIKE ${first + 1} OR ${first} LIKE rr.path || '.%')))",
            list(auth.scope_args(p)))


async def fetch_provider(db: asyncpg.Pool, p: auth.Principal, provider_id: int) -> asyncpg.Record:
    if p.role == "provider_staff":
        raise NotFound(fields={"id": "不存在 (not found)"})
    cond, args = provider_scope(p, 2)
    row = await db.fetchrow(PROVIDER_SELECT + f" WHERE p.id = $1 AND {cond}", provider_id, *args)
    if row is None:
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    return row


@routes.get("/api/v1/providers", name="providers_list", roles=PROVIDER_READERS,
            query=PAGING, summary="服务商列表 (providers based in or covering your region)")
async def providers_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit, after = paging(request)
    cond, args = provider_scope(p, 2)
    rows = await request.app[keys.DB].fetch(
        PROVIDER_SELECT + f" WHERE p.id > $1 AND {cond} ORDER BY p.id LIMIT {limit}", after, *args)
    return json_response(page_of([provider_view(r) for r in rows], limit))


@routes.get("/api/v1/providers/{id}", name="provider_detail", roles=PROVIDER_READERS,
            summary="一个服务商 (one provider)")
async def provider_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response(provider_view(await fetch_provider(request.app[keys.DB], p,
                                                             path_id(request))))


async def _codes(db: asyncpg.Pool, table: str, column: str, values: Any, label: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Invalid(f"应为{label}代码列表 (must be a list of codes)")
    found = {r[0] for r in await db.fetch(
        f"SELECT {column} FROM {table} WHERE {column} = ANY($1::text[])", values)}
    missing = [v for v in values if v not in found]
    if missing:
        raise Invalid(f"不存在的代码 (unknown codes): {', '.join(missing[:10])}")
    return sorted(set(values))


async def _clean_provider(request: web.Request, data: dict[str, Any], creating: bool
                          ) -> dict[str, Any]:
    p = auth.principal(request)
    db = request.app[keys.DB]
    area = request.app[keys.SETTINGS].default_area_code
    form = Form(data)
    form.unknown(PROVIDER_BODY["properties"])
    form.field("name", lambda v: text(v, max_len=100), required=creating)
    form.field("name_en", lambda v: text(v, max_len=100, min_len=0), required=False, default="")
    if creating:
        form.field("licence_no", lambda v: text(v, max_len=40, min_len=4))
    elif "licence_no" in data:
        form.error("licence_no", "许可证号不可修改 (the licence number cannot be changed)")
    form.field("phone", lambda v: phone(v, area), required=creating)
    form.field("address", lambda v: text(v, max_len=200, min_len=0), required=False, default="")
    form.field("active", boolean, required=False, default=True)
    for key, table, column, label in (("regions_covered", "regions", "code", "区划"),
                                      ("item_codes", "service_items", "code", "服务项目")):
        if key in data:
            try:
                form.clean[key] = await _codes(db, table, column, data[key], label)
            except Invalid as exc:
                form.error(key, exc.reason)
    if "region_code" in data or creating:
        try:
            form.clean["region_code"] = (await regions.region_for_record(
                db, p, data.get("region_code")))["code"]
        except Invalid as exc:
            form.error("region_code", exc.reason)
    cleaned = form.result()
    return cleaned if creating else {k: v for k, v in cleaned.items() if k in data}


async def _write_links(conn: asyncpg.Connection, provider_id: int, data: dict[str, Any]) -> None:
    if "regions_covered" in data:
        await conn.execute("DELETE FROM provider_regions WHERE provider_id = $1", provider_id)
        await conn.executemany("INSERT INTO provider_regions VALUES ($1, $2)",
                               [(provider_id, c) for c in data["regions_covered"]])
    if "item_codes" in data:
        await conn.execute("DELETE FROM provider_items WHERE provider_id = $1", provider_id)
        await conn.executemany("INSERT INTO provider_items VALUES ($1, $2)",
                               [(provider_id, c) for c in data["item_codes"]])


@routes.post("/api/v1/providers", name="providers_create", roles={"admin"}, body=PROVIDER_BODY,
             status=201, summary="登记服务商 (register a provider)")
async def providers_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    data = await _clean_provider(request, await json_body(request), creating=True)
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        provider_id = await conn.fetchval(
            "INSERT INTO providers (name, name_en, licence_no, phone, address, region_code, active)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id", data["name"], data["name_en"],
            data["licence_no"], data["phone"], data["address"], data["region_code"],
            data["active"])
        await _write_links(conn, provider_id, data)
        await audit.write(conn, request, p.user_id, "provider.create", "provider", provider_id)
    return json_response(provider_view(await fetch_provider(db, p, provider_id)), status=201)


@routes.patch("/api/v1/providers/{id}", name="providers_update", roles=STAFF_EDITORS,
              body={**PROVIDER_BODY, "required": []},
              summary="修改服务商 (update a provider: admins, or the provider's own admin)")
async def providers_update(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    provider_id = path_id(request)
    await fetch_provider(db, p, provider_id)
    data = await _clean_provider(request, await json_body(request), creating=False)
    columns = {k: v for k, v in data.items() if k not in ("regions_covered", "item_codes")}
    async with db.acquire() as conn, conn.transaction():
        if columns:
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
            await conn.execute(f"UPDATE providers SET {sets}, updated_at = now() WHERE id = $1",
                               provider_id, *columns.values())
        await _write_links(conn, provider_id, data)
        await audit.write(conn, request, p.user_id, "provider.update", "provider", provider_id,
                          {"fields": sorted(data)})
    return json_response(provider_view(await fetch_provider(db, p, provider_id)))


_STAFF = """
SELECT s.id, s.provider_id, s.user_id, s.name, s.phone, s.certificates, s.shift_start,
       s.shift_end, s.home_lat, s.home_lon, s.capacity, s.active, s.created_at, s.updated_at,
       coalesce((SELECT array_agg(skill_code ORDER BY skill_code) FROM staff_skills ss
                 WHERE ss.staff_id = s.id), '{}') AS skills
FROM staff s
"""


def _staff_view(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["shift_start"] = row["shift_start"].strftime("%H:%M")
    out["shift_end"] = row["shift_end"].strftime("%H:%M")
    return out


def _time(value: Any) -> dt.time:
    if isinstance(value, str) and re.fullmatch(r"\d{2}:\d{2}", value):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid("应为 HH:MM (must be HH:MM)")


@routes.get("/api/v1/providers/{id}/staff", name="provider_staff_list", roles=PROVIDER_READERS,
            query=PAGING, summary="服务商的服务人员 (a provider's staff)")
async def provider_staff_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    provider_id = path_id(request)
    await fetch_provider(db, p, provider_id)
    limit, after = paging(request)
    rows = await db.fetch(_STAFF + f" WHERE s.provider_id = $1 AND s.id > $2 ORDER BY s.id "
                          f"LIMIT {limit}", provider_id, after)
    return json_response(page_of([_staff_view(r) for r in rows], limit))


async def _clean_staff(request: web.Request, data: dict[str, Any], creating: bool
                       ) -> dict[str, Any]:
    area = request.app[keys.SETTINGS].default_area_code
    form = Form(data)
    form.unknown(STAFF_BODY["properties"])
    form.field("name", name, required=creating)
    form.field("phone", lambda v: phone(v, area), required=creating)
    form.field("certificates", lambda v: text_list(v, max_len=60), required=False, default=[])
    form.field("shift_start", _time, required=False, default=dt.time(8))
    form.field("shift_end", _time, required=False, default=dt.time(18))
    form.field("capacity", lambda v: integer(v, low=1, high=20), required=False, default=3)
    form.field("active", boolean, required=False, default=True)
    if "skills" in data:
        try:
            form.clean["skills"] = await _codes(request.app[keys.DB], "skills", "code",
                                                data["skills"], "技能")
        except Invalid as exc:
            form.error("skills", exc.reason)
    elif creating:
        form.clean["skills"] = []
    if (data.get("home_lat") is None) != (data.get("home_lon") is None):
        form.error("home_lat", "经纬度需同时提供 (give both home_lat and home_lon)")
    elif data.get("home_lat") is not None:
        try:
            form.clean["home_lat"], form.clean["home_lon"] = coordinates(data["home_lat"],
                                                                         data["home_lon"])
        except Invalid as exc:
            form.error("home_lat", exc.reason)
    cleaned = form.result()
    return cleaned if creating else {k: v for k, v in cleaned.items() if k in data}


async def _write_skills(conn: asyncpg.Connection, staff_id: int, skills: list[str]) -> None:
    await conn.execute("DELETE FROM staff_skills WHERE staff_id = $1", staff_id)
    await conn.executemany("INSERT INTO staff_skills VALUES ($1, $2)",
                           [(staff_id, s) for s in skills])


@routes.post("/api/v1/providers/{id}/staff", name="provider_staff_create", roles=STAFF_EDITORS,
             body=STAFF_BODY, status=201, summary="添加服务人员 (add a staff member)")
async def provider_staff_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    provider_id = path_id(request)
    await fetch_provider(db, p, provider_id)
    data = await _clean_staff(request, await json_body(request), creating=True)
    async with db.acquire() as conn, conn.transaction():
        staff_id = await conn.fetchval(
            "INSERT INTO staff (provider_id, name, phone, certificates, shift_start, shift_end,"
            " home_lat, home_lon, capacity, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
            " $10) RETURNING id", provider_id, data["name"], data["phone"], data["certificates"],
            data["shift_start"], data["shift_end"], data.get("home_lat"), data.get("home_lon"),
            data["capacity"], data["active"])
        await _write_skills(conn, staff_id, data["skills"])
        await audit.write(conn, request, p.user_id, "staff.create", "staff", staff_id)
    row = await db.fetchrow(_STAFF + " WHERE s.id = $1", staff_id)
    return json_response(_staff_view(row), status=201)


async def fetch_staff(db: asyncpg.Pool, p: auth.Principal, staff_id: int) -> asyncpg.Record:
    row = await db.fetchrow(_STAFF + " WHERE s.id = $1", staff_id)
    allowed = row is not None and (
        (p.role == "provider_staff" and row["user_id"] == p.user_id)
        or (p.role != "provider_staff" and await _provider_visible(db, p, row["provider_id"])))
    if not allowed:
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    assert row is not None
    return row


async def _provider_visible(db: asyncpg.Pool, p: auth.Principal, provider_id: int) -> bool:
    try:
        await fetch_provider(db, p, provider_id)
    except NotFound:
        return False
    return True


@routes.get("/api/v1/staff/{id}", name="staff_detail", roles=ALL_ROLES,
            summary="一名服务人员 (one staff member; provider staff: only themselves)")
async def staff_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response(_staff_view(await fetch_staff(request.app[keys.DB], p,
                                                       path_id(request))))


@routes.patch("/api/v1/staff/{id}", name="staff_update", roles=STAFF_EDITORS,
              body={**STAFF_BODY, "required": []}, summary="修改服务人员 (update a staff member)")
async def staff_update(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    staff_id = path_id(request)
    await fetch_staff(db, p, staff_id)
    data = await _clean_staff(request, await json_body(request), creating=False)
    columns = {k: v for k, v in data.items() if k != "skills"}
    async with db.acquire() as conn, conn.transaction():
        if columns:
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
            await conn.execute(f"UPDATE staff SET {sets}, updated_at = now() WHERE id = $1",
                               staff_id, *columns.values())
        if "skills" in data:
            await _write_skills(conn, staff_id, data["skills"])
        await audit.write(conn, request, p.user_id, "staff.update", "staff", staff_id,
                          {"fields": sorted(data)})
    return json_response(_staff_view(await fetch_staff(db, p, staff_id)))
