"""Elders: create, read (masked ID unless the role may see it; every full view audited),
update, and search by name, phone or ID number, always inside the user's region."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, geo, keys, regions
from callcenter.errors import NotFound, Unprocessable, json_response
from callcenter.http import PAGING, json_body, page_of, paging, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import (
    ELDER_STATUSES,
    Form,
    Invalid,
    ValidationError,
    boolean,
    choice,
    coordinates,
    id_number,
    integer,
    mask_id,
    name,
    phone,
    risk_groups,
    text,
)

routes = Routes("elders", "老人档案 (elder registry)")
EDIT_ROLES = frozenset({"admin", "operator"})

_CONTACT = {"type": "object", "required": ["name", "phone"],
            "properties": {"name": {"type": "string"}, "phone": {"type": "string"},
                           "relation": {"type": "string"}}}
ELDER_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["name", "id_number", "phones", "region_code"],
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "id_number": {"type": "string", "description": "18 位居民身份证号 (GB 11643)"},
        "phones": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 5},
        "address": {"type": "string", "maxLength": 200},
        "region_code": {"type": "string", "description": "district, town or community code"},
        "lat": {"type": "number", "description": "WGS-84"},
        "lon": {"type": "number", "description": "WGS-84"},
        "risk_groups": {"type": "array", "items": {"type": "string"}},
        "care_level": {"type": "integer", "minimum": 0, "maximum": 5},
        "medical_notes": {"type": "string", "maxLength": 2000},
        "consent": {"type": "boolean"},
        "status": {"type": "string", "enum": list(ELDER_STATUSES)},
        "contacts": {"type": "array", "items": _CONTACT, "maxItems": 10},
    },
}
ELDER_PATCH = {**ELDER_BODY, "required": []}
EDITABLE = ("name", "phones", "address", "region_code", "lat", "lon", "risk_groups", "care_level",
            "medical_notes", "consent", "status", "contacts")


def _phones(default_area: str):  # type: ignore[no-untyped-def]
    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise Invalid("应为至少一个电话号码的列表 (must be a list of at least one phone)")
        if len(value) > 5:
            raise Invalid("最多5个电话号码 (at most 5 phones)")
        out: list[str] = []
        for i, raw in enumerate(value):
            try:
                normalised = phone(raw, default_area)
            except Invalid as exc:
                raise Invalid(f"第{i + 1}个: {exc.reason} (phone {i + 1})") from None
            if normalised not in out:
                out.append(normalised)
        return out
    return check


def _contacts(default_area: str):  # type: ignore[no-untyped-def]
    def check(value: Any) -> list[dict[str, str]]:
        if not isinstance(value, list) or len(value) > 10:
            raise Invalid("应为最多10个联系人的列表 (must be a list of at most 10 contacts)")
        out = []
        for i, c in enumerate(value):
            if not isinstance(c, dict):
                raise Invalid(f"第{i + 1}个联系人应为对象 (contact {i + 1} must be an object)")
            try:
                out.append({"name": name(c.get("name")), "phone": phone(c.get("phone"), default_area),
                            "relation": text(c.get("relation") or "-", max_len=20)})
            except Invalid as exc:
                raise Invalid(f"第{i + 1}个联系人: {exc.reason} (contact {i + 1})") from None
        return out
    return check


async def _clean(request: web.Request, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validate a create or update body; every wrong field is reported at once."""
    p = auth.principal(request)
    area = request.app[keys.SETTINGS].default_area_code
    form = Form(data)
    form.unknown(ELDER_BODY["properties"])
    need = creating
    form.field("name", name, required=need)
    if creating:
        form.field("id_number", id_number)
    elif "id_number" in data:
        form.error("id_number", "身份证号不可修改 (the ID number cannot be changed)")
    form.field("phones", _phones(area), required=need)
    form.field("address", lambda v: text(v, max_len=200, min_len=0), required=False, default="")
    form.field("risk_groups", risk_groups, required=False, default=[])
    form.field("care_level", lambda v: integer(v, low=0, high=5), required=False, default=0)
    form.field("medical_notes", lambda v: text(v, max_len=2000, min_len=0), required=False,
               default="")
    form.field("consent", boolean, required=False, default=False)
    form.field("status", lambda v: choice(v, ELDER_STATUSES), required=False, default="active")
    form.field("contacts", _contacts(area), required=False, default=[])
    has_lat, has_lon = data.get("lat") is not None, data.get("lon") is not None
    if has_lat != has_lon:
        form.error("lon" if has_lat else "lat", "经纬度需同时提供 (give both lat and lon)")
    elif has_lat:
        try:
            form.clean["lat"], form.clean["lon"] = coordinates(data["lat"], data["lon"])
        except Invalid as exc:
            form.error("lat", exc.reason)
    elif creating:
        form.clean["lat"] = form.clean["lon"] = None
    if "region_code" in data or creating:
        try:
            region = await regions.region_for_record(request.app[keys.DB], p, data.get("region_code"))
            form.clean["region_code"] = region["code"]
        except Invalid as exc:
            form.error("region_code", exc.reason)
    cleaned = form.result()
    if not creating:  # PATCH: only the fields sent
        cleaned = {k: v for k, v in cleaned.items() if k in data or k == "lon" and "lat" in data}
    return cleaned


