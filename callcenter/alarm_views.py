"""The alarm API for consoles: the queue, one alarm with its history, acknowledge, handling
steps, resolve, close; operators' duty and availability; the day's answer figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web
from redis.exceptions import RedisError

from callcenter import alarm_rules as rules
from callcenter import alarms, auth, keys, outbox, redis_state
from callcenter.errors import Conflict, NotFound, json_response
from callcenter.http import json_body, path_id
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import Form, Invalid, ValidationError, boolean, choice, text

routes = Routes("alarms", "紧急警情与坐席 (emergency alarms and operators)")
HANDLERS = frozenset({"admin", "operator"})
OPEN = "a.state <> 'closed'"  # resolved but not closed is still on the operator's desk

ACTION_BODY: dict[str, Any] = {
    "type": "object", "required": ["action"],
    "properties": {
        "action": {"type": "string", "enum": list(alarms.ACTIONS)},
        "note": {"type": "string", "maxLength": 2000},
        "result": {"type": "string", "enum": ["reached", "no_answer", "busy", "wrong_number"]},
        "contact_position": {"type": "integer", "minimum": 1},
        "service": {"type": "string", "enum": ["120", "110", "119"]},
    },
}
RESOLVE_BODY: dict[str, Any] = {
    "type": "object", "required": ["outcome"],
    "properties": {"outcome": {"type": "string", "enum": list(rules.OUTCOMES)},
                   "note": {"type": "string", "maxLength": 2000}},
}
PRESENCE_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"on_duty": {"type": "boolean"}, "available": {"type": "boolean"}},
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _today(request: web.Request) -> dt.date:
    return dt.datetime.now(request.app[keys.SETTINGS].tz).date()


async def _in_scope(db: asyncpg.Pool, p: auth.Principal, alarm_id: int) -> asyncpg.Record:
    row = await db.fetchrow(alarms.CARD_SQL + f" WHERE a.id = $1 AND {auth.scope_sql(2)}",
                            alarm_id, *auth.scope_args(p))
    if row is None:
        raise NotFound(fields={"id": "警情不存在或不在您的辖区内 (not found, or outside your region)"})
    return row


@routes.get("/api/v1/alarms", name="alarms_list", roles=STAFF_ROLES,
            query=(Param("state", "open (default) or all"),
                   Param("limit", "1-500 (default 200)", "integer")),
            summary="辖区警情队列，按优先级和时间排序 (alarm queue of your region, most urgent "
                    "and oldest first)")
async def alarms_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    which = request.query.get("state", "open")
    if which not in ("open", "all"):
        raise ValidationError({"state": "应为 open 或 all (must be open or all)"})
    raw_limit = request.query.get("limit", "200")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        raise ValidationError({"limit": "应为1到500的整数 (must be 1-500)"})
    where = f"{auth.scope_sql(1)}" + (f" AND {OPEN}" if which == "open" else "")
    order = "a.priority, a.created_at" if which == "open" else "a.created_at DESC"
    rows = await request.app[keys.DB].fetch(
        alarms.CARD_SQL + f" WHERE {where} ORDER BY {order} LIMIT {int(raw_limit)}",
        *auth.scope_args(p))
    today = _today(request)
    return json_response({"items": [alarms.card(r, today) for r in rows]})


@routes.get("/api/v1/alarms/{id}", name="alarm_detail", roles=STAFF_ROLES,
            summary="一条警情及其全部事件、通话、联系人 (one alarm with its events, calls and "
                    "the elder's contacts)")
async def alarm_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    row = await _in_scope(db, p, path_id(request))
    out = alarms.card(row, _today(request))
    events = await db.fetch(
        "SELECT ev.at, ev.from_state, ev.to_state, ev.actor_kind, ev.payload,"
        " u.display_name AS actor FROM events ev LEFT JOIN users u ON u.id = ev.actor_user_id"
        " WHERE ev.entity_type = 'alarm' AND ev.entity_id = $1 ORDER BY ev.id", row["id"])
    out["events"] = [dict(e) for e in events]
    out["calls"] = [dict(c) for c in await db.fetch(
        "SELECT id, external_id, ani, state, ringing_at, answered_at, ended_at FROM calls"
        " WHERE alarm_id = $1 ORDER BY ringing_at", row["id"])]
    out["contacts"] = [] if row["elder_id"] is None else [dict(c) for c in await db.fetch(
        "SELECT position, name, phone, relation FROM elder_contacts WHERE elder_id = $1"
        " ORDER BY position", row["elder_id"])]
    return json_response(out)


async def _run(request: web.Request, fn: Any, *args: Any) -> web.Response:
    """Run one alarm step in a transaction and answer with the updated card."""
    p = auth.principal(request)
    db = request.app[keys.DB]
    alarm_id = path_id(request)
    await _in_scope(db, p, alarm_id)
    result = None
    try:
        async with db.acquire() as conn, conn.transaction():
            result = await fn(conn, alarm_id, p.user_id, *args, _now())
    except alarms.AlarmConflict as exc:
        raise Conflict(str(exc), fields={"state": str(exc)}) from None
    card = await alarms.load_card(db, alarm_id, _today(request))
    if result is not None:
        card["order_id"] = result
    return json_response(card)


@routes.post("/api/v1/alarms/{id}/acknowledge", name="alarm_acknowledge", roles=HANDLERS,
             summary="受理警情；两人同时点击时只有一人成功，另一人得到 409 和受理人 "
                     "(acknowledge: exactly one of two simultaneous clicks wins; the other gets "
                     "409 naming who has it)")
async def alarm_acknowledge(request: web.Request) -> web.Response:
    return await _run(request, alarms.acknowledge)


@routes.post("/api/v1/alarms/{id}/actions", name="alarm_action", roles=HANDLERS,
             body=ACTION_BODY,
             summary="处置步骤：备注、呼叫老人/联系人、120/110、派人上门 (a handling step: note, "
                     "call the elder or a contact, 120/110 request, on-site check)")
async def alarm_action(request: web.Request) -> web.Response:
    form = Form(await json_body(request))
    form.unknown(ACTION_BODY["properties"])
    action = form.field("action", lambda v: choice(v, alarms.ACTIONS))
    form.field("note", lambda v: text(v, max_len=2000, min_len=0), required=False, default="")
    needs_result = action in ("call_elder", "call_contact")
    form.field("result", lambda v: choice(v, ("reached", "no_answer", "busy", "wrong_number")),
               required=needs_result)
    if action == "call_contact":
        form.field("contact_position", _position)
    if action == "emergency_call":
        form.field("service", lambda v: choice(v, ("120", "110", "119")))
    if action == "note" and not (form.clean.get("note") or "").strip():
        form.error("note", "必填 (required)")
    data = {k: v for k, v in form.result().items() if v is not None and k != "action"}
    return await _run(request, alarms.act, action, data)


def _position(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10:
        raise Invalid("应为1到10的整数 (must be 1-10)")
    return value


@routes.post("/api/v1/alarms/{id}/resolve", name="alarm_resolve", roles=HANDLERS,
             body=RESOLVE_BODY, summary="结案并记录结果 (resolve with an outcome)")
async def alarm_resolve(request: web.Request) -> web.Response:
    form = Form(await json_body(request))
    form.unknown(RESOLVE_BODY["properties"])
    outcome = form.field("outcome", lambda v: choice(v, rules.OUTCOMES))
    note = form.field("note", lambda v: text(v, max_len=2000, min_len=0), required=False,
                      default="")
    if outcome == "other" and not note:
        form.error("note", "结果为其他时必须说明 (a note is required when the outcome is other)")
    data = form.result()
    return await _run(request, alarms.resolve, data["outcome"], data["note"] or "")


@routes.post("/api/v1/alarms/{id}/close", name="alarm_close", roles=HANDLERS,
             summary="关闭已结案的警情 (close a resolved alarm)")
async def alarm_close(request: web.Request) -> web.Response:
    return await _run(request, alarms.close)


@routes.get("/api/v1/queue", name="queue_counts", roles=STAFF_ROLES,
            summary="辖区待受理警情数，读 Redis 副本，Redis 不可用时读数据库 (alarms waiting in "
                    "your region: from Redis's copy, or PostgreSQL when Redis is down)")
async def queue_counts(request: web.Request) -> web.Response:
    p = auth.principal(request)
    try:
        counts = await redis_state.queue_counts(request.app[keys.REDIS],
                                                request.app[keys.SETTINGS], p.region_path)
        return json_response({**counts, "source": "redis"})
    except (RedisError, OSError):
        waiting = await request.app[keys.DB].fetchval(
            f"SELECT count(*) FROM alarms a JOIN regions r ON r.code = a.region_code"
            f" WHERE a.state IN ('queued', 'offered') AND {auth.scope_sql(1)}",
            *auth.scope_args(p))
        return json_response({"waiting": waiting, "source": "postgres"})


@routes.get("/api/v1/presence", name="presence_list", roles=STAFF_ROLES,
            summary="辖区在岗坐席 (operators on duty in your region)")
async def presence_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    rows = await request.app[keys.DB].fetch(
        "SELECT u.id, u.display_name, u.region_code, p.on_duty, p.available, p.updated_at"
        " FROM operator_presence p JOIN users u ON u.id = p.user_id"
        f" JOIN regions r ON r.code = u.region_code WHERE {auth.scope_sql(1)}"
        " ORDER BY u.display_name", *auth.scope_args(p))
    return json_response({"items": [dict(r) for r in rows]})


@routes.post("/api/v1/presence", name="presence_set", roles={"operator"}, body=PRESENCE_BODY,
             summary="上岗/离岗、空闲/忙碌 (go on or off duty, available or busy)")
async def presence_set(request: web.Request) -> web.Response:
    p = auth.principal(request)
    form = Form(await json_body(request))
    form.unknown(PRESENCE_BODY["properties"])
    form.field("on_duty", boolean, required=False)
    form.field("available", boolean, required=False)
    data = form.result()
    if data["on_duty"] is None and data["available"] is None:
        raise ValidationError({"on_duty": "至少提供 on_duty 或 available (give on_duty or "
                                          "available)"})
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "INSERT INTO operator_presence (user_id, on_duty, available) VALUES ($1,"
            " coalesce($2, false), coalesce($3, false)) ON CONFLICT (user_id) DO UPDATE SET"
            " on_duty = coalesce($2, operator_presence.on_duty),"
            " available = coalesce($3, operator_presence.available), updated_at = now()"
            " RETURNING on_duty, available", p.user_id, data["on_duty"], data["available"])
        if not row["on_duty"] and row["available"]:  # off duty is never available
            row = await conn.fetchrow("UPDATE operator_presence SET available = false WHERE"
                                      " user_id = $1 RETURNING on_duty, available", p.user_id)
        await outbox.add(conn, "operator.presence", p.region_code,
                         {"user_id": p.user_id, "display_name": p.display_name,
                          "region_code": p.region_code, **dict(row)})
    return json_response({"user_id": p.user_id, **dict(row)})


# An alarm counts towards "within 60 s" once its answer is known: acknowledged, or older than
# 60 s without acknowledgement (a miss). One still ringing inside its window is not yet a miss.
ANSWER_METRICS_SQL = f"""
SELECT count(*) AS alarms,
       count(*) FILTER (WHERE a.acknowledged_at - a.created_at <= interval '60 seconds')
         AS within_60s,
       count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL
                        OR a.created_at <= $5::timestamptz - interval '60 seconds') AS decided_60s,
       count(*) FILTER (WHERE a.acknowledged_at - a.created_at <= interval '180 seconds')
         AS within_180s,
       count(*) FILTER (WHERE a.acknowledged_at IS NOT NULL
                        OR a.created_at <= $5::timestamptz - interval '180 seconds')
         AS decided_180s,
       count(*) FILTER (WHERE a.acknowledged_at IS NULL) AS unacknowledged,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at
         - a.created_at)) AS median_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.acknowledged_at
         - a.created_at)) AS p95_s
