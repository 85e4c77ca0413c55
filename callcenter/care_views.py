"""Active care on the API (SPEC §5.3): the outbound work list, recording a call's outcome, the
month's plan on demand, and the visit rate per region. Every answer is limited to the user's
region."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from callcenter import alarms, audit, auth, care, care_outcome, keys
from callcenter import care_rules as rules
from callcenter.errors import Conflict, Forbidden, NotFound, Unprocessable, json_response
from callcenter.http import int_query, json_body, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.subsidy_views import parse_month
from callcenter.validation import Form, Invalid, boolean, choice, region_code_format, text

routes = Routes("care", "主动关爱：外呼工作单、结果、月度计划与探访率 (active care: the outbound work "
                        "list, outcomes, the monthly plan and the visit rate)")
PLANNERS = frozenset({"admin", "supervisor"})
MAX_NOTE = 500
MAX_WORKLIST = 200
_OUT_OF_REGION = "不在您的辖区内 (outside your region)"

OUTCOME_BODY: dict[str, Any] = {
    "type": "object", "required": ["outcome", "method"],
    "properties": {
        "outcome": {"type": "string", "enum": list(rules.OUTCOMES)},
        "method": {"type": "string", "enum": list(rules.METHODS)},
        "note": {"type": "string", "maxLength": MAX_NOTE},
        "item_code": {"type": "string", "description": "需要服务时必填 (required with needs_service)"},
        "contact_reached": {"type": "boolean"},
    },
}
PLAN_BODY: dict[str, Any] = {
    "type": "object", "required": ["month"],
    "properties": {"month": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"}},
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@routes.get("/api/v1/care/worklist", name="care_worklist", roles=STAFF_ROLES,
            query=(Param("limit", "条数 1-200，默认50 (items, 1-200, default 50)", "integer"),),
            summary="外呼工作单：本人的任务在前（到期优先），然后是辖区内未分配的任务 (the outbound "
                    "work list: the operator's own tasks first, due ones first, then unassigned "
                    "tasks of the region)")
async def care_worklist(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit = int_query(request, "limit", 50, 1, MAX_WORKLIST)
    assert limit is not None
    db = request.app[keys.DB]
    s = request.app[keys.SETTINGS]
    out = await care.worklist(db, region_path=p.region_path,
                              operator_id=p.user_id if p.role == "operator" else None,
                              now=_now(), limit=limit, tz=s.tz)
    if out["items"]:  # contacts and addresses of these elders were shown: audited
        await audit.write(db, request, p.user_id, "care.worklist", "elder", None,
                          {"elder_ids": [i["elder"]["id"] for i in out["items"]]})
    return json_response(out)


def _outcome_form(data: dict[str, Any]) -> dict[str, Any]:
    form = Form(data)
    form.unknown(OUTCOME_BODY["properties"])
    outcome = form.field("outcome", lambda v: choice(v, rules.OUTCOMES))
    form.field("method", lambda v: choice(v, rules.METHODS))
    form.field("note", lambda v: text(v, max_len=MAX_NOTE, min_len=0), required=False,
               default="")
    form.field("item_code", _item_code, required=outcome == "needs_service")
    form.field("contact_reached", boolean, required=False)
    return form.result()


def _item_code(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("应为服务项目编码 (a service item code)")
    return value.strip()


@routes.post("/api/v1/care/tasks/{id}/outcome", name="care_outcome", roles=STAFF_ROLES,
             body=OUTCOME_BODY,
             summary="记录一次关爱外呼结果：平安 / 需要服务（生成工单）/ 需要关注（生成警情）/ "
                     "未接通（按阶梯重试，之后联系人、上门探访） (record a care call's outcome: "
                     "well / needs a service (an order) / needs attention (an alarm) / "
                     "unreachable (retry ladder, then contacts, then a home visit))")
async def care_task_outcome(request: web.Request) -> web.Response:
    p = auth.principal(request)
    task_id = path_id(request)
    data = _outcome_form(await json_body(request))
    db = request.app[keys.DB]
    s = request.app[keys.SETTINGS]
    path = await db.fetchval("SELECT r.path FROM outreach_tasks t JOIN regions r"
                             " ON r.code = t.region_code WHERE t.id = $1", task_id)
    if path is None:
        raise NotFound(fields={"id": "任务不存在 (no such task)"})
    if not p.covers(path):
        raise Forbidden(_OUT_OF_REGION, fields={"id": _OUT_OF_REGION})
    item = data.get("item_code")
    if data["outcome"] == "needs_service" and not await db.fetchval(
            "SELECT active FROM service_items WHERE code = $1", item):
        raise Unprocessable(fields={"item_code": "服务项目不存在或已停用 (no such active service "
                                                 "item)"})
    try:
        async with db.acquire() as conn, conn.transaction():
            out = await care_outcome.record_outcome(
                conn, task_id, user_id=p.user_id, outcome=data["outcome"],
                method=data["method"], note=data["note"] or "", now=_now(),
                timings=alarms.Timings(offer_s=s.alarm_offer_s, city_s=s.alarm_city_s),
                cfg=care.config(s), item_code=item if data["outcome"] == "needs_service"
                else None, contact_reached=data.get("contact_reached"),
                take=p.role == "operator")
    except care_outcome.TaskNotFound:
        raise NotFound(fields={"id": "任务不存在 (no such task)"}) from None
    except care_outcome.TaskClosed as exc:
        raise Conflict(str(exc), fields={"state": str(exc)}) from None
    except care_outcome.OutcomeRefused as exc:
        raise Unprocessable(fields={exc.field: exc.message}) from None
    return json_response(out)


@routes.post("/api/v1/care/plan", name="care_plan", roles=PLANNERS, body=PLAN_BODY,
             summary="生成（补全）本辖区某月的关爱探访计划；可重复调用，只增加新到期的老人 "
                     "(generate or top up the month's visit plan of your region; idempotent: "
                     "a re-run adds only newly due elders)")
async def care_plan(request: web.Request) -> web.Response:
    p = auth.principal(request)
    data = await json_body(request)
    unknown = sorted(set(data) - {"month"})
    if unknown:
        raise Unprocessable(fields={k: "未知字段 (unknown field)" for k in unknown})
    month = parse_month(data.get("month"))
    s = request.app[keys.SETTINGS]
    # the whole city's plan is what the worker checks for; a region's is a top-up
    region = None if "." not in p.region_path else p.region_code
    out = await care.generate_month_plan(request.app[keys.DB], month, _now(), region,
                                         cfg=care.config(s))
    return json_response(out)


@routes.get("/api/v1/care/visit-rate", name="care_visit_rate", roles=STAFF_ROLES,
            query=(Param("month", "月份 YYYY-MM，默认本月 (the month, YYYY-MM; default this "
                                  "month)"),
                   Param("region", "行政区划代码，默认本人辖区 (region code; default your "
                                   "region)")),
            summary="月度探访率（已探访÷应探访），按下级区域分列，并列出尚未联系上的老人 (the "
                    "month's visit rate, visited ÷ due, per child region, with the elders not "
                    "yet reached)")
async def care_visit_rate(request: web.Request) -> web.Response:
    p = auth.principal(request)
    s = request.app[keys.SETTINGS]
    raw = request.query.get("month")
    month = _now().astimezone(s.tz).date().replace(day=1) if raw is None else parse_month(raw)
    code = request.query.get("region") or p.region_code
    try:
        code = region_code_format(code)
    except Invalid as exc:
        raise Unprocessable(fields={"region": exc.reason}) from None
    db = request.app[keys.DB]
    path = await db.fetchval("SELECT path FROM regions WHERE code = $1", code)
    if path is None:
        raise NotFound(fields={"region": "行政区划不存在 (no such region)"})
    if not p.covers(path):
        raise Forbidden(_OUT_OF_REGION, fields={"region": _OUT_OF_REGION})
    return json_response(await care.visit_rate(db, month, code, tz=s.tz))
