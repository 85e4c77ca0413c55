"""The supervisor's big screen: today's figures of a region, its districts, staff on shift and
the 30-day trend. The page is a skeleton; web/static/dashboard.js fills it from
/api/v1/dashboard and re-fetches when the live channel (/ws/console) reports alarms, calls or
orders. The figures are stats.py's, the same functions as the daily report's."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from aiohttp import web

from callcenter import auth, i18n, keys, stats
from callcenter.errors import Forbidden, NotFound, json_response
from callcenter.pages import render
from callcenter.routing import STAFF_ROLES, Param, Routes
from callcenter.validation import ValidationError

routes = Routes("dashboard", "监管大屏 (supervisor dashboard)")

REGION_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,2}$")
REGION_PARAM = Param("region", "region code (default: yours); must lie in your region")
_JS_PREFIXES = ("dash_", "ak_", "out_", "os_")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def chosen_region(request: web.Request) -> stats.Region:
    """The `region` query parameter (default: the user's region), checked against their scope."""
    p = auth.principal(request)
    code = request.query.get("region") or p.region_code
    if not REGION_CODE.match(code):
        raise ValidationError({"region": "应为6、9或12位区划代码 (must be a 6, 9 or 12 digit "
                                         "region code)"})
    found = await stats.region(request.app[keys.DB], code)
    if found is None:
        raise NotFound("没有该行政区划 (no such region)",
                       fields={"region": "未知区划代码 (unknown region code)"})
    if not p.covers(found.path):
        raise Forbidden("该区划不在您的辖区内 (that region is outside yours)",
                        fields={"region": "不在您的辖区内 (outside your region)"})
    return found


async def dashboard_figures(request: web.Request, where: stats.Region) -> dict[str, Any]:
    settings = request.app[keys.SETTINGS]
    db = request.app[keys.DB]
    at = now()
    today = at.astimezone(settings.tz).date()
    start, end = stats.day_bounds(today, settings.tz)
    report = await stats.region_report(db, where, start, end, at)
    return {"day": today.isoformat(), "tz": settings.time_zone, **report,
            "staff": await stats.staff_figures(db, where),
            "trend": await stats.trend(db, where, today, settings.tz),
            "generated_at": at.isoformat()}


@routes.get("/api/v1/dashboard", name="dashboard_data", roles=STAFF_ROLES,
            query=(REGION_PARAM,),
            summary="大屏数据：今日来电、警情、工单、受理率、在班人员、下辖区划、30天趋势 "
                    "(the dashboard's figures for today in Asia/Shanghai: calls, alarms, orders "
                    "by category and state, answer SLA, staff on shift, child regions, a 30-day "
                    "trend)")
async def dashboard_data(request: web.Request) -> web.Response:
    where = await chosen_region(request)
    return json_response(await dashboard_figures(request, where))


@routes.get("/dashboard", name="dashboard_page", roles=STAFF_ROLES, page=True,
            summary="监管大屏 (supervisor dashboard)")
async def dashboard_page(request: web.Request) -> web.Response:
    where = await chosen_region(request)
    lang = i18n.lang_of(request)
    t = i18n.translator(lang)
    month = now().astimezone(request.app[keys.SETTINGS].tz).date().replace(day=1)
    last_month = (month - dt.timedelta(days=1)).replace(day=1)
    config = {"region": where.public(), "lang": lang,
              "tz": request.app[keys.SETTINGS].time_zone,
              "month": month.strftime("%Y-%m"), "last_month": last_month.strftime("%Y-%m"),
              "strings": {k: t(k) for k in i18n.message_ids() if k.startswith(_JS_PREFIXES)}}
    return render(request, "dashboard.html", config=config, region=where)