FROM alarms a JOIN regions r ON r.code = a.region_code
WHERE a.created_at >= $3 AND a.created_at < $4 AND a.kind <> 'low_battery'
  AND {auth.scope_sql(1)}
"""


def answer_figures(row: asyncpg.Record) -> dict[str, Any]:
    d60, d180 = row["decided_60s"], row["decided_180s"]
    return {"alarms": row["alarms"], "unacknowledged": row["unacknowledged"],
            "pct_60s": None if not d60 else round(100.0 * row["within_60s"] / d60, 1),
            "pct_180s": None if not d180 else round(100.0 * row["within_180s"] / d180, 1),
            "median_s": None if row["median_s"] is None else round(row["median_s"], 1),
            "p95_s": None if row["p95_s"] is None else round(row["p95_s"], 1),
            "targets": {"pct_60s": 97.5, "pct_180s": 99.0}}


@routes.get("/api/v1/metrics/answers", name="metrics_answers", roles=STAFF_ROLES,
            query=(Param("day", "YYYY-MM-DD in Asia/Shanghai (default today)"),
                   Param("region", "region code (default: yours)")),
            summary="当日应答指标：60秒/180秒受理率、中位数、P95 (the day's answer figures: "
                    "% acknowledged within 60 s and 180 s, median and p95)")
async def metrics_answers(request: web.Request) -> web.Response:
    p = auth.principal(request)
    tz = request.app[keys.SETTINGS].tz
    try:
        day = dt.date.fromisoformat(request.query["day"]) if request.query.get("day") \
            else dt.datetime.now(tz).date()
    except ValueError:
        raise ValidationError({"day": "应为 YYYY-MM-DD (must be YYYY-MM-DD)"}) from None
    region_path, region_code = p.region_path, p.region_code
    if request.query.get("region"):
        row = await request.app[keys.DB].fetchrow(
            "SELECT code, path FROM regions WHERE code = $1", request.query["region"])
        if row is None or not p.covers(row["path"]):
            raise ValidationError({"region": "不存在或不在您的辖区内 (unknown or outside your "
                                             "region)"})
        region_path, region_code = row["path"], row["code"]
    start = dt.datetime.combine(day, dt.time(), tz)
    row = await request.app[keys.DB].fetchrow(ANSWER_METRICS_SQL, region_path,
                                              region_path + ".%", start,
                                              start + dt.timedelta(days=1), _now())
    return json_response({"day": day.isoformat(), "region_code": region_code,
                          **answer_figures(row)})
