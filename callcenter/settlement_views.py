"""Settlement on the API and as pages (SPEC §5.4): the month's summary per provider, a provider's
statement as JSON, XLSX and print-ready HTML, closing a month, and the /settlement page.

Closing is city-wide (the ledger's months are the city's), so only an admin or a supervisor whose
region is the city may close a month.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from callcenter import audit, auth, i18n, keys, report_tables, settlement
from callcenter import settlement_rules as rules
from callcenter.dashboard import REGION_PARAM, chosen_region, now
from callcenter.errors import Conflict, Forbidden, NotFound, Unprocessable, json_response
from callcenter.http import json_body, path_id
from callcenter.pages import render
from callcenter.reports import LANG_PARAM, XLSX_TYPE, parse_month
from callcenter.routing import Param, Routes

routes = Routes("settlement", "服务结算：机构月度对账单与关账 (settlement: providers' monthly "
                              "statements and month close)")
CLOSERS = frozenset({"admin", "supervisor"})
MONTH_PARAM = Param("month", "YYYY-MM in Asia/Shanghai (default: last month)")
_JS_PREFIXES = ("set_",)


def _today(request: web.Request) -> dt.date:
    return now().astimezone(request.app[keys.SETTINGS].tz).date()


def _month(request: web.Request) -> dt.date:
    """The `month` query parameter (default last month), not after this month."""
    today = _today(request)
    raw = request.query.get("month")
    if raw is None:
        return rules.previous_month(today)
    if not raw:
        raise Unprocessable(fields={"month": "应为有效月份 YYYY-MM (must be a valid month, "
                                             "YYYY-MM)"})
    return parse_month(raw, today)


def city_level(p: auth.Principal) -> bool:
    """Whether the user's region is the whole city (a path of one code)."""
    return "." not in p.region_path


@routes.get("/api/v1/settlements", name="settlements", roles=settlement.SETTLERS,
            query=(MONTH_PARAM, REGION_PARAM),
            summary="月度结算汇总：各服务机构完成单数、核定/补贴/自费分钟与金额 (the month's "
                    "settlement per provider: orders, checked, subsidised and self-paid minutes "
                    "and amounts; a provider admin sees only their own)")
async def settlements(request: web.Request) -> web.Response:
    p = auth.principal(request)
    month = _month(request)
    scope = settlement.scope_of(p)
    if "region" in request.query and p.role != "provider_admin":
        # a part of the reader's region (the dashboard of a district): checked like the dashboard
        scope = settlement.Scope(region_path=(await chosen_region(request)).path)
    body = await settlement.summary(request.app[keys.DB], month, scope,
                                    request.app[keys.SETTINGS].tz)
    body["can_close"] = p.role in CLOSERS and city_level(p)
    body["ended"] = rules.has_ended(month, _today(request))
    return json_response(body)


async def _statement(request: web.Request) -> dict[str, Any]:
    p = auth.principal(request)
    provider_id = path_id(request)
    month = _month(request)
    found = await settlement.statement(request.app[keys.DB], month, provider_id,
                                       settlement.scope_of(p), request.app[keys.SETTINGS].tz)
    if found is None:
        raise NotFound(fields={"id": "没有该服务机构，或不是您的机构 (no such provider, or not "
                                     "yours)"})
    return found


def _yuan(cents: int) -> float:
    return round(cents / 100, 2)


