"""The provider side of dispatch (SPEC §5.2): a staff member goes on and off shift, shares their
location, answers offers, travels, checks in at the elder's home (refused beyond the check-in
radius, with the distance) and checks out. Staff see only their own offers and jobs (another
person's is 404); provider admins see their organisation's staff and jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import auth, keys
from callcenter.errors import Forbidden, json_response
from callcenter.http import json_body, path_id
from callcenter.order_views import not_found, now_utc, refused
from callcenter.routing import Param, Routes
from callcenter.validation import Form, Invalid, ValidationError, boolean, coordinates, text
from dispatch import offers, orders, staff_index, states

routes = Routes("provider", "服务人员与服务商 (provider staff and provider admins)")
STAFF = frozenset({"provider_staff"})
PROVIDER = frozenset({"provider_admin"})

SHIFT_BODY: dict[str, Any] = {"type": "object", "required": ["on_shift"],
                              "properties": {"on_shift": {"type": "boolean"}}}
LOCATION_BODY: dict[str, Any] = {
    "type": "object", "required": ["lat", "lon"],
    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"},
                   "accuracy_m": {"type": "number"}}}
REASON_BODY: dict[str, Any] = {
    "type": "object", "properties": {"reason": {"type": "string", "maxLength": 500}}}
STEP_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"},
                   "note": {"type": "string", "maxLength": 1000},
                   "reason": {"type": "string", "maxLength": 500}}}
WHEN = ("active", "today", "past")


async def me(request: web.Request) -> asyncpg.Record:
    p = auth.principal(request)
    row = await request.app[keys.DB].fetchrow(
        "SELECT s.id, s.provider_id, s.name, s.phone, s.capacity, s.shift_start, s.shift_end,"
        " pr.name AS provider_name, coalesce(st.on_shift, false) AS on_shift"
        " FROM staff s JOIN providers pr ON pr.id = s.provider_id"
        " LEFT JOIN staff_status st ON st.staff_id = s.id WHERE s.user_id = $1 AND s.active",
        p.user_id)
    if row is None:
        raise Forbidden("此账号未关联服务人员档案 (this login has no staff record)")
    return row


@routes.get("/api/v1/me/staff", name="me_staff", roles=STAFF,
            summary="我的档案、在班状态与技能 (my staff record, shift and skills)")
async def me_staff(request: web.Request) -> web.Response:
    row = await me(request)
    db = request.app[keys.DB]
    skills = await db.fetch("SELECT k.code, k.name_zh, k.name_en FROM staff_skills x JOIN skills k"
                            " ON k.code = x.skill_code WHERE x.staff_id = $1 ORDER BY k.code",
                            row["id"])
    out = dict(row)
    out["shift_start"], out["shift_end"] = str(row["shift_start"])[:5], str(row["shift_end"])[:5]
    out["skills"] = [dict(k) for k in skills]
    return json_response(out)


@routes.post("/api/v1/me/shift", name="me_shift", roles=STAFF, body=SHIFT_BODY,
             summary="上班 / 下班 (go on or off shift)")
async def me_shift(request: web.Request) -> web.Response:
    row = await me(request)
    form = Form(await json_body(request))
    form.unknown(SHIFT_BODY["properties"])
    on = form.field("on_shift", boolean)
    form.result()
    app = request.app
    db = app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        await staff_index.set_shift(conn, row["id"], on, now_utc())
    await staff_index.sync_shift(db, app[keys.REDIS], app[keys.SETTINGS], row["id"], on)
    return json_response({"staff_id": row["id"], "on_shift": on})


@routes.post("/api/v1/me/location", name="me_location", roles=STAFF, body=LOCATION_BODY,
             summary="上报当前位置（WGS-84，浏览器定位）(share my location, WGS-84 from the "
                     "browser; it counts for matching for 5 minutes)")
async def me_location(request: web.Request) -> web.Response:
    row = await me(request)
    data = await json_body(request)
    form = Form(data)
    form.unknown(LOCATION_BODY["properties"])
    lat = lon = 0.0
    try:
        lat, lon = coordinates(data.get("lat"), data.get("lon"))
    except Invalid as exc:
        form.error("lat", exc.reason)
    form.result()
    app = request.app
    await staff_index.record_location(app[keys.DB], app[keys.REDIS], app[keys.SETTINGS],
                                      row["id"], lat, lon, now_utc())
    return json_response({"staff_id": row["id"], "lat": lat, "lon": lon})


@routes.get("/api/v1/me/offers", name="me_offers", roles=STAFF,
            summary="推送给我的待答复工单 (offers waiting for my answer)")
async def me_offers(request: web.Request) -> web.Response:
    row = await me(request)
    db = request.app[keys.DB]
    rows = await db.fetch(
        "SELECT f.id AS offer_id, f.expires_at, f.distance_m, f.order_id FROM offers f"
        " WHERE f.staff_id = $1 AND f.state = 'pending' AND f.expires_at > $2"
        " ORDER BY f.offered_at", row["id"], now_utc())
    items = []
    for f in rows:
        items.append({"offer_id": f["offer_id"], "expires_at": f["expires_at"],
                      "distance_m": f["distance_m"],
                      "order": await orders.load_card(db, f["order_id"])})
    return json_response({"items": items})


@routes.get("/api/v1/me/jobs", name="me_jobs", roles=STAFF,
            query=(Param("when", "active (default), today or past"),),
            summary="我的工单：进行中、今天、以往 (my jobs: in hand, today's, past)")
async def me_jobs(request: web.Request) -> web.Response:
    row = await me(request)
    return json_response({"items": await _jobs(request, "o.staff_id = $1", row["id"])})


async def _jobs(request: web.Request, where: str, owner: int | None) -> list[dict[str, Any]]:
    when = request.query.get("when", "active")
    if when not in WHEN:
        raise ValidationError({"when": "应为 active、today 或 past (must be active, today or past)"})
    s = request.app[keys.SETTINGS]
    start = dt.datetime.combine(dt.datetime.now(s.tz).date(), dt.time(), s.tz)
    arg: Any
    if when == "active":
        cond, arg = "o.state = ANY($2::text[])", list(states.ASSIGNED_STATES)
    elif when == "today":
        cond, arg = "coalesce(o.accepted_at, o.created_at) >= $2", start
    else:
        cond, arg = "coalesce(o.accepted_at, o.created_at) < $2", start
    rows = await request.app[keys.DB].fetch(
        orders.CARD_SQL + f" WHERE {where} AND {cond} ORDER BY o.id DESC LIMIT 200", owner, arg)
    return [orders.card(r) for r in rows]


async def _answer(request: web.Request, accept: bool) -> web.Response:
    row = await me(request)
    p = auth.principal(request)
    app = request.app
    offer_id = path_id(request)
    form = Form(await json_body(request))
    form.unknown(REASON_BODY["properties"])
    reason = form.field("reason", lambda v: text(v, max_len=500, min_len=0), required=False,
                        default="")
    form.result()
    try:
        if accept:
            data = await offers.accept(app[keys.DB], app[keys.REDIS], app[keys.SETTINGS],
                                       offer_id, row["id"], p.user_id, now_utc())
        else:
            await offers.decline(app[keys.DB], offer_id, row["id"], p.user_id, now_utc(), reason)
            data = {"offer_id": offer_id, "declined": True}
    except orders.OrderNotFound:
        raise not_found() from None
    except orders.OrderRefused as exc:
        raise refused(exc) from None
    return json_response(data)


@routes.post("/api/v1/offers/{id}/accept", name="offer_accept", roles=STAFF, body=REASON_BODY,
             summary="接单；同一工单只有一人能接到 (accept an offer: exactly one person gets a job)")
async def offer_accept(request: web.Request) -> web.Response:
    return await _answer(request, True)


@routes.post("/api/v1/offers/{id}/decline", name="offer_decline", roles=STAFF, body=REASON_BODY,
             summary="拒单，工单转给下一位 (decline: the job goes to the next candidate)")
async def offer_decline(request: web.Request) -> web.Response:
    return await _answer(request, False)


async def _step(request: web.Request, event: str) -> web.Response:
    row = await me(request)
    p = auth.principal(request)
    app = request.app
    order_id = path_id(request)
    data = await json_body(request)
    form = Form(data)
    form.unknown(STEP_BODY["properties"])
    lat = lon = None
    if data.get("lat") is not None or data.get("lon") is not None or event == "check_in":
        try:
            lat, lon = coordinates(data.get("lat"), data.get("lon"))
        except Invalid as exc:
            form.error("lat", exc.reason)
    note = form.field("note", lambda v: text(v, max_len=1000, min_len=0), required=False,
                      default="")
    reason = form.field("reason", lambda v: text(v, max_len=500), required=event in (
        "fail", "release"), default="")
    form.result()
    try:
        card = await offers.staff_step(app[keys.DB], app[keys.REDIS], app[keys.SETTINGS],
                                       order_id, row["id"], p.user_id, event, now_utc(),
                                       lat=lat, lon=lon, note=reason or note)
    except orders.OrderNotFound:
        raise not_found() from None
    except orders.OrderRefused as exc:
        raise refused(exc) from None
    return json_response(card)


def _staff_route(event: str, summary: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        return await _step(request, event)
    handler.__name__ = f"job_{event}"
    routes.post(f"/api/v1/jobs/{{id}}/{event}", name=f"job_{event}", roles=STAFF,
                body=STEP_BODY, summary=summary)(handler)


_staff_route("travel", "出发前往老人家 (on my way)")
_staff_route("check_in", "到达签到：须在老人住址规定距离内，需 lat/lon (check in at the elder's "
                         "home: refused beyond the check-in radius; lat/lon required)")
_staff_route("check_out", "服务完成签退，可填服务记录 (check out with notes: the job is done)")
_staff_route("fail", "无法完成，须填原因 (could not do the job, with a reason)")
_staff_route("release", "退单，工单重新派给他人，须填原因 (hand the job back, with a reason)")


@routes.get("/api/v1/provider/staff", name="my_org_staff", roles=PROVIDER,
            summary="本机构服务人员：在班、手头工单、最近位置 (my organisation's staff: shift, jobs "
                    "in hand, last location)")
async def my_org_staff(request: web.Request) -> web.Response:
    p = auth.principal(request)
    app = request.app
    rows = await app[keys.DB].fetch(
        "SELECT s.id, s.name, s.phone, s.capacity, s.active, coalesce(st.on_shift, false)"
        " AS on_shift, st.last_assigned_at, (SELECT count(*) FROM orders o WHERE o.staff_id"
        " = s.id AND o.state = ANY($2::text[]))::int AS load FROM staff s"
        " LEFT JOIN staff_status st ON st.staff_id = s.id WHERE s.provider_id = $1"
        " ORDER BY s.name LIMIT 1000", p.provider_id, list(states.ASSIGNED_STATES))
    r, s = app[keys.REDIS], app[keys.SETTINGS]
    async with r.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.hmget(staff_index.hash_key(s, row["id"]), ["lat", "lon", "located_at"])
        located = await pipe.execute() if rows else []
    items = []
    for row, (lat, lon, at) in zip(rows, located, strict=True):
        item = dict(row)
        item["location"] = None if lat is None else {
            "lat": float(lat), "lon": float(lon),
            "at": dt.datetime.fromtimestamp(float(at), dt.UTC) if at else None}
        items.append(item)
    return json_response({"items": items})


@routes.get("/api/v1/provider/jobs", name="my_org_jobs", roles=PROVIDER,
            query=(Param("when", "active (default), today or past"),),
            summary="本机构的工单 (my organisation's jobs)")
async def my_org_jobs(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response({"items": await _jobs(request, "o.provider_id = $1", p.provider_id)})
