"""Subsidised hours on the API (SPEC §5.4): an elder's month (programmes, budget, used, left,
ledger rows) and corrections by a supervisor or admin."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from callcenter import audit, auth, elders, keys, subsidy
from callcenter.errors import Unprocessable, json_response
from callcenter.http import json_body, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes

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
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        errors["reason"] = "更正必须写明原因 (a correction needs a reason)"
    elif len(reason) > MAX_REASON:
        errors["reason"] = f"不超过{MAX_REASON}字 (at most {MAX_REASON} characters)"
    if errors:
        raise Unprocessable(fields=errors)
    assert month is not None and isinstance(minutes, int) and isinstance(reason, str)
    return month, minutes, reason.strip()


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
    out = await month_view(db, elder_id, month)
    out["correction"] = row
    return json_response(out, status=201)
