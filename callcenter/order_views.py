"""The order API for consoles (SPEC §5.2): create an order (from a call or on its own), the
order board, one order with its timeline and offers, and the operators' interventions: manual
dispatch of a no_candidate order, requeue, release, cancel with reason, fail, review."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import auth, keys, subsidy, subsidy_views
from callcenter.errors import Conflict, NotFound, Unprocessable, json_response
from callcenter.http import json_body, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import Form, Invalid, ValidationError, boolean, integer, text
from dispatch import offers, orders, states

routes = Routes("orders", "服务工单与派单 (service orders and dispatch)")
ACTORS = frozenset({"admin", "operator"})
MAX_AHEAD = dt.timedelta(days=90)

CREATE_BODY: dict[str, Any] = {
    "type": "object", "required": ["elder_id", "item_code"],
    "properties": {
        "elder_id": {"type": "integer"}, "item_code": {"type": "string"},
        "window_start": {"type": "string", "format": "date-time"},
        "window_end": {"type": "string", "format": "date-time"},
        "note": {"type": "string", "maxLength": 500}, "call_id": {"type": "integer"},
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "self_pay_confirmed": {"type": "boolean"},
    },
}
REASON_BODY: dict[str, Any] = {
    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}}
ASSIGN_BODY: dict[str, Any] = {
    "type": "object", "required": ["staff_id"],
    "properties": {"staff_id": {"type": "integer"},
                   "reason": {"type": "string", "maxLength": 500}}}


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def timestamp(tz: dt.tzinfo) -> Any:
    def check(value: Any) -> dt.datetime:
        if not isinstance(value, str):
            raise Invalid("应为时间，如 2026-11-24T09:00+08:00 (must be a date-time)")
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid("时间格式无效，如 2026-11-24T09:00+08:00 (not a valid date-time)"
                          ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return check


def refused(exc: orders.OrderRefused) -> Exception:
    """409 for a step the order's state does not allow; 422 for facts (distance, capacity)."""
    fields = {str(exc.detail.get("field", "state")): str(exc)}
    if exc.code in ("wrong_state", "final", "offer_taken", "offer_expired", "offer_answered",
                    "not_permitted"):
        return Conflict(str(exc), fields=fields)
    return _Refused(str(exc), fields=fields,
                    detail={k: v for k, v in exc.detail.items() if k != "field"})


class _Refused(Unprocessable):
    """422 with the facts that refused the step (e.g. distance_m and limit_m at check-in)."""

    def __init__(self, message: str, *, fields: dict[str, str], detail: dict[str, Any]) -> None:
        super().__init__(message, fields=fields)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        return {**super().body(), **self.detail}


def not_found() -> NotFound:
    return NotFound(fields={"id": "工单不存在或不在您的辖区内 (no such order in your region)"})


async def in_scope(db: asyncpg.Pool, p: auth.Principal, order_id: int) -> asyncpg.Record:
    row = await db.fetchrow(orders.CARD_SQL + f" WHERE o.id = $1 AND {auth.scope_sql(2)}",
                            order_id, *auth.scope_args(p))
    if row is None:
        raise not_found()
    return row


@routes.post("/api/v1/orders", name="order_create", roles=ACTORS, body=CREATE_BODY, status=201,
             summary="创建工单（可关联来电）；无时间窗即刻派单，有时间窗则到点派单 (create an order, "
                     "optionally from a call; dispatched now, or when its window opens)")
