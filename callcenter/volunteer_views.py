"""Volunteers and the time bank on the API and the /volunteers page (issue 7 part 7): register
and search volunteers in your region, log help given to elders, redeem points, a volunteer's
balance and history, and the month's report per community as JSON, CSV or XLSX."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from callcenter import audit, auth, i18n, keys, regions, report_tables, reports
from callcenter import timebank_rules as rules
from callcenter import volunteers as vols
from callcenter.dashboard import REGION_PARAM, chosen_region, now
from callcenter.errors import Conflict, NotFound, Unprocessable, json_response
from callcenter.http import PAGING, int_query, json_body, page_of, path_id
from callcenter.pages import render
from callcenter.report_tables import Table
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import (
    Form,
    Invalid,
    boolean,
    id_number,
    integer,
    name,
    phone,
    text,
)

routes = Routes("volunteers", "志愿者与时间银行 (volunteers and the time bank: hours, points, "
                              "redemptions, monthly report per community)")
_NOT_FOUND = "不存在或不在您的辖区内 (not found, or outside your region)"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")
MAX_NOTE = 500
MAX_REASON = 200
VOLUNTEER_FIELDS = ("name", "phone", "id_number", "region_code", "activities", "active",
                    "joined_on")
PATCH_FIELDS = ("name", "phone", "region_code", "activities", "active")
HOURS_FIELDS = ("activity", "started_at", "minutes", "elder_id", "note")
_JS_PREFIXES = ("vol_",)


def _today(request: web.Request) -> dt.date:
    return now().astimezone(request.app[keys.SETTINGS].tz).date()


def _joined_on(today: dt.date):  # type: ignore[no-untyped-def]
    def check(value: Any) -> dt.date:
        if not isinstance(value, str) or not _DATE.match(value):
            raise Invalid("应为日期 YYYY-MM-DD (a date, YYYY-MM-DD)")
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise Invalid("应为有效日期 YYYY-MM-DD (a valid date, YYYY-MM-DD)") from None
        if day > today or day.year < 2000:
            raise Invalid("不能晚于今天或早于2000年 (not after today, not before 2000)")
        return day
    return check


def _activity_list(known: set[str]):  # type: ignore[no-untyped-def]
    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > 10 \
                or not all(isinstance(v, str) for v in value):
            raise Invalid("应为服务类别代码列表 (a list of activity codes)")
        unknown = [v for v in value if v not in known]
        if unknown:
            raise Invalid(f"未知的服务类别 (unknown activity): {', '.join(unknown)}")
        return sorted(set(value))
    return check


async def _clean_volunteer(request: web.Request, data: dict[str, Any], *, creating: bool
                           ) -> dict[str, Any]:
    """A registration (or, not creating, a change's) body, every wrong field reported at once."""
    p = auth.principal(request)
    db = request.app[keys.DB]
    area = request.app[keys.SETTINGS].default_area_code
    known = {a["code"] for a in await vols.activities(db)}
    today = _today(request)

    def need(key: str) -> bool:  # a change may leave a field out, but not blank it
        return creating or key in data

    form = Form(data)
    form.unknown(VOLUNTEER_FIELDS if creating else PATCH_FIELDS)
    form.field("name", name, required=need("name"))
    form.field("phone", lambda v: phone(v, area), required=need("phone"))
    form.field("activities", _activity_list(known), required=False, default=[])
    form.field("active", boolean, required=not creating and "active" in data, default=True)
    if creating:
        form.field("id_number", lambda v: id_number(v, today).number, required=False)
        form.field("joined_on", _joined_on(today), required=False, default=today)
    if need("region_code"):
        try:
            region = await regions.region_for_record(db, p, data.get("region_code"))
            if region["level"] != "community":
                raise Invalid("应为社区或村级区划 (must be a community or village)")
            form.clean["region_code"] = region["code"]
        except Invalid as exc:
            form.error("region_code", exc.reason)
    cleaned = form.result()
    return cleaned if creating else {k: v for k, v in cleaned.items() if k in data}


async def _volunteer(request: web.Request) -> Any:
    """The path's volunteer, if in the user's region; 404 otherwise (nothing about it leaks)."""
    row = await vols.fetch_in_scope(request.app[keys.DB], auth.principal(request),
                                    path_id(request))
    if row is None:
        raise NotFound(fields={"id": _NOT_FOUND})
    return row


@routes.get("/api/v1/volunteers/activities", name="volunteer_activities", roles=STAFF_ROLES,
            summary="志愿服务类别及每小时积分 (kinds of volunteer help and their points per "
                    "hour)")
async def volunteer_activities(request: web.Request) -> web.Response:
    return json_response({"items": await vols.activities(request.app[keys.DB])})


@routes.get("/api/v1/volunteers", name="volunteers_list", roles=STAFF_ROLES,
            query=(Param("q", "姓名或手机号 (name or phone)"),
                   Param("region", "区划代码，含下级 (region code, and below)"),
                   Param("active", "true / false"), *PAGING),
            summary="搜索辖区内的志愿者 (search volunteers in your region; ID numbers masked)")
async def volunteers_list(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    limit = int_query(request, "limit", 50, 1, 200)
    after = int_query(request, "after", 0, 0, 2**62)
    assert limit is not None and after is not None
    q = request.query.get("q", "").strip()
    if len(q) > 40:
        raise Unprocessable(fields={"q": "不能超过40个字符 (at most 40 characters)"})
    wanted_phone = None
    if re.fullmatch(r"\+?[\d\s-]{7,16}", q):
        try:
            wanted_phone = phone(q, request.app[keys.SETTINGS].default_area_code)
        except Invalid as exc:
            raise Unprocessable(fields={"q": exc.reason}) from None
    region_path = None
    if request.query.get("region"):
        region_path = (await chosen_region(request)).path
    active = {"true": True, "false": False, "": None}.get(request.query.get("active", ""), "bad")
    if active == "bad":
        raise Unprocessable(fields={"active": "应为 true 或 false (must be true or false)"})
    rows = await vols.search(db, p, q=q, phone=wanted_phone, region_path=region_path,
                             active=active if isinstance(active, bool) else None,
                             limit=limit, after=after)
    return json_response(page_of([vols.public(r) for r in rows], limit))


@routes.post("/api/v1/volunteers", name="volunteers_create", roles=STAFF_ROLES, status=201,
             body={"type": "object", "required": ["name", "phone", "region_code"],
                   "properties": {"name": {"type": "string"}, "phone": {"type": "string"},
                                  "id_number": {"type": "string"},
                                  "region_code": {"type": "string"},
                                  "activities": {"type": "array", "items": {"type": "string"}},
                                  "active": {"type": "boolean"},
                                  "joined_on": {"type": "string", "format": "date"}}},
             summary="登记志愿者（社区/村级） (register a volunteer in a community or village)")
async def volunteers_create(request: web.Request) -> web.Response:
    p = auth.principal(request)
    clean = await _clean_volunteer(request, await json_body(request), creating=True)
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        vid = await vols.create(conn, clean, p.user_id)
        await audit.write(conn, request, p.user_id, "volunteer.create", "volunteer", vid,
                          {"region_code": clean["region_code"]})
    row = await vols.fetch_in_scope(db, p, vid)
    assert row is not None
    return json_response(vols.public(row), status=201)


@routes.get("/api/v1/volunteers/report", name="volunteers_report", roles=STAFF_ROLES,
            query=(Param("month", "YYYY-MM in Asia/Shanghai (default this month)"), REGION_PARAM,
                   reports.FORMAT_PARAM, reports.LANG_PARAM),
            summary="志愿服务月报：各社区志愿者、时长、积分、服务老人 (the month's volunteer "
                    "report per community: volunteers, hours, points earned and redeemed, "
                    "elders helped; JSON, CSV or XLSX)")
async def volunteers_report(request: web.Request) -> web.StreamResponse:
    fmt = request.query.get("format", "json")
    if fmt not in reports.FORMATS:
        raise Unprocessable(fields={"format": "应为 json、csv 或 xlsx (must be json, csv or "
                                              "xlsx)"})
    month = reports.parse_month(request.query.get("month"), _today(request))
    where = await chosen_region(request)
    report = await vols.month_report(request.app[keys.DB], where, month,
                                     request.app[keys.SETTINGS].tz)
    report["generated_at"] = now().isoformat()
    if fmt == "json":
        return json_response(report)
    lang = i18n.lang_of(request)
    heading, sections = report_title(report, lang), report_sections(report, lang)
    stem = f"anxin-volunteers-{where.code}-{report['period']['label']}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{stem}"'}
    if fmt == "csv":
        return web.Response(body=report_tables.write_csv(heading, sections).encode("utf-8"),
                            content_type="text/csv", charset="utf-8", headers=headers)
    return web.Response(body=report_tables.write_xlsx(heading, sections),
                        content_type=reports.XLSX_TYPE, headers=headers)


FIGURES = ("volunteers", "active_volunteers", "logs", "hours", "points_earned",
           "points_redeemed", "elders_helped")


def report_title(report: dict[str, Any], lang: str) -> str:
    t = i18n.translator(lang)
    return (f"{report_tables.named_region(report['region'], lang)} {t('vol_report')} "
            f"{report['period']['label']}")


def report_sections(report: dict[str, Any], lang: str) -> list[Table]:
    """The report as labelled tables: per community (with a total row), per activity."""
    t = i18n.translator(lang)
    head = [t("vol_community"), t("vol_code")] + [t("vol_fig_" + k) for k in FIGURES]
    rows: list[list[report_tables.Cell]] = [
        [report_tables.named_region(c, lang), c["code"]] + [c[k] for k in FIGURES]
        for c in report["communities"]]
    rows.append([t("vol_total"), report["region"]["code"]]
                + [report["totals"][k] for k in FIGURES])
    kinds = [[a["name_zh"] if lang == "zh" else a["name_en"], a["code"], a["points_per_hour"],
              a["logs"], a["hours"], a["points_earned"]] for a in report["by_activity"]]
    return [Table("communities", t("vol_by_community"), head, rows),
            Table("activities", t("vol_by_activity"),
                  [t("vol_activity"), t("vol_code"), t("vol_rate"), t("vol_fig_logs"),
                   t("vol_fig_hours"), t("vol_fig_points_earned")], kinds)]


@routes.get("/api/v1/volunteers/{id}", name="volunteer_detail", roles=STAFF_ROLES,
            summary="志愿者详情：积分余额、累计获得与兑换、时长、流水 (a volunteer with balance, "
                    "earned, redeemed, hours and the latest ledger rows)")
async def volunteer_detail(request: web.Request) -> web.Response:
    row = await _volunteer(request)
    return json_response({**vols.public(row),
                          **await vols.history(request.app[keys.DB], row["id"])})


@routes.patch("/api/v1/volunteers/{id}", name="volunteer_update", roles=STAFF_ROLES,
              body={"type": "object",
                    "properties": {"name": {"type": "string"}, "phone": {"type": "string"},
                                   "region_code": {"type": "string"},
                                   "activities": {"type": "array",
                                                  "items": {"type": "string"}},
                                   "active": {"type": "boolean"}}},
              summary="修改志愿者（停用、换社区、服务项目；身份证号与加入日期不可改） (change a "
                      "volunteer: deactivate, move community, activities; not the ID number "
                      "or joining date)")
async def volunteer_update(request: web.Request) -> web.Response:
    p = auth.principal(request)
    vol = await _volunteer(request)
    clean = await _clean_volunteer(request, await json_body(request), creating=False)
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        await vols.update(conn, vol["id"], clean)
        await audit.write(conn, request, p.user_id, "volunteer.update", "volunteer", vol["id"],
                          {"fields": sorted(clean)})
    row = await vols.fetch_in_scope(db, p, vol["id"])
    if row is None:  # moved out of the user's region by this very change
        return json_response({"id": vol["id"], "moved_out_of_scope": True})
    return json_response(vols.public(row))


def _started_at(value: Any, tz: dt.tzinfo) -> dt.datetime:
    """ISO 8601 with an offset, or a local time without one (taken as Asia/Shanghai)."""
    if not isinstance(value, str):
        raise Invalid("应为时间 ISO 8601 (a time, ISO 8601)")
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("应为时间 ISO 8601 (a time, ISO 8601)") from None
    if at.tzinfo is None:
        if not _LOCAL.match(value.strip()):
            raise Invalid("应为时间 ISO 8601 (a time, ISO 8601)")
        at = at.replace(tzinfo=tz)
    return at


@routes.post("/api/v1/volunteers/{id}/hours", name="volunteer_log_hours", roles=STAFF_ROLES,
             status=201,
             body={"type": "object", "required": ["activity", "started_at", "minutes"],
                   "properties": {"activity": {"type": "string"},
                                  "started_at": {"type": "string", "format": "date-time"},
                                  "minutes": {"type": "integer", "minimum": 1,
                                              "maximum": rules.MAX_MINUTES},
                                  "elder_id": {"type": "integer"},
                                  "note": {"type": "string", "maxLength": MAX_NOTE}}},
             summary="登记志愿服务时长，按类别费率计积分 (log help given: points at the "
                     "activity's rate per hour, to a tenth)")
async def volunteer_log_hours(request: web.Request) -> web.Response:
    p = auth.principal(request)
    settings = request.app[keys.SETTINGS]
    vol = await _volunteer(request)
    form = Form(await json_body(request))
    form.unknown(HOURS_FIELDS)
    form.field("activity", lambda v: text(v, max_len=20))
    form.field("started_at", lambda v: _started_at(v, settings.tz))
    form.field("minutes", lambda v: integer(v, low=1, high=rules.MAX_MINUTES))
    form.field("elder_id", lambda v: integer(v, low=1, high=2**62), required=False)
    form.field("note", lambda v: text(v, max_len=MAX_NOTE, min_len=0), required=False,
               default="")
    clean = form.result()
    db = request.app[keys.DB]
    if clean["elder_id"] is not None:
        why = await vols.elder_in_district(db, p, clean["elder_id"], vol["region_path"])
        if why is not None:
            raise Unprocessable(fields={"elder_id": why})
    async with db.acquire() as conn, conn.transaction():
        try:
            out = await vols.log_hours(
                conn, vol["id"], activity=clean["activity"], started_at=clean["started_at"],
                minutes=clean["minutes"], elder_id=clean["elder_id"], note=clean["note"],
                user_id=p.user_id, now=now(), tz=settings.tz)
        except vols.Refused as exc:
            raise (Conflict if exc.conflict else Unprocessable)(
                fields={exc.field: exc.message}) from None
    return json_response(out, status=201)


def _points(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid("应为正数，最多一位小数 (a positive number, at most one decimal)")
    try:
        points = Decimal(str(value))
    except InvalidOperation:
        raise Invalid("应为正数，最多一位小数 (a positive number, at most one decimal)") from None
    if not points.is_finite() or points <= 0 or points != points.quantize(rules.TENTH):
        raise Invalid("应为正数，最多一位小数 (a positive number, at most one decimal)")
    if points > rules.MAX_REDEEM:
        raise Invalid(f"一次最多兑换{rules.MAX_REDEEM}分 (at most {rules.MAX_REDEEM} at once)")
    return points


@routes.post("/api/v1/volunteers/{id}/redemptions", name="volunteer_redeem",
             roles=STAFF_ROLES, status=201,
             body={"type": "object", "required": ["points", "reason"],
                   "properties": {"points": {"type": "number", "exclusiveMinimum": 0},
                                  "reason": {"type": "string", "maxLength": MAX_REASON}}},
             summary="兑换积分（写明原因；余额不足则拒绝，409） (redeem points with a reason; "
                     "refused with 409 beyond the balance)")
async def volunteer_redeem(request: web.Request) -> web.Response:
    p = auth.principal(request)
    vol = await _volunteer(request)
    form = Form(await json_body(request))
    form.unknown(("points", "reason"))
    form.field("points", _points)
    form.field("reason", lambda v: text(v, max_len=MAX_REASON))
    clean = form.result()
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        try:
            out = await vols.redeem(conn, vol["id"], clean["points"], clean["reason"],
                                    p.user_id)
        except vols.Refused as exc:
            raise Conflict(fields={exc.field: exc.message}) from None
        await audit.write(conn, request, p.user_id, "volunteer.redeem", "volunteer", vol["id"],
                          {"points": float(clean["points"]), "reason": clean["reason"],
                           "ledger_id": out["ledger"]["id"]})
    return json_response(out, status=201)


@routes.get("/volunteers", name="volunteers_page", roles=STAFF_ROLES, page=True,
            summary="志愿者与时间银行页面 (volunteers and time bank page)")
async def volunteers_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    lang = i18n.lang_of(request)
    t = i18n.translator(lang)
    db = request.app[keys.DB]
    rows = await db.fetch(
        "SELECT r.code, r.name, r.name_en, r.level FROM regions r"
        f" WHERE {auth.scope_sql(1)} ORDER BY r.path", *auth.scope_args(p))
    today = _today(request)
    config = {"lang": lang, "tz": request.app[keys.SETTINGS].time_zone,
              "today": today.isoformat(), "month": today.strftime("%Y-%m"),
              "region": p.region_code, "activities": await vols.activities(db),
              "communities": [dict(r) for r in rows if r["level"] == "community"],
              "strings": {k: t(k) for k in i18n.message_ids() if k.startswith(_JS_PREFIXES)}}
    report_api = "/api/v1/volunteers/report?" + urlencode(
        {"month": config["month"], "region": p.region_code, "lang": lang})
    return render(request, "volunteers.html", config=config, report_api=report_api,
                  regions=[r for r in rows if r["level"] != "community"])
