"""Regions (GB/T 2260): the tree, scoped to what the user may see, and lookups for validation."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from callcenter import auth, keys
from callcenter.errors import NotFound, json_response
from callcenter.routing import ALL_ROLES, Routes
from callcenter.validation import Invalid, region_code_format

routes = Routes("regions", "行政区划树 (region tree, GB/T 2260 codes)")

COLUMNS = ("code, parent_code, level, name, name_en, kind, service_radius_m, service_minutes, "
           "center_lat, center_lon, path")


async def get_region(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM regions WHERE code = $1", code)


async def region_for_record(conn: asyncpg.Connection | asyncpg.Pool, p: auth.Principal,
                            value: Any) -> asyncpg.Record:
    """A region an elder (or provider) may be placed in: exists, below city level, in scope."""
    code = region_code_format(value)
    row = await get_region(conn, code)
    if row is None:
        raise Invalid("行政区划代码不存在 (no region has this code)")
    if row["level"] == "city":
        raise Invalid("应为区县、镇街或社区 (must be a district, town or community)")
    if not p.covers(row["path"]):
        raise Invalid("不在您的辖区内 (outside your region)")
    return row


def _public(row: asyncpg.Record) -> dict[str, Any]:
    """A region as the API shows it (the internal path left out)."""
    out = dict(row)
    out.pop("path", None)
    return out


def _tree(rows: list[asyncpg.Record], root: str) -> dict[str, Any]:
    nodes = {r["code"]: {**_public(r), "children": []} for r in rows}
    for r in rows:
        if r["code"] != root and r["parent_code"] in nodes:
            nodes[r["parent_code"]]["children"].append(nodes[r["code"]])
    return nodes[root]


@routes.get("/api/v1/regions", name="regions_tree", roles=ALL_ROLES,
            summary="您辖区的区划树 (the region tree below your region)")
async def regions_tree(request: web.Request) -> web.Response:
    p = auth.principal(request)
    rows = await request.app[keys.DB].fetch(
        f"SELECT {COLUMNS} FROM regions r WHERE {auth.scope_sql(1)} ORDER BY path",
        *auth.scope_args(p))
    return json_response(_tree(rows, p.region_code))


@routes.get("/api/v1/regions/{code}", name="region_detail", roles=ALL_ROLES,
            summary="一个区划及其下级 (one region with its children)")
async def region_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    code = request.match_info["code"]
    row = await get_region(request.app[keys.DB], code) if code.isdigit() else None
    if row is None or not p.covers(row["path"]):
        raise NotFound(fields={"code": "不存在或不在您的辖区内 (not found, or outside your region)"})
    children = await request.app[keys.DB].fetch(
        f"SELECT {COLUMNS} FROM regions WHERE parent_code = $1 ORDER BY code", code)
    out = _public(row)
    out["ancestors"] = row["path"].split(".")[:-1]
    out["children"] = [_public(c) for c in children]
    return json_response(out)