async def order_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db, s = request.app[keys.DB], request.app[keys.SETTINGS]
    form = Form(await json_body(request))
    form.unknown(CREATE_BODY["properties"])
    elder_id = form.field("elder_id", lambda v: integer(v, low=1, high=2**62))
    item_code = form.field("item_code", lambda v: text(v, max_len=10))
    start = form.field("window_start", timestamp(s.tz), required=False)
    end = form.field("window_end", timestamp(s.tz), required=False)
    note = form.field("note", lambda v: text(v, max_len=500, min_len=0), required=False,
                      default="")
    call_id = form.field("call_id", lambda v: integer(v, low=1, high=2**62), required=False)
    priority = form.field("priority", lambda v: integer(v, low=1, high=5), required=False,
                          default=3)
    self_pay = form.field("self_pay_confirmed", boolean, required=False, default=False)
    now = now_utc()
    if (start is None) != (end is None) and "window_start" not in form.errors \
            and "window_end" not in form.errors:
        form.error("window_end" if end is None else "window_start",
                   "时间窗需同时给出开始和结束 (give both ends of the window)")
    if start is not None and end is not None:
        if end <= start:
            form.error("window_end", "结束应晚于开始 (must be after the start)")
        elif end <= now:
            form.error("window_end", "时间窗已过 (the window is already over)")
        elif start > now + MAX_AHEAD:
            form.error("window_start", "最多提前90天 (at most 90 days ahead)")
    form.result()
    await _check_refs(db, p, form, elder_id, item_code, call_id)
    # over budget, the elder is told before the order exists (plans' orders are not asked: the
    # plan was agreed once, and dispatch/plans.py creates its visits directly)
    visit_month = (start or now).astimezone(s.tz).date()
    quote = await subsidy.over_budget(db, elder_id, item_code, visit_month)
    if quote is not None and not self_pay:
        raise subsidy_views.OverBudget(quote)
    async with db.acquire() as conn, conn.transaction():
        order_id = await orders.create(
            conn, elder_id=elder_id, item_code=item_code, now=now, note=note, priority=priority,
            window=(start, end) if start and end else None, call_id=call_id, user_id=p.user_id,
            source="console" if request.headers.get("X-Requested-With") else "api")
        assert order_id is not None
        if quote is not None:
            await subsidy_views.record_self_pay(conn, order_id, quote, p.user_id)
    assert order_id is not None
    return json_response(await orders.load_card(db, order_id), status=201)


async def _check_refs(db: asyncpg.Pool, p: auth.Principal, form: Form, elder_id: int,
                      item_code: str, call_id: int | None) -> None:
    elder = await db.fetchrow(
        f"SELECT e.status FROM elders e JOIN regions r ON r.code = e.region_code"
        f" WHERE e.id = $1 AND {auth.scope_sql(2)}", elder_id, *auth.scope_args(p))
    if elder is None:
        form.error("elder_id", "老人不存在或不在您的辖区内 (no such elder in your region)")
    elif elder["status"] != "active":
        form.error("elder_id", f"老人档案状态为 {elder['status']}，不能派单 (the elder's record is "
                               f"{elder['status']})")
    item = await db.fetchrow("SELECT active FROM service_items WHERE code = $1", item_code)
    if item is None or not item["active"]:
        form.error("item_code", "服务项目不存在或已停用 (no such active service item)")
    if call_id is not None and not await db.fetchval(
            "SELECT true FROM calls WHERE id = $1 AND (elder_id IS NULL OR elder_id = $2)",
            call_id, elder_id):
        form.error("call_id", "来电记录不存在或不是这位老人的 (no such call for this elder)")
    form.result()


@routes.get("/api/v1/orders", name="orders_list", roles=STAFF_ROLES,
            query=(Param("state", "a state, 'active' (default) or 'all'"),
                   Param("elder_id", "only this elder's orders", "integer"),
                   Param("limit", "1-500 (default 200)", "integer")),
            summary="辖区工单看板 (the order board of your region, newest first)")
async def orders_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    which = request.query.get("state", "active")
    errors: dict[str, str] = {}
    if which not in ("active", "all", *states.STATES):
        errors["state"] = "应为 active、all 或一个工单状态 (must be active, all or an order state)"
    raw_limit = request.query.get("limit", "200")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        errors["limit"] = "应为1到500的整数 (must be 1-500)"
    elder = request.query.get("elder_id", "")
    if elder and (not elder.isdigit() or len(elder) > 18):
        errors["elder_id"] = "应为整数 (must be a whole number)"
    if errors:
        raise ValidationError(errors)
    where: list[str] = [auth.scope_sql(1)]
    args: list[Any] = list(auth.scope_args(p))
    if which == "active":
        args.append(list(states.ACTIVE_STATES))
        where.append(f"o.state = ANY(${len(args)}::text[])")
    elif which != "all":
        args.append(which)
        where.append(f"o.state = ${len(args)}")
    if elder:
        args.append(int(elder))
        where.append(f"o.elder_id = ${len(args)}")
    rows = await request.app[keys.DB].fetch(
        orders.CARD_SQL + " WHERE " + " AND ".join(where)
        + f" ORDER BY o.id DESC LIMIT {int(raw_limit)}", *args)
    return json_response({"items": [orders.card(r) for r in rows]})


