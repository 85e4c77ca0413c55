"""Recurring care plans (family care beds, SPEC §5.2): an item on given weekdays in a time
window, e.g. bathing every Tuesday 9-11 or meals daily. Workers create each visit's order ahead
of time (ANXIN_PLAN_HORIZON_DAYS); a visit not started by the end of its window raises a
missed-visit alert."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from callcenter import auth, keys
from callcenter.errors import NotFound, json_response
from callcenter.http import json_body, path_id
from callcenter.order_views import now_utc
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import Form, Invalid, ValidationError, integer, text
from dispatch import housekeeping

routes = Routes("plans", "居家照护计划 (recurring care plans)")
ACTORS = frozenset({"admin", "operator"})
PLAN_BODY: dict[str, Any] = {
    "type": "object", "required": ["elder_id", "item_code", "weekdays", "start_time", "end_time"],
    "properties": {
        "elder_id": {"type": "integer"}, "item_code": {"type": "string"},
        "weekdays": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 7},
                     "description": "ISO weekdays, 1 Monday .. 7 Sunday"},
        "start_time": {"type": "string", "example": "09:00"},
        "end_time": {"type": "string", "example": "11:00"},
        "valid_from": {"type": "string", "format": "date"},
        "valid_until": {"type": "string", "format": "date"},
        "note": {"type": "string", "maxLength": 500},
    },
}
PLAN_SQL = """
SELECT c.id, c.elder_id, e.name AS elder_name, c.item_code, i.name_zh AS item_name,
       i.name_en AS item_name_en, c.weekdays, to_char(c.start_time, 'HH24:MI') AS start_time,
       to_char(c.end_time, 'HH24:MI') AS end_time, c.valid_from, c.valid_until, c.note, c.active,
       c.generated_until, c.created_at
FROM care_plans c JOIN elders e ON e.id = c.elder_id JOIN regions r ON r.code = e.region_code
JOIN service_items i ON i.code = c.item_code
"""


def _weekdays(value: Any) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= 7:
        raise Invalid("应为1到7个星期几（1=周一…7=周日）(1-7 ISO weekdays, 1 Monday .. 7 Sunday)")
    days = sorted({integer(v, low=1, high=7) for v in value})
    return days


def _clock(value: Any) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value).strip())
    except ValueError:
        raise Invalid("时间格式应为 HH:MM (time must be HH:MM)") from None


def _date(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise Invalid("日期格式应为 YYYY-MM-DD (date must be YYYY-MM-DD)") from None


@routes.post("/api/v1/plans", name="plan_create", roles=ACTORS, body=PLAN_BODY, status=201,
             summary="新建周期服务计划，随即生成未来几天的工单 (create a recurring plan; its orders "
                     "for the coming days are made at once)")
async def plan_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    app = request.app
    db, s = app[keys.DB], app[keys.SETTINGS]
    form = Form(await json_body(request))
    form.unknown(PLAN_BODY["properties"])
    elder_id = form.field("elder_id", lambda v: integer(v, low=1, high=2**62))
    item_code = form.field("item_code", lambda v: text(v, max_len=10))
    weekdays = form.field("weekdays", _weekdays)
    start = form.field("start_time", _clock)
    end = form.field("end_time", _clock)
    today = dt.datetime.now(s.tz).date()
    valid_from = form.field("valid_from", _date, required=False, default=today)
    valid_until = form.field("valid_until", _date, required=False)
    note = form.field("note", lambda v: text(v, max_len=500, min_len=0), required=False,
                      default="")
    if start and end and end <= start:
        form.error("end_time", "结束应晚于开始 (must be after the start)")
    if valid_from and valid_until and valid_until < valid_from:
        form.error("valid_until", "应不早于开始日期 (must not be before valid_from)")
    form.result()
    if not await db.fetchval(f"SELECT true FROM elders e JOIN regions r ON r.code = e.region_code"
                             f" WHERE e.id = $1 AND e.status = 'active' AND {auth.scope_sql(2)}",
                             elder_id, *auth.scope_args(p)):
        raise ValidationError({"elder_id": "老人不存在或不在您的辖区内 (no such elder in your "
                                           "region)"})
    if not await db.fetchval("SELECT active FROM service_items WHERE code = $1", item_code):
        raise ValidationError({"item_code": "服务项目不存在或已停用 (no such active service item)"})
    plan_id = await db.fetchval(
        "INSERT INTO care_plans (elder_id, item_code, weekdays, start_time, end_time, valid_from,"
        " valid_until, note, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        elder_id, item_code, weekdays, start, end, valid_from, valid_until, note, p.user_id)
    row = await db.fetchrow("SELECT * FROM care_plans WHERE id = $1", plan_id)
    now = now_utc()
    horizon = today + dt.timedelta(days=s.plan_horizon_days)
    made = await housekeeping.generate_plan(db, s, row, now, today, horizon)
    out = dict(await db.fetchrow(PLAN_SQL + " WHERE c.id = $1", plan_id))
    out["orders_created"] = made
    return json_response(out, status=201)


@routes.get("/api/v1/plans", name="plans_list", roles=STAFF_ROLES,
            query=(Param("elder_id", "only this elder's plans", "integer"),),
            summary="辖区内的周期服务计划 (recurring plans in your region)")
async def plans_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    args: list[Any] = list(auth.scope_args(p))
    where = auth.scope_sql(1)
    elder = request.query.get("elder_id", "")
    if elder:
        if not elder.isdigit() or len(elder) > 18:
            raise ValidationError({"elder_id": "应为整数 (must be a whole number)"})
        args.append(int(elder))
        where += f" AND c.elder_id = ${len(args)}"
    rows = await request.app[keys.DB].fetch(
        PLAN_SQL + f" WHERE {where} ORDER BY c.id DESC LIMIT 500", *args)
    return json_response({"items": [dict(r) for r in rows]})


@routes.post("/api/v1/plans/{id}/stop", name="plan_stop", roles=ACTORS,
             summary="停止计划：不再生成新工单，已生成的照常 (stop a plan: no new orders; those "
                     "already made stay)")
async def plan_stop(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    plan_id = path_id(request)
    found = await db.fetchval(
        f"UPDATE care_plans c SET active = false FROM elders e JOIN regions r ON r.code ="
        f" e.region_code WHERE c.id = $1 AND e.id = c.elder_id AND {auth.scope_sql(2)}"
        f" RETURNING c.id", plan_id, *auth.scope_args(p))
    if found is None:
        raise NotFound(fields={"id": "计划不存在或不在您的辖区内 (no such plan in your region)"})
    return json_response(dict(await db.fetchrow(PLAN_SQL + " WHERE c.id = $1", plan_id)))
