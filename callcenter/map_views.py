"""The console map's data (SPEC §6, §7 "Offline"): provider staff on shift with their last known
location, converted to GCJ-02 for drawing. Alarms and orders reach the map over the live channel;
district outlines are a static file (web/static/data/weihai.geojson)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from callcenter import auth, geo, keys
from callcenter.errors import json_response
from callcenter.providers import provider_scope
from callcenter.routing import STAFF_ROLES, Routes
from dispatch import staff_index, states

routes = Routes("map", "控制台地图 (console map)")
MAX_STAFF = 5000  # a city's staff on shift at once; beyond it the map says "truncated"
REFRESH_S = 30  # how often the console asks again (staff ping every minute or so)

_ON_SHIFT = """
SELECT s.id, s.name, s.phone, s.capacity, s.provider_id, p.name AS provider_name,
       p.region_code AS provider_region,
       (SELECT count(*) FROM orders o WHERE o.staff_id = s.id
          AND o.state = ANY(${load}::text[]))::int AS load
FROM staff s JOIN staff_status st ON st.staff_id = s.id
JOIN providers p ON p.id = s.provider_id JOIN regions r ON r.code = p.region_code
WHERE st.on_shift AND s.active AND p.active AND {scope}
ORDER BY s.id LIMIT {limit}
"""


def staff_point(lat: str | None, lon: str | None, at: str | None) -> dict[str, Any] | None:
    """A Redis location (WGS-84 strings, epoch seconds) as the map draws it, or None."""
    if lat is None or lon is None:
        return None
    glat, glon = geo.wgs84_to_gcj02(float(lat), float(lon))
    return {"lat_gcj02": round(glat, 6), "lon_gcj02": round(glon, 6),
            "at": dt.datetime.fromtimestamp(float(at), dt.UTC) if at else None}


@routes.get("/api/v1/map/staff", name="map_staff", roles=STAFF_ROLES,
            summary="地图：辖区内在班服务人员及其最近位置（GCJ-02）(map: provider staff on shift "
                    "in my region with their last location, GCJ-02)")
async def map_staff(request: web.Request) -> web.Response:
    p = auth.principal(request)
    app = request.app
    scope, args = provider_scope(p, 1)
    sql = _ON_SHIFT.format(scope=scope, load=len(args) + 1, limit=MAX_STAFF + 1)
    rows = await app[keys.DB].fetch(sql, *args, list(states.ASSIGNED_STATES))
    truncated = len(rows) > MAX_STAFF
    rows = rows[:MAX_STAFF]
    r, s = app[keys.REDIS], app[keys.SETTINGS]
    located: list[Any] = []
    if rows:
        async with r.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.hmget(staff_index.hash_key(s, row["id"]), ["lat", "lon", "located_at"])
            located = await pipe.execute()
    items = []
    for row, (lat, lon, at) in zip(rows, located, strict=True):
        item = dict(row)
        item["location"] = staff_point(lat, lon, at)
        items.append(item)
    return json_response({"items": items, "truncated": truncated, "refresh_s": REFRESH_S})