@routes.get("/api/v1/orders/{id}", name="order_detail", roles=STAFF_ROLES,
            summary="一张工单：时间线（每一步的时间与操作人）与推送记录 (one order with its timeline "
                    "— every event with time and actor — and its offers)")
async def order_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    row = await in_scope(db, p, path_id(request))
    out = orders.card(row)
    out["timeline"] = await orders.timeline(db, row["id"])
    out["offers"] = [dict(o) for o in await db.fetch(
        "SELECT f.id, f.staff_id, s.name AS staff_name, f.state, f.score, f.distance_m,"
        " f.offered_at, f.expires_at, f.answered_at, f.reason FROM offers f"
        " JOIN staff s ON s.id = f.staff_id WHERE f.order_id = $1 ORDER BY f.id", row["id"])]
    return json_response(out)


@routes.get("/api/v1/orders/{id}/candidates", name="order_candidates", roles=ACTORS,
            summary="人工派单候选人：具备该技能的在职服务人员，按距离排序 (staff an operator may "
                    "assign by hand: active, with the item's skill, nearest first)")
async def order_candidates(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    row = await in_scope(db, p, path_id(request))
    rows = await db.fetch(
        "SELECT s.id, s.name, s.phone, s.capacity, pr.name AS provider_name,"
        " coalesce(st.on_shift, false) AS on_shift,"
        " (SELECT count(*) FROM orders o WHERE o.staff_id = s.id"
        "   AND o.state = ANY($2::text[]))::int AS load,"
        " round(CASE WHEN s.home_lat IS NULL OR $3::float8 IS NULL THEN NULL ELSE"
        "  6371000 * 2 * asin(sqrt(power(sin(radians(s.home_lat - $3) / 2), 2)"
        "  + cos(radians($3)) * cos(radians(s.home_lat))"
        "  * power(sin(radians(s.home_lon - $4) / 2), 2))) END) AS home_distance_m"
        " FROM staff s JOIN providers pr ON pr.id = s.provider_id"
        " JOIN staff_skills k ON k.staff_id = s.id AND k.skill_code = $1"
        " LEFT JOIN staff_status st ON st.staff_id = s.id"
        " WHERE s.active AND pr.active"
        " ORDER BY home_distance_m NULLS LAST, s.id LIMIT 30",
        row["skill_code"], list(states.ASSIGNED_STATES), row["lat"], row["lon"])
    return json_response({"items": [dict(r) for r in rows]})


async def _operator(request: web.Request, event: str, body: dict[str, Any]) -> web.Response:
    p = auth.principal(request)
    app = request.app
    db = app[keys.DB]
    order_id = path_id(request)
    await in_scope(db, p, order_id)
    form = Form(await json_body(request))
    form.unknown(body["properties"])
    needs_reason = event in ("cancel", "fail", "release")
    reason = form.field("reason", lambda v: text(v, max_len=500), required=needs_reason,
                        default="")
    staff_id = None
    if event == "assign":
        staff_id = form.field("staff_id", lambda v: integer(v, low=1, high=2**62))
    form.result()
    try:
        data = await offers.operator_step(db, app[keys.REDIS], order_id, p.user_id, event,
                                          now_utc(), reason=reason, staff_id=staff_id,
                                          settings=app[keys.SETTINGS])
    except orders.OrderRefused as exc:
        raise refused(exc) from None
    return json_response(data)


def _operator_route(event: str, summary: str, body: dict[str, Any]) -> None:
    async def handler(request: web.Request) -> web.Response:
        return await _operator(request, event, body)
    handler.__name__ = f"order_{event}"
    routes.post(f"/api/v1/orders/{{id}}/{event}", name=f"order_{event}", roles=ACTORS,
                body=body, summary=summary)(handler)


_operator_route("cancel", "取消工单，须填原因 (cancel with a reason)", REASON_BODY)
_operator_route("assign", "人工派单给指定服务人员 (manual dispatch to a chosen staff member)",
                ASSIGN_BODY)
_operator_route("requeue", "无人可派的工单重新派单 (send a no_candidate order back to the "
                           "dispatch queue)", REASON_BODY)
_operator_route("release", "收回已接的工单并重新派单，须填原因 (take an accepted job back and "
                           "dispatch it again, with a reason)", REASON_BODY)
_operator_route("fail", "标记工单未完成，须填原因 (mark the job failed, with a reason)",
                REASON_BODY)
_operator_route("review", "回访完成 (follow-up call done: the order is reviewed)", REASON_BODY)