_SELECT = """
SELECT e.id, e.name, e.id_number, e.sex, e.birth_date, e.phones, e.address, e.region_code,
       r.name AS region_name, r.path AS region_path, e.lat, e.lon, e.lat_gcj02, e.lon_gcj02,
       e.risk_groups, e.care_level, e.medical_notes, e.consent, e.consent_at, e.status,
       e.preferred_provider_id, e.created_at, e.updated_at
FROM elders e JOIN regions r ON r.code = e.region_code
"""


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def today_in(request: web.Request) -> dt.date:
    return dt.datetime.now(request.app[keys.SETTINGS].tz).date()


def summary(row: asyncpg.Record, today: dt.date) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "id_number": mask_id(row["id_number"]),
            "sex": row["sex"], "age": age_on(row["birth_date"], today), "phones": row["phones"],
            "region_code": row["region_code"], "region_name": row["region_name"],
            "risk_groups": row["risk_groups"], "status": row["status"]}


async def fetch_in_scope(conn: asyncpg.Connection | asyncpg.Pool, p: auth.Principal,
                         elder_id: int) -> asyncpg.Record:
    """The elder, if it lies in the user's region; otherwise 404 (nothing about it leaks)."""
    if p.role not in STAFF_ROLES:
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    row = await conn.fetchrow(_SELECT + f" WHERE e.id = $1 AND {auth.scope_sql(2)}",
                              elder_id, *auth.scope_args(p))
    if row is None:
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    return row


async def full_record(request: web.Request, elder_id: int) -> dict[str, Any]:
    """The whole record; the view is written to the audit log."""
    p = auth.principal(request)
    db = request.app[keys.DB]
    row = await fetch_in_scope(db, p, elder_id)
    contacts = await db.fetch("SELECT position, name, phone, relation FROM elder_contacts "
                              "WHERE elder_id = $1 ORDER BY position", elder_id)
    devices = await db.fetch(
        "SELECT serial, kind, battery, last_heartbeat_at, status, geofence_radius_m FROM devices"
        " WHERE elder_id = $1 ORDER BY kind, serial", elder_id)
    await audit.write(db, request, p.user_id, "elder.view", "elder", elder_id,
                      {"full_id": p.sees_full_id})
    out = summary(row, today_in(request))
    out.update({k: row[k] for k in ("birth_date", "address", "lat", "lon", "lat_gcj02",
                                    "lon_gcj02", "care_level", "medical_notes", "consent",
                                    "consent_at", "preferred_provider_id", "created_at",
                                    "updated_at")})
    out["id_number"] = row["id_number"] if p.sees_full_id else mask_id(row["id_number"])
    out["id_number_masked"] = not p.sees_full_id
    out["contacts"] = [dict(c) for c in contacts]
    out["devices"] = [dict(d) for d in devices]
    return out


