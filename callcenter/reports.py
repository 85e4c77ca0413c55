"""Daily and monthly reports of a region (JSON, CSV, XLSX) and the page to pick and download
them. The figures are stats.py's, the same functions as the dashboard's; report_tables.py lays
them out."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from callcenter import auth, care, i18n, keys, report_tables, stats
from callcenter.dashboard import REGION_PARAM, chosen_region, now
from callcenter.errors import json_response
from callcenter.pages import render
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import ValidationError

routes = Routes("reports", "统计报表：日报、月报 (daily and monthly reports)")

FORMATS = ("json", "csv", "xlsx")
FORMAT_PARAM = Param("format", "json (default), csv or xlsx")
LANG_PARAM = Param("lang", "labels of csv/xlsx: zh (default) or en")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EARLIEST = dt.date(2000, 1, 1)


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise ValidationError({"format": "应为 json、csv 或 xlsx (must be json, csv or xlsx)"})
    return fmt


def _today(request: web.Request) -> dt.date:
    return now().astimezone(request.app[keys.SETTINGS].tz).date()


def parse_date(value: str | None, today: dt.date) -> dt.date:
    """A YYYY-MM-DD day, not in the future (default: today)."""
    if not value:
        return today
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError({"date": "应为有效日期 YYYY-MM-DD (must be a valid date, "
                                       "YYYY-MM-DD)"}) from None
    if day > today or day < EARLIEST:
        raise ValidationError({"date": "不能晚于今天或早于2000年 (must not be after today or "
                                       "before 2000)"})
    return day


def parse_month(value: str | None, today: dt.date) -> dt.date:
    """A YYYY-MM month, not in the future (default: this month); its first day."""
    if not value:
        return today.replace(day=1)
    try:
        if not _MONTH.match(value):
            raise ValueError(value)
        first = dt.date(int(value[:4]), int(value[5:]), 1)
    except ValueError:
        raise ValidationError({"month": "应为有效月份 YYYY-MM (must be a valid month, "
                                        "YYYY-MM)"}) from None
    if first > today or first < EARLIEST:
        raise ValidationError({"month": "不能晚于本月或早于2000年 (must not be after this month "
                                        "or before 2000)"})
    return first


async def _answer(request: web.Request, report: dict[str, Any], fmt: str, stem: str
                  ) -> web.StreamResponse:
    if fmt == "json":
        return json_response(report)
    lang = i18n.lang_of(request)
    name = f"{stem}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return web.Response(body=report_tables.to_csv(report, lang).encode("utf-8"),
                            content_type="text/csv", charset="utf-8", headers=disposition)
    return web.Response(body=report_tables.to_xlsx(report, lang), content_type=XLSX_TYPE,
                        headers=disposition)


async def build(request: web.Request, where: stats.Region, kind: str, first: dt.date
                ) -> dict[str, Any]:
    """The report of one region for the day or month starting at `first`."""
    tz = request.app[keys.SETTINGS].tz
    if kind == "daily":
        start, end = stats.day_bounds(first, tz)
        label = first.isoformat()
    else:
        start, end = stats.month_bounds(first, tz)
        label = first.strftime("%Y-%m")
    at = now()
    db = request.app[keys.DB]
    body = await stats.region_report(db, where, start, end, at)
    report = {"period": {"kind": kind, "label": label,
                         "tz": request.app[keys.SETTINGS].time_zone},
              **body, "generated_at": at.isoformat()}
    if kind == "monthly":  # the month's active-care visit rate and who is not reached yet
        report["care"] = await care.visit_rate(db, first, where.code, tz)
    return report


@routes.get("/api/v1/reports/daily", name="report_daily", roles=STAFF_ROLES,
            query=(Param("date", "YYYY-MM-DD in Asia/Shanghai (default today)"), REGION_PARAM,
                   FORMAT_PARAM, LANG_PARAM),
            summary="日报：来电、警情、受理时间、工单及下辖区划 (the daily report of a region: "
                    "calls, alarms, answer times, orders, per child region; JSON, CSV or XLSX)")
async def report_daily(request: web.Request) -> web.StreamResponse:
    fmt = _format(request)
    day = parse_date(request.query.get("date"), _today(request))
    where = await chosen_region(request)
    report = await build(request, where, "daily", day)
    return await _answer(request, report, fmt, f"anxin-daily-{where.code}-{day.isoformat()}")


@routes.get("/api/v1/reports/monthly", name="report_monthly", roles=STAFF_ROLES,
            query=(Param("month", "YYYY-MM in Asia/Shanghai (default this month)"),
                   REGION_PARAM, FORMAT_PARAM, LANG_PARAM),
            summary="月报 (the monthly report of a region, as the daily one, with the month's "
                    "active-care visit rate per child region and the elders not yet reached; "
                    "JSON, CSV or XLSX)")
async def report_monthly(request: web.Request) -> web.StreamResponse:
    fmt = _format(request)
    first = parse_month(request.query.get("month"), _today(request))
    where = await chosen_region(request)
    report = await build(request, where, "monthly", first)
    return await _answer(request, report, fmt,
                         f"anxin-monthly-{where.code}-{first.strftime('%Y-%m')}")


@routes.get("/reports", name="reports_page", roles=STAFF_ROLES, page=True,
            query=(Param("kind", "daily (default) or monthly"), Param("date", "YYYY-MM-DD"),
                   Param("month", "YYYY-MM"), REGION_PARAM),
            summary="统计报表页面 (reports page: pick a day or month and a region, view, "
                    "download)")
async def reports_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    lang = i18n.lang_of(request)
    kind = request.query.get("kind", "daily")
    if kind not in ("daily", "monthly"):
        raise ValidationError({"kind": "应为 daily 或 monthly (must be daily or monthly)"})
    today = _today(request)
    if kind == "daily":
        first = parse_date(request.query.get("date"), today)
    else:
        first = parse_month(request.query.get("month"), today)
    where = await chosen_region(request)
    report = await build(request, where, kind, first)
    rows = await request.app[keys.DB].fetch(
        "SELECT r.code, r.name, r.name_en, r.level FROM regions r"
        f" WHERE {auth.scope_sql(1)} AND r.level IN ('city', 'district', 'town')"
        " ORDER BY r.path", *auth.scope_args(p))
    period = {"date": first.isoformat() if kind == "daily" else today.isoformat(),
              "month": first.strftime("%Y-%m")}
    api = f"/api/v1/reports/{kind}?" + urlencode(
        {"date" if kind == "daily" else "month": report["period"]["label"],
         "region": where.code, "lang": lang})
    return render(request, "reports.html", kind=kind, regions=rows, region=where,
                  period=period, today=today.isoformat(), this_month=today.strftime("%Y-%m"),
                  report=report, title=report_tables.title(report, lang),
                  tables=report_tables.tables(report, lang), api=api)
