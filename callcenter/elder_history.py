"""An elder's whole history on one timeline (issue 6): calls, alarms, service orders and the home
visits they made (check-in to check-out), newest first. For the console's elder profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import auth, elders, keys
from callcenter.errors import Unprocessable, json_response
from callcenter.http import path_id
from callcenter.routing import STAFF_ROLES, Param, Routes

routes = Routes("elder-history", "老人服务记录 (an elder's history: calls, alarms, orders, visits)")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500

# One row per thing that happened; `at` orders the timeline. A completed visit is its own row
# (when the carer checked in), beside the order it belongs to (when it was created).
_HISTORY = """
SELECT * FROM (
    SELECT 'call' AS type, c.id, c.ringing_at AS at, c.state, c.ani AS detail,
           u.display_name AS who, NULL::text AS item_name, NULL::text AS item_name_en,
           NULL::timestamptz AS until, c.alarm_id, c.order_id
    FROM calls c LEFT JOIN users u ON u.id = c.operator_id WHERE c.elder_id = $1
  UNION ALL
    SELECT 'alarm', a.id, a.created_at, a.state, a.kind, u.display_name, NULL, NULL,
           a.resolved_at, NULL, a.order_id
    FROM alarms a LEFT JOIN users u ON u.id = a.acknowledged_by WHERE a.elder_id = $1
  UNION ALL
    SELECT 'order', o.id, o.created_at, o.state, coalesce(o.reason, ''), st.name, i.name_zh,
           i.name_en, o.window_start, o.alarm_id, NULL
    FROM orders o LEFT JOIN service_items i ON i.code = o.item_code
    LEFT JOIN staff st ON st.id = o.staff_id WHERE o.elder_id = $1
  UNION ALL
    SELECT 'visit', o.id, o.checked_in_at, o.state, coalesce(o.checkout_note, ''), st.name,
           i.name_zh, i.name_en, o.checked_out_at, NULL, NULL
    FROM orders o LEFT JOIN service_items i ON i.code = o.item_code
    LEFT JOIN staff st ON st.id = o.staff_id
    WHERE o.elder_id = $1 AND o.checked_in_at IS NOT NULL
) h ORDER BY at DESC, type, id DESC LIMIT $2
"""


def entry(row: asyncpg.Record) -> dict[str, Any]:
    d = dict(row)
    out: dict[str, Any] = {"type": d["type"], "id": d["id"], "at": d["at"], "state": d["state"],
                           "who": d["who"]}
    if d["type"] == "call":
        out.update(ani=d["detail"], alarm_id=d["alarm_id"], order_id=d["order_id"])
    elif d["type"] == "alarm":
        out.update(kind=d["detail"], resolved_at=d["until"], order_id=d["order_id"])
    else:
        out.update(item={"name": d["item_name"], "name_en": d["item_name_en"]})
        if d["type"] == "order":
            out.update(reason=d["detail"] or None, window_start=d["until"],
                       alarm_id=d["alarm_id"])
        else:
            out.update(order_id=d["id"], note=d["detail"] or None, checked_out_at=d["until"],
                       duration_s=None if d["until"] is None else int(
                           (d["until"] - d["at"]).total_seconds()))
    return out


async def history(db: asyncpg.Pool | asyncpg.Connection, elder_id: int,
                  limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    return [entry(r) for r in await db.fetch(_HISTORY, elder_id, limit)]


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise Unprocessable(fields={"limit": f"应为1到{MAX_LIMIT}的整数 (a whole number "
                                             f"1-{MAX_LIMIT})"})
    return int(raw)


@routes.get("/api/v1/elders/{id}/history", name="elder_history", roles=STAFF_ROLES,
            query=(Param("limit", f"at most this many entries (default {DEFAULT_LIMIT})"),),
            summary="老人的来电、警情、工单与上门服务记录，按时间倒序 (the elder's calls, alarms, "
                    "orders and home visits, newest first)")
async def elder_history(request: web.Request) -> web.Response:
    p = auth.principal(request)
    elder_id = path_id(request)
    limit = _limit(request)
    db = request.app[keys.DB]
    await elders.fetch_in_scope(db, p, elder_id)  # 404 outside the user's region
    items = await history(db, elder_id, limit)
    return json_response({"elder_id": elder_id, "items": items,
                          "as_of": dt.datetime.now(dt.UTC)})