def _search_condition(q: str, area: str) -> tuple[str, Any]:
    """SQL condition (parameter $1) for a search box: ID number, phone, or part of a name."""
    compact = re.sub(r"[\s\-]", "", q).upper()
    if re.fullmatch(r"\d{17}[\dX]", compact):
        return "e.id_number = $1", compact
    if re.fullmatch(r"\+?\d{7,13}", compact):
        try:
            return "e.phones @> ARRAY[$1::text]", phone(compact, area)
        except Invalid:
            raise Unprocessable(fields={"q": "不是有效的电话号码 (not a valid phone number)"}) \
                from None
    return "strpos(e.name, $1) > 0", q.strip()


async def search(request: web.Request, p: auth.Principal, *, q: str, region: str | None,
                 risk_group: str | None, status: str | None, limit: int, after: int
                 ) -> list[asyncpg.Record]:
    conditions = ["e.id > $2", auth.scope_sql(3)]
    args: list[Any] = [None, after, *auth.scope_args(p)]
    if q:
        cond, value = _search_condition(q, request.app[keys.SETTINGS].default_area_code)
        conditions.append(cond)
        args[0] = value
    else:
        conditions.append("$1::text IS NULL")
    if region:
        conditions.append(f"(r.path = (SELECT path FROM regions WHERE code = ${len(args) + 1})"
                          f" OR r.path LIKE (SELECT path FROM regions WHERE code = "
                          f"${len(args) + 1}) || '.%')")
        args.append(region)
    if risk_group:
        conditions.append(f"e.risk_groups @> ARRAY[${len(args) + 1}::text]")
        args.append(risk_group)
    if status:
        conditions.append(f"e.status = ${len(args) + 1}")
        args.append(status)
    sql = _SELECT + " WHERE " + " AND ".join(conditions) + f" ORDER BY e.id LIMIT {int(limit)}"
    return await request.app[keys.DB].fetch(sql, *args)


def search_params(request: web.Request) -> dict[str, Any]:
    q = request.query.get("q", "").strip()
    if len(q) > 40:
        raise Unprocessable(fields={"q": "不能超过40个字符 (at most 40 characters)"})
    risk_group = request.query.get("risk_group") or None
    if risk_group is not None:
        try:
            risk_groups([risk_group])
        except Invalid as exc:
            raise Unprocessable(fields={"risk_group": exc.reason}) from None
    status = request.query.get("status") or None
    if status is not None and status not in ELDER_STATUSES:
        raise Unprocessable(fields={"status": "未知状态 (unknown status)"})
    region = request.query.get("region") or None
    if region is not None and not re.fullmatch(r"\d{6}(\d{3}){0,2}", region):
        raise Unprocessable(fields={"region": "行政区划代码应为6、9或12位数字 (6, 9 or 12 digits)"})
    return {"q": q, "risk_group": risk_group, "status": status, "region": region}


@routes.get("/api/v1/elders", name="elders_list", roles=STAFF_ROLES,
            query=(Param("q", "姓名、电话或身份证号 (name, phone or ID number)"),
                   Param("region", "region code (and below)"), Param("risk_group", "e.g. 独居"),
                   Param("status", "active, suspended, moved, deceased"), *PAGING),
            summary="搜索辖区内的老人 (search elders in your region; ID numbers masked)")
async def elders_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit, after = paging(request)
    rows = await search(request, p, limit=limit, after=after, **search_params(request))
    today = today_in(request)
    return json_response(page_of([summary(r, today) for r in rows], limit))


