"""Subsidised hours on the API (SPEC §5.4): an elder's month (programmes, budget, used, left,
ledger rows), corrections by a supervisor or admin, an operator's approval of more than an
item's standard duration for one order, and the over-budget answer of order creation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, elders, keys, settlement_rules, subsidy
from callcenter.errors import Conflict, NotFound, Unprocessable, json_response
from callcenter.http import json_body, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes
from dispatch import orders

routes = Routes("subsidy", "补贴服务时长 (subsidised home-care hours: balance and ledger)")
CORRECTORS = frozenset({"admin", "supervisor"})
_MONTH = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
MAX_CORRECTION_MIN = 31 * 24 * 60
MAX_REASON = 500
_MONTH_ERROR = "应为 YYYY-MM 格式的月份 (a month as YYYY-MM)"


def parse_month(raw: object) -> dt.date:
    """A YYYY-MM month as its first day; Unprocessable naming `month` otherwise."""
    match = _MONTH.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise Unprocessable(fields={"month": _MONTH_ERROR})
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def _this_month(request: web.Request) -> dt.date:
    return elders.today_in(request).replace(day=1)


async def month_view(db: Any, elder_id: int, month: dt.date) -> dict[str, Any]:
    b = await subsidy.balance(db, elder_id, month)
    return {"elder_id": elder_id, "month": month.strftime("%Y-%m"), "programmes": b.programmes,
            "eligible": bool(b.programmes), "budget_min": b.budget_min, "used_min": b.used_min,
            "left_min": b.left_min, "ledger": await subsidy.ledger(db, elder_id, month)}


@routes.get("/api/v1/elders/{id}/subsidy", name="elder_subsidy", roles=STAFF_ROLES,
            query=(Param("month", "月份 YYYY-MM，默认本月 (the month, YYYY-MM; default this "
                                  "month)"),),
            summary="老人本月补贴时长：项目、额度、已用、剩余与台账 (the elder's subsidised hours "
                    "for a month: programmes, budget, used, left, ledger rows)")
async def elder_subsidy(request: web.Request) -> web.Response:
    p = auth.principal(request)
    elder_id = path_id(request)
    raw = request.query.get("month")
    month = _this_month(request) if raw is None else parse_month(raw)
    db = request.app[keys.DB]
    await elders.fetch_in_scope(db, p, elder_id)  # 404 outside the user's region
    return json_response(await month_view(db, elder_id, month))


def _correction(data: dict[str, Any]) -> tuple[dt.date, int, str]:
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - {"month", "minutes",
                                                                       "reason"})}
    month: dt.date | None = None
    try:
        month = parse_month(data.get("month"))
    except Unprocessable:
        errors["month"] = _MONTH_ERROR
    minutes = data.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes == 0 \
            or abs(minutes) > MAX_CORRECTION_MIN:
        errors["minutes"] = (f"应为非零整数，绝对值不超过{MAX_CORRECTION_MIN} (a non-zero whole "
                             f"number of minutes, at most {MAX_CORRECTION_MIN} either way)")
    reason = _reason(data, errors, "更正必须写明原因 (a correction needs a reason)")
    assert month is not None and isinstance(minutes, int)
    return month, minutes, reason


def _reason(data: dict[str, Any], errors: dict[str, str], missing: str) -> str:
    """The body's reason, stripped; raises Unprocessable with it and the other `errors`."""
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = missing
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"不超过{MAX_REASON}字 (at most {MAX_REASON} characters)"
    if errors:
        raise Unprocessable(fields=errors)
    assert isinstance(reason, str)
    return reason.strip()


@routes.post("/api/v1/elders/{id}/subsidy/corrections", name="elder_subsidy_correct",
             roles=CORRECTORS, status=201,
             body={"type": "object", "required": ["month", "minutes", "reason"],
                   "properties": {"month": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"},
                                  "minutes": {"type": "integer"},
                                  "reason": {"type": "string", "maxLength": MAX_REASON}}},
             summary="补贴台账更正：追加一行，写明原因 (book a correction row to the subsidy "
                     "ledger, with a reason)")
async def elder_subsidy_correct(request: web.Request) -> web.Response:
    p = auth.principal(request)
    elder_id = path_id(request)
    data = await json_body(request)
    month, minutes, reason = _correction(data)
    db = request.app[keys.DB]
    await elders.fetch_in_scope(db, p, elder_id)
    async with db.acquire() as conn, conn.transaction():
        try:
            row = await subsidy.correct(conn, elder_id, month, minutes, reason, p.user_id)
        except subsidy.CorrectionRefused as exc:
            raise Unprocessable(fields={exc.field: exc.message}) from None
        await audit.write(conn, request, p.user_id, "subsidy.correct", "elder", elder_id,
                          {"month": month.strftime("%Y-%m"), "minutes": minutes,
                           "reason": reason, "ledger_id": row["id"]})
    out = await month_view(db, elder_id, row["month"])  # a closed month books to the next
    out["correction"] = row
    return json_response(out, status=201)