def _local(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    return "" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _figures(t: Any) -> list[str]:
    return [t("set_orders"), t("set_checked_min"), t("set_subsidised_min"),
            t("set_self_paid_min"), t("set_subsidised_yuan"), t("set_self_paid_yuan")]


def _figure_cells(sums: dict[str, Any]) -> list[report_tables.Cell]:
    return [sums["orders"], sums["checked_min"], sums["subsidised_min"], sums["self_paid_min"],
            _yuan(sums["subsidised_cents"]), _yuan(sums["self_paid_cents"])]


def statement_tables(st: dict[str, Any], lang: str, tz: dt.tzinfo) -> list[report_tables.Table]:
    """The statement's lines (a totals row last) and its totals per programme."""
    t = i18n.translator(lang)

    def named(d: dict[str, Any]) -> str:
        return str(d["name"] if lang == "zh" or not d.get("name_en") else d["name_en"])

    head = [t("set_order_id"), t("set_date"), t("set_elder"), t("set_id_number"), t("set_item"),
            t("set_staff"), t("set_check_in"), t("set_check_out"), t("set_distance"),
            t("set_programme"), t("set_checked_min"), t("set_subsidised_min"),
            t("set_self_paid_min"), t("set_subsidised_yuan"), t("set_self_paid_yuan"),
            t("set_note")]
    rows: list[list[report_tables.Cell]] = [
        [x["order_id"], x["date"], x["elder"]["name"], x["elder"]["id_number"], named(x["item"]),
         x["staff_name"] or "", _local(x["checked_in_at"], tz), _local(x["checked_out_at"], tz),
         x["checkin_distance_m"],
         named(x["programme"]) if x["programme"] else t("set_self_paid_only"),
         x["checked_min"], x["subsidised_min"], x["self_paid_min"], _yuan(x["subsidised_cents"]),
         _yuan(x["self_paid_cents"]), x["note"]] for x in st["lines"]]
    tot = st["totals"]
    rows.append([t("set_total"), None, None, None, None, None, None, None, None, None,
                 tot["checked_min"], tot["subsidised_min"], tot["self_paid_min"],
                 _yuan(tot["subsidised_cents"]), _yuan(tot["self_paid_cents"]), None])
    by_prog: list[list[report_tables.Cell]] = [
        [named(g) if g["code"] else t("set_self_paid_only"), g["code"] or "", *_figure_cells(g)]
        for g in st["programmes"]]
    by_prog.append([t("set_total"), "", *_figure_cells(tot)])
    return [report_tables.Table("statement", t("set_statement"), head, rows),
            report_tables.Table("programmes", t("set_by_programme"),
                                [t("set_programme"), t("set_code"), *_figures(t)], by_prog)]


def statement_heading(st: dict[str, Any], lang: str) -> str:
    t = i18n.translator(lang)
    name = st["provider"]["name"] if lang == "zh" or not st["provider"]["name_en"] \
        else st["provider"]["name_en"]
    return f"{name} {st['month']} {t('set_statement_title')}"


@routes.get("/api/v1/settlements/{id}.xlsx", name="settlement_xlsx", roles=settlement.SETTLERS,
            query=(MONTH_PARAM, LANG_PARAM),
            summary="服务机构月度对账单 Excel（明细与按补贴项目汇总） (a provider's statement of "
                    "the month as XLSX: the lines and the totals per programme)")
async def settlement_xlsx(request: web.Request) -> web.StreamResponse:
    st = await _statement(request)
    lang = i18n.lang_of(request)
    tz = request.app[keys.SETTINGS].tz
    body = report_tables.write_xlsx(statement_heading(st, lang), statement_tables(st, lang, tz))
    name = f"anxin-settlement-{st['provider']['id']}-{st['month']}.xlsx"
    return web.Response(body=body, content_type=XLSX_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@routes.get("/api/v1/settlements/{id}.html", name="settlement_html", roles=settlement.SETTLERS,
            query=(MONTH_PARAM,),
            summary="服务机构月度对账单打印版 HTML（A4，可存为PDF，含签字栏） (a provider's "
                    "statement as print-ready HTML: A4, page headers, totals, signature lines)")
async def settlement_html(request: web.Request) -> web.Response:
    st = await _statement(request)
    lang = i18n.lang_of(request)
    tz = request.app[keys.SETTINGS].tz
    return render(request, "settlement_statement.html", st=st,
                  heading=statement_heading(st, lang),
                  tables=statement_tables(st, lang, tz), generated=now())


@routes.get("/api/v1/settlements/{id}", name="settlement_statement", roles=settlement.SETTLERS,
            query=(MONTH_PARAM,),
            summary="服务机构月度对账单：每张完成工单（老人、项目、日期、核定时长、补贴与自费、"
                    "补贴项目、签到签退记录）及按项目合计 (a provider's statement of the month: "
                    "every completed order with elder, item, date, checked duration, subsidised "
                    "and self-paid minutes and amounts, programme and EVV data; totals per "
                    "programme and overall)")
async def settlement_statement(request: web.Request) -> web.Response:
    return json_response(await _statement(request))


@routes.post("/api/v1/settlements/close", name="settlement_close", roles=CLOSERS, status=201,
             body={"type": "object", "required": ["month"],
                   "properties": {"month": {"type": "string", "pattern": "^\\d{4}-\\d{2}$"}}},
             summary="结算关账（全市，仅市级管理员或主管；月份须已结束） (close a settlement "
                     "month, city-wide: admin or city supervisor; the month must have ended)")
async def settlement_close(request: web.Request) -> web.Response:
    p = auth.principal(request)
    if not city_level(p):
        raise Forbidden("关账须由市级管理员或主管操作 (only the city's admin or supervisor may "
                        "close a month)")
    data = await json_body(request)
    unknown = {k: "未知字段 (unknown field)" for k in sorted(set(data) - {"month"})}
    raw = data.get("month")
    if unknown or not isinstance(raw, str) or not raw:
        raise Unprocessable(fields={**unknown, **({} if isinstance(raw, str) and raw else {
            "month": "必填，YYYY-MM (required, YYYY-MM)"})})
    month = parse_month(raw, _today(request))
    db = request.app[keys.DB]
    async with db.acquire() as conn, conn.transaction():
        try:
            row = await settlement.close_month(conn, month, p.user_id, _today(request))
        except settlement.MonthRefused as exc:
            if exc.conflict:
                raise Conflict(exc.message, fields={"month": exc.message}) from None
            raise Unprocessable(exc.message, fields={"month": exc.message}) from None
        await audit.write(conn, request, p.user_id, "settlement.close", "settlement_month",
                          month.strftime("%Y-%m"), {"month": month.strftime("%Y-%m")})
    return json_response({"month": month.strftime("%Y-%m"), "closed": True,
                          "closed_at": row["closed_at"], "closed_by": p.user_id}, status=201)


@routes.get("/settlement", name="settlement_page", roles=settlement.SETTLERS, page=True,
            query=(MONTH_PARAM,),
            summary="服务结算页面：选月份，看各机构汇总，下载对账单 (settlement page: pick a month, "
                    "see the providers' totals, download statements)")
async def settlement_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    month = _month(request)
    today = _today(request)
    t = i18n.translator(i18n.lang_of(request))
    config = {"month": month.strftime("%Y-%m"), "this_month": today.strftime("%Y-%m"),
              "last_month": rules.previous_month(today).strftime("%Y-%m"),
              "lang": i18n.lang_of(request), "csrf": p.csrf_token,
              "can_close": p.role in CLOSERS and city_level(p),
              "strings": {k: t(k) for k in i18n.message_ids() if k.startswith(_JS_PREFIXES)}}
    return render(request, "settlement.html", config=config)