@routes.get("/api/v1/elders/{id}", name="elder_detail", roles=STAFF_ROLES,
            summary="老人完整档案，记入审计 (the full record; every view is audited; ID number "
                    "unmasked for admin and operator)")
async def elder_detail(request: web.Request) -> web.Response:
    return json_response(await full_record(request, path_id(request)))


async def _write_contacts(conn: asyncpg.Connection, elder_id: int,
                          contacts: list[dict[str, str]]) -> None:
    await conn.execute("DELETE FROM elder_contacts WHERE elder_id = $1", elder_id)
    await conn.executemany(
        "INSERT INTO elder_contacts (elder_id, position, name, phone, relation)"
        " VALUES ($1, $2, $3, $4, $5)",
        [(elder_id, i + 1, c["name"], c["phone"], c["relation"]) for i, c in enumerate(contacts)])


def _gcj(data: dict[str, Any]) -> tuple[float | None, float | None]:
    if data.get("lat") is None:
        return None, None
    return geo.wgs84_to_gcj02(data["lat"], data["lon"])


@routes.post("/api/v1/elders", name="elders_create", roles=EDIT_ROLES, body=ELDER_BODY,
             status=201, summary="登记老人 (register an elder)")
async def elders_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    data = await _clean(request, await json_body(request), creating=True)
    ident = data["id_number"]
    lat_g, lon_g = _gcj(data)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        try:
            elder_id = await conn.fetchval(
                """INSERT INTO elders (name, id_number, sex, birth_date, phones, address,
                       region_code, lat, lon, lat_gcj02, lon_gcj02, risk_groups, care_level,
                       medical_notes, consent, consent_at, status)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                       CASE WHEN $15 THEN now() END, $16) RETURNING id""",
                data["name"], ident.number, ident.sex, ident.birth_date, data["phones"],
                data["address"], data["region_code"], data["lat"], data["lon"], lat_g, lon_g,
                data["risk_groups"], data["care_level"], data["medical_notes"], data["consent"],
                data["status"])
        except asyncpg.UniqueViolationError:
            raise ValidationError({"id_number": "该身份证号已登记 (this ID number is already "
                                                "registered)"}) from None
        await _write_contacts(conn, elder_id, data["contacts"])
        await audit.write(conn, request, p.user_id, "elder.create", "elder", elder_id)
    return json_response(await full_record(request, elder_id), status=201)


@routes.patch("/api/v1/elders/{id}", name="elders_update", roles=EDIT_ROLES, body=ELDER_PATCH,
              summary="修改老人档案 (update an elder; the ID number cannot change)")
async def elders_update(request: web.Request) -> web.Response:
    p = auth.principal(request)
    elder_id = path_id(request)
    body = await json_body(request)
    db = request.app[keys.DB]
    await fetch_in_scope(db, p, elder_id)
    data = await _clean(request, body, creating=False)
    columns = {k: v for k, v in data.items() if k != "contacts"}
    if "lat" in columns:
        columns["lat_gcj02"], columns["lon_gcj02"] = _gcj(columns)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM elders WHERE id = $1 FOR UPDATE", elder_id)
        if columns:
            sets = ", ".join(f"{col} = ${i + 2}" for i, col in enumerate(columns))
            consent = ""
            if "consent" in columns:  # SET sees the old row, so test the new value's parameter
                index = list(columns).index("consent") + 2
                consent = f", consent_at = CASE WHEN ${index} THEN coalesce(consent_at, now()) END"
            await conn.execute(f"UPDATE elders SET {sets}, updated_at = now(){consent} "
                               "WHERE id = $1", elder_id, *columns.values())
        if "contacts" in data:
            await _write_contacts(conn, elder_id, data["contacts"])
        await audit.write(conn, request, p.user_id, "elder.update", "elder", elder_id,
                          {"fields": sorted(data)})
    return json_response(await full_record(request, elder_id))