class OverBudget(Conflict):
    """409 from order creation: the month's hours left do not cover the item, and the body did
    not say the elder agreed to pay the rest (`self_pay_confirmed`)."""
    code = "over_budget"

    def __init__(self, quote: settlement_rules.OverBudget) -> None:
        super().__init__("本月补贴时长不足，超出部分需老人自费，请先征得老人同意 (the month's "
                         "subsidised hours do not cover this service: the elder pays the rest; "
                         "confirm they agree)")
        self.quote = quote

    def body(self) -> dict[str, Any]:
        return {**super().body(), "left_min": self.quote.left_min,
                "needed_min": self.quote.needed_min, "self_paid_min": self.quote.self_paid_min,
                "self_paid_cents": self.quote.self_paid_cents}


APPROVERS = frozenset({"admin", "supervisor", "operator"})
MAX_APPROVED_MIN = 24 * 60
APPROVE_BODY: dict[str, Any] = {
    "type": "object", "required": ["minutes", "reason"],
    "properties": {"minutes": {"type": "integer", "minimum": 2, "maximum": MAX_APPROVED_MIN},
                   "reason": {"type": "string", "maxLength": MAX_REASON}}}
_FINISHED = ("completed", "reviewed", "cancelled", "failed")


def _approval(data: dict[str, Any], standard_min: int) -> tuple[int, str]:
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - {"minutes", "reason"})}
    minutes = data.get("minutes")
    high = min(MAX_APPROVED_MIN, standard_min * 3)
    if isinstance(minutes, bool) or not isinstance(minutes, int) \
            or not standard_min < minutes <= high:
        errors["minutes"] = (f"应为{standard_min + 1}到{high}之间的整数：超过标准时长{standard_min}"
                             f"分钟，至多3倍 (a whole number of minutes from {standard_min + 1} "
                             f"to {high}: more than the item's standard {standard_min}, at most "
                             f"three times it)")
    reason = _reason(data, errors, "须写明原因 (a reason is required)")
    assert isinstance(minutes, int)
    return minutes, reason


@routes.post("/api/v1/orders/{id}/approved-minutes", name="order_approve_minutes",
             roles=APPROVERS, body=APPROVE_BODY,
             summary="批准本单超过项目标准时长的服务分钟数（须写原因；完成后改为台账更正） "
                     "(approve more minutes than the item's standard duration for one order, "
                     "with a reason; once completed, book a ledger correction instead)")
async def order_approve_minutes(request: web.Request) -> web.Response:
    p = auth.principal(request)
    order_id = path_id(request)
    data = await json_body(request)
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        # the check-out locks the order too: it debits with the approval or before it, never
        # half of each
        row = await conn.fetchrow(
            "SELECT o.id, o.state, o.approved_minutes, coalesce(i.duration_min, 0) AS standard"
            " FROM orders o JOIN regions r ON r.code = o.region_code"
            " LEFT JOIN service_items i ON i.code = o.item_code"
            f" WHERE o.id = $1 AND {auth.scope_sql(2)} FOR UPDATE OF o",
            order_id, *auth.scope_args(p))
        if row is None:
            raise NotFound(fields={"id": "工单不存在或不在您的辖区内 (no such order in your "
                                         "region)"})
        minutes, reason = _approval(data, row["standard"])
        if row["state"] in _FINISHED:
            raise Conflict("工单已结束，不能再批准时长；已完成的请做台账更正 (the order is "
                           "finished: approve no more minutes; correct the ledger instead)",
                           fields={"state": row["state"]})
        await conn.execute("UPDATE orders SET approved_minutes = $2, updated_at = clock_timestamp()"
                           " WHERE id = $1", order_id, minutes)
        detail = {"minutes": minutes, "standard_min": row["standard"], "reason": reason,
                  "previous": row["approved_minutes"]}
        await orders.record_event(conn, order_id, row["state"], row["state"], "approve_minutes",
                                  "operator", user_id=p.user_id, payload=detail)
        await audit.write(conn, request, p.user_id, "order.approve_minutes", "order", order_id,
                          detail)
    return json_response({"order_id": order_id, "approved_minutes": minutes,
                          "standard_min": row["standard"], "reason": reason})


async def record_self_pay(conn: asyncpg.Connection, order_id: int,
                          quote: settlement_rules.OverBudget, user_id: int | None) -> None:
    """The order's event row saying the elder agreed to pay what the subsidy does not cover."""
    state = await conn.fetchval("SELECT state FROM orders WHERE id = $1", order_id)
    await orders.record_event(conn, order_id, state, state, "self_pay_confirmed", "operator",
                              user_id=user_id, payload=dataclasses.asdict(quote))
