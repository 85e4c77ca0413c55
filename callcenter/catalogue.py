"""The service catalogue: categories and items (zh/en names, price, duration, response target)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, keys
from callcenter.errors import NotFound, json_response
from callcenter.http import json_body
from callcenter.routing import ALL_ROLES, Param, Routes
from callcenter.validation import Form, Invalid, ValidationError, boolean, choice, integer, text

routes = Routes("catalogue", "服务目录 (service catalogue)")
UNITS = ("次", "小时", "份", "天", "月")
ITEM_CODE = re.compile(r"^[A-Z]{2}[0-9]{3}$")

ITEM_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["code", "category_code", "name_zh", "name_en", "unit", "price_cents",
                 "duration_min", "target_response_min", "skill_code"],
    "properties": {
        "code": {"type": "string", "pattern": ITEM_CODE.pattern},
        "category_code": {"type": "string"}, "name_zh": {"type": "string"},
        "name_en": {"type": "string"}, "unit": {"type": "string", "enum": list(UNITS)},
        "price_cents": {"type": "integer", "minimum": 0},
        "duration_min": {"type": "integer", "minimum": 1, "maximum": 1440},
        "target_response_min": {"type": "integer", "minimum": 1, "maximum": 10080},
        "subsidy_eligible": {"type": "boolean"}, "skill_code": {"type": "string"},
        "active": {"type": "boolean"},
    },
}
_ITEM = """SELECT code, category_code, name_zh, name_en, unit, price_cents, duration_min,
                  target_response_min, subsidy_eligible, skill_code, active FROM service_items"""


async def catalogue(conn: asyncpg.Connection | asyncpg.Pool, *, active_only: bool
                    ) -> list[dict[str, Any]]:
    """Categories in display order, each with its items."""
    cats = await conn.fetch("SELECT code, name_zh, name_en, sort_order FROM service_categories "
                            "ORDER BY sort_order, code")
    items = await conn.fetch(_ITEM + (" WHERE active" if active_only else "") + " ORDER BY code")
    by_cat: dict[str, list[dict[str, Any]]] = {c["code"]: [] for c in cats}
    for item in items:
        by_cat[item["category_code"]].append(dict(item))
    return [{**dict(c), "items": by_cat[c["code"]]} for c in cats]


@routes.get("/api/v1/catalogue", name="catalogue_list", roles=ALL_ROLES,
            query=(Param("all", "include inactive items (true/false)", "boolean"),),
            summary="服务目录：类别及项目 (the catalogue: categories with their items)")
async def catalogue_list(request: web.Request) -> web.Response:
    show_all = request.query.get("all", "false")
    if show_all not in ("true", "false"):
        raise ValidationError({"all": "应为 true 或 false (must be true or false)"})
    return json_response({"categories": await catalogue(request.app[keys.DB],
                                                        active_only=show_all == "false")})


async def _clean_item(request: web.Request, data: dict[str, Any], creating: bool
                      ) -> dict[str, Any]:
    db = request.app[keys.DB]
    form = Form(data)
    form.unknown(ITEM_BODY["properties"])
    if creating:
        form.field("code", _item_code)
    elif "code" in data:
        form.error("code", "项目代码不可修改 (the code cannot be changed)")
    form.field("name_zh", lambda v: text(v, max_len=60), required=creating)
    form.field("name_en", lambda v: text(v, max_len=100), required=creating)
    form.field("unit", lambda v: choice(v, UNITS), required=creating)
    form.field("price_cents", lambda v: integer(v, low=0, high=10_000_000), required=creating)
    form.field("duration_min", lambda v: integer(v, low=1, high=1440), required=creating)
    form.field("target_response_min", lambda v: integer(v, low=1, high=10080), required=creating)
    form.field("subsidy_eligible", boolean, required=False, default=False)
    form.field("active", boolean, required=False, default=True)
    for key, table in (("category_code", "service_categories"), ("skill_code", "skills")):
        if key in data or creating:
            value = data.get(key)
            if not isinstance(value, str) or not await db.fetchval(
                    f"SELECT 1 FROM {table} WHERE code = $1", value):
                form.error(key, "不存在的代码 (unknown code)")
            else:
                form.clean[key] = value
    cleaned = form.result()
    return cleaned if creating else {k: v for k, v in cleaned.items() if k in data}


def _item_code(value: Any) -> str:
    if not isinstance(value, str) or not ITEM_CODE.match(value):
        raise Invalid("项目代码应为两个大写字母加三位数字 (code: two capitals and three digits)")
    return value


@routes.post("/api/v1/catalogue/items", name="catalogue_item_create", roles={"admin"},
             body=ITEM_BODY, status=201, summary="新增服务项目 (add a service item)")
async def catalogue_item_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    data = await _clean_item(request, await json_body(request), creating=True)
    cols = list(data)
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        try:
            await conn.execute(
                f"INSERT INTO service_items ({', '.join(cols)}) VALUES "
                f"({', '.join(f'${i + 1}' for i in range(len(cols)))})", *data.values())
        except asyncpg.UniqueViolationError:
            raise ValidationError({"code": "该项目代码已存在 (this code exists)"}) from None
        await audit.write(conn, request, p.user_id, "catalogue.create", "service_item",
                          data["code"])
        row = await conn.fetchrow(_ITEM + " WHERE code = $1", data["code"])
    return json_response(dict(row), status=201)


@routes.patch("/api/v1/catalogue/items/{code}", name="catalogue_item_update", roles={"admin"},
              body={**ITEM_BODY, "required": []},
              summary="修改服务项目 (update a service item)")
async def catalogue_item_update(request: web.Request) -> web.Response:
    p = auth.principal(request)
    code = request.match_info["code"]
    db = request.app[keys.DB]
    if not ITEM_CODE.match(code) or not await db.fetchval(
            "SELECT 1 FROM service_items WHERE code = $1", code):
        raise NotFound(fields={"code": "不存在 (no such item)"})
    data = await _clean_item(request, await json_body(request), creating=False)
    async with db.acquire() as conn, conn.transaction():
        if data:
            sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(data))
            await conn.execute(f"UPDATE service_items SET {sets} WHERE code = $1", code,
                               *data.values())
        await audit.write(conn, request, p.user_id, "catalogue.update", "service_item", code,
                          {"fields": sorted(data)})
        row = await conn.fetchrow(_ITEM + " WHERE code = $1", code)
    return json_response(dict(row))
