"""Follow-up and quality on the API (SPEC §5.5): the operators' follow-up list and answers, the
SMS/IVR gateway's answers (bearer token), complaints, provider ratings and the /quality page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import audit, auth, complaints, cti, followup, i18n, keys, providers, rating
from callcenter.errors import NotFound, Unprocessable, json_response
from callcenter.http import json_body, path_id
from callcenter.pages import render
from callcenter.routing import STAFF_ROLES, Param, Routes

routes = Routes("quality", "回访、投诉与服务商评级 (follow-ups, complaints and provider ratings)")
RATERS = frozenset({"admin", "supervisor"})
QUALITY_READERS = frozenset({"admin", "supervisor", "provider_admin"})
COMPLAINT_READERS = STAFF_ROLES | {"provider_admin"}
_JS_PREFIXES = ("qa_", "fu_")
ANSWER_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
                   "comment": {"type": "string", "maxLength": followup.MAX_COMMENT},
                   "unreachable": {"type": "boolean"},
                   "channel": {"type": "string", "enum": list(followup.CHANNELS)}}}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _limit(request: web.Request, default: int, high: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise Unprocessable(fields={"limit": f"应为1到{high}的整数 (a whole number from 1 to "
                                             f"{high})"})
    return int(raw)


# --- follow-ups ---
@routes.get("/api/v1/followups", name="followups_list", roles=STAFF_ROLES,
            query=(Param("limit", "最多条数，默认50 (at most this many; default 50)",
                         "integer"),),
            summary="回访任务：辖区内未结束的回访，到期的在前 (open follow-up calls in your "
                    "region, due first, with counts)")
async def followups_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    limit = _limit(request, 50, 200)
    return json_response(await followup.worklist(request.app[keys.DB], p, now(), limit))


@routes.get("/api/v1/followups/{id}", name="followup_detail", roles=STAFF_ROLES,
            summary="一条回访任务 (one follow-up task)")
async def followup_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response(await followup.fetch(request.app[keys.DB], path_id(request), now(),
                                              p))


@routes.post("/api/v1/followups/{id}/record", name="followup_record", roles=STAFF_ROLES,
             body=ANSWER_BODY,
             summary="坐席记录回访：满意度1-5与意见，或未接通（稍后重拨，3次后结束）；回答后工单"
                     "变为已回访，≤2分提示登记投诉 (an operator records the answer: satisfaction "
                     "1-5 and comment, or unreachable — retried later, closed after 3 tries; an "
                     "answer reviews the order; 2 or less suggests a complaint)")
async def followup_record(request: web.Request) -> web.Response:
    p = auth.principal(request)
    followup_id = path_id(request)
    answer = followup.parse_answer(await json_body(request), ("operator",))
    db = request.app[keys.DB]
    at = now()
    await followup.fetch(db, followup_id, at, p)  # 404 outside the user's region
    async with db.acquire() as conn, conn.transaction():
        out = await followup.record(conn, followup_id, answer, user_id=p.user_id, now=at)
        await audit.write(conn, request, p.user_id, "followup.record", "followup", followup_id,
                          {"state": out["state"], "satisfaction": out.get("satisfaction")})
    return json_response(out)


@routes.post("/api/v1/followups/{id}/answer", name="followup_answer", roles=None,
             body=ANSWER_BODY,
             summary="短信/语音网关回传回访结果，需 `Authorization: Bearer <ANXIN_FOLLOWUP_TOKEN>` "
                     "(the SMS/IVR gateway's answer, channel sms or ivr, with the bearer token)")
async def followup_answer(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    cti.authenticate(settings.followup_token, request.headers.get("Authorization", ""),
                     "ANXIN_FOLLOWUP_TOKEN", "followup")
    followup_id = path_id(request)
    answer = followup.parse_answer(await json_body(request), ("sms", "ivr"))
    async with request.app[keys.DB].acquire() as conn, conn.transaction():
        out = await followup.record(conn, followup_id, answer, user_id=None, now=now())
    return json_response(out)


@routes.patch("/api/v1/providers/{id}/followup-rate", name="provider_followup_rate",
              roles=RATERS, body={"type": "object", "required": ["rate"],
                                  "properties": {"rate": {"type": "number", "minimum": 0,
                                                          "maximum": 1}}},
              summary="设置服务商回访抽样比例 0-1 (set the share of a provider's completed "
                      "orders that get a follow-up call, 0-1)")
async def provider_followup_rate(request: web.Request) -> web.Response:
    p = auth.principal(request)
    provider_id = path_id(request)
    data = await json_body(request)
    rate = data.get("rate")
    if set(data) != {"rate"} or isinstance(rate, bool) or not isinstance(rate, int | float) \
            or not 0 <= rate <= 1:
        raise Unprocessable(fields={"rate": "应为0到1之间的数 (a number from 0 to 1)"})
    db = request.app[keys.DB]
    await providers.fetch_provider(db, p, provider_id)
    async with db.acquire() as conn, conn.transaction():
        value = await followup.set_rate(conn, provider_id, round(float(rate), 2))
        await audit.write(conn, request, p.user_id, "provider.followup_rate", "provider",
                          provider_id, {"rate": value})
    return json_response({"provider_id": provider_id, "followup_rate": value})


# --- complaints ---
@routes.post("/api/v1/complaints", name="complaints_create", roles=STAFF_ROLES, status=201,
             body={"type": "object", "required": ["category", "elder_id", "description"],
                   "properties": {"category": {"type": "string",
                                               "enum": list(complaints.CATEGORIES)},
                                  "elder_id": {"type": "integer"},
                                  "order_id": {"type": "integer"},
                                  "provider_id": {"type": "integer"},
                                  "followup_id": {"type": "integer"},
                                  "description": {"type": "string", "maxLength": 2000}}},
             summary="登记投诉：类别、老人、工单（可选）、服务商、描述；期限为若干工作日 (file a "
                     "complaint about a provider; the deadline is ANXIN_COMPLAINT_DAYS working "
                     "days)")
async def complaints_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    new = complaints.parse_new(await json_body(request))
    s = request.app[keys.SETTINGS]
    db = request.app[keys.DB]
    at = now()
    async with db.acquire() as conn, conn.transaction():
        complaint_id = await complaints.create(conn, p, new, at, s.complaint_days, s.tz)
        await audit.write(conn, request, p.user_id, "complaint.create", "complaint",
                          complaint_id, {"category": new["category"]})
    return json_response(await complaints.fetch(db, p, complaint_id, at), status=201)


def _bool_query(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false")
    if raw not in ("true", "false", "1", "0"):
        raise Unprocessable(fields={name: "应为 true 或 false (true or false)"})
    return raw in ("true", "1")


@routes.get("/api/v1/complaints", name="complaints_list", roles=COMPLAINT_READERS,
            query=(Param("state", "open / in_progress / resolved"),
                   Param("provider_id", "服务商 (provider id)", "integer"),
                   Param("overdue", "只看超期未办结 (only unresolved past their deadline)",
                         "boolean")),
            summary="投诉列表：辖区内（服务商管理员：本机构） (complaints in your region; a "
                    "provider admin sees their own provider's)")
async def complaints_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    state = request.query.get("state") or None
    if state is not None and state not in complaints.STATES:
        raise Unprocessable(fields={"state": "应为 open / in_progress / resolved"})
    raw = request.query.get("provider_id")
    if raw is not None and not raw.isdigit():
        raise Unprocessable(fields={"provider_id": "应为编号 (an id)"})
    items = await complaints.listing(
        request.app[keys.DB], p, now(), state=state,
        provider_id=int(raw) if raw is not None else None,
        overdue=_bool_query(request, "overdue"))
    return json_response({"items": items})


@routes.get("/api/v1/complaints/{id}", name="complaint_detail", roles=COMPLAINT_READERS,
            summary="一条投诉及其全部处理记录 (one complaint with its events)")
async def complaint_detail(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response(await complaints.fetch(request.app[keys.DB], p, path_id(request),
                                                now()))


async def _change(request: web.Request, action: str, data: dict[str, Any]) -> web.Response:
    p = auth.principal(request)
    complaint_id = path_id(request)
    db = request.app[keys.DB]
    at = now()
    async with db.acquire() as conn, conn.transaction():
        if action == "assign":
            await complaints.assign(conn, p, complaint_id, data["handler_id"], at)
        elif action == "resolve":
            await complaints.resolve(conn, p, complaint_id, data["resolution"], data["upheld"],
                                     at)
        else:
            await complaints.respond(conn, p, complaint_id, data["note"], at)
        await audit.write(conn, request, p.user_id, f"complaint.{action}", "complaint",
                          complaint_id, data)
    return json_response(await complaints.fetch(db, p, complaint_id, at))


@routes.post("/api/v1/complaints/{id}/assign", name="complaint_assign", roles=STAFF_ROLES,
             body={"type": "object", "required": ["handler_id"],
                   "properties": {"handler_id": {"type": "integer"}}},
             summary="指派处理人，投诉转为处理中 (assign a handler: the complaint is in progress)")
async def complaint_assign(request: web.Request) -> web.Response:
    data = await json_body(request)
    handler = data.get("handler_id")
    if set(data) != {"handler_id"} or isinstance(handler, bool) or not isinstance(handler, int):
        raise Unprocessable(fields={"handler_id": "应为用户编号 (a user id)"})
    return await _change(request, "assign", {"handler_id": handler})


@routes.post("/api/v1/complaints/{id}/resolve", name="complaint_resolve", roles=STAFF_ROLES,
             body={"type": "object", "required": ["resolution", "upheld"],
                   "properties": {"resolution": {"type": "string", "maxLength": 2000},
                                  "upheld": {"type": "boolean"}}},
             summary="办结投诉：处理结果必填，并说明是否属实 (resolve: the resolution is "
                     "required, and whether the complaint was upheld)")
async def complaint_resolve(request: web.Request) -> web.Response:
    text, upheld = complaints.parse_resolution(await json_body(request))
    return await _change(request, "resolve", {"resolution": text, "upheld": upheld})


@routes.post("/api/v1/complaints/{id}/response", name="complaint_response",
             roles=frozenset({"provider_admin"}),
             body={"type": "object", "required": ["note"],
                   "properties": {"note": {"type": "string", "maxLength": 1000}}},
             summary="服务商对投诉的说明 (the provider's response note on a complaint about it)")
async def complaint_response(request: web.Request) -> web.Response:
    note = complaints.parse_note(await json_body(request))
    return await _change(request, "respond", {"note": note})


# --- ratings ---
async def visible_providers(db: asyncpg.Pool, p: auth.Principal) -> list[int]:
    cond, args = providers.provider_scope(p, 1)
    rows = await db.fetch(f"SELECT p.id FROM providers p JOIN regions r ON r.code ="
                          f" p.region_code WHERE {cond} ORDER BY p.id", *args)
    return [row["id"] for row in rows]


@routes.get("/api/v1/ratings", name="ratings_list", roles=QUALITY_READERS,
            summary="服务商星级与分项（满意度、准时、完成率、投诉、漏访、单量） (each visible "
                    "provider's stars with the latest breakdown)")
async def ratings_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    return json_response({"providers": await rating.summaries(
        db, await visible_providers(db, p))})


@routes.get("/api/v1/providers/{id}/ratings", name="provider_ratings", roles=QUALITY_READERS,
            summary="服务商评级历史，新的在前 (a provider's rating history, newest first)")
async def provider_ratings(request: web.Request) -> web.Response:
    p = auth.principal(request)
    provider_id = path_id(request)
    db = request.app[keys.DB]
    if provider_id not in await visible_providers(db, p):
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    return json_response({"provider_id": provider_id,
                          "history": await rating.history(db, provider_id)})


@routes.post("/api/v1/ratings/recompute", name="ratings_recompute", roles=RATERS,
             summary="立即重算辖区内服务商的星级 (recompute the stars of your region's providers "
                     "now)")
async def ratings_recompute(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    ids = await visible_providers(db, p)
    out = await rating.recompute(db, request.app[keys.REDIS], request.app[keys.SETTINGS], now(),
                                 provider_ids=ids)
    await audit.write(db, request, p.user_id, "ratings.recompute", "provider", None,
                      {"providers": len(out)})
    return json_response({"providers": out})


@routes.get("/quality", name="quality_page", roles=QUALITY_READERS, page=True,
            summary="服务质量：星级、分项、历史与投诉处理 (quality page: stars, breakdown, history "
                    "and complaints)")
async def quality_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    lang = i18n.lang_of(request)
    t = i18n.translator(lang)
    config = {"lang": lang, "tz": request.app[keys.SETTINGS].time_zone,
              "user": {"id": p.user_id, "role": p.role, "provider_id": p.provider_id},
              "can_handle": p.role in STAFF_ROLES, "can_rate": p.role in RATERS,
              "can_respond": p.role == "provider_admin",
              "categories": list(complaints.CATEGORIES),
              "strings": {k: t(k) for k in i18n.message_ids() if k.startswith(_JS_PREFIXES)}}
    return render(request, "quality.html", config=config)
