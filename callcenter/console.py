"""The operator console page: the live alarm queue, the handling dialogs, the screen pop, the
day's answer figures and the service order board. The page is a skeleton; web/static/console.js
fills it from the live channel (/ws/console) and the alarm API, web/static/orders.js the order
board and dialogs from the same channel and the order API."""

from __future__ import annotations

import functools
from typing import Any

import pypinyin
from aiohttp import web

from callcenter import alarm_views, auth, catalogue, i18n, keys, order_views
from callcenter.alarm_rules import OUTCOMES
from callcenter.pages import render
from callcenter.routing import STAFF_ROLES, Routes
from callcenter.validation import RISK_GROUPS_EN

routes = Routes("console", "坐席控制台页面 (operator console page)")

# Message ids the script needs (the page's own text is rendered by the template).
_JS_PREFIXES = ("con_", "ak_", "as_", "esc_", "res_", "act_", "svc_", "out_", "call_", "kind_",
                "ord_", "os_", "prof_", "status_", "dstat_", "keys_", "map_", "care_", "fu_")
_JS_KEYS = ("M", "F", "years", "address", "phones", "contacts", "devices", "region",
            "risk_groups", "relation", "serial", "kind", "care_level", "medical_notes")
CALL_RESULTS = ("reached", "no_answer", "busy", "wrong_number")
SERVICES = ("120", "110", "119")


@functools.lru_cache(maxsize=4096)
def pinyin_initials(text: str) -> str:
    """助浴服务 → "zyfw": what operators type to find a service item (letters and digits kept)."""
    letters = pypinyin.lazy_pinyin(text, style=pypinyin.Style.FIRST_LETTER, errors="default")
    return "".join(x for x in "".join(letters).lower() if x.isalnum())


def _strings(lang: str) -> dict[str, str]:
    t = i18n.translator(lang)
    return {k: t(k) for k in i18n.message_ids() if k.startswith(_JS_PREFIXES) or k in _JS_KEYS}


@routes.get("/console", name="console_page", roles=STAFF_ROLES, page=True,
            summary="坐席控制台：警情队列、受理与处置、来电弹屏 (operator console: alarm "
                    "queue, acknowledge and handle, screen pop)")
async def console_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    db = request.app[keys.DB]
    level = await db.fetchval("SELECT level FROM regions WHERE code = $1", p.region_code)
    presence = await db.fetchrow(
        "SELECT on_duty, available FROM operator_presence WHERE user_id = $1", p.user_id)
    lang = i18n.lang_of(request)
    items = [{"code": i["code"], "name": i["name_zh"], "name_en": i["name_en"],
              "initials": pinyin_initials(i["name_zh"]),
              "category": c["name_zh"] if lang == "zh" else c["name_en"],
              "duration_min": i["duration_min"], "price_cents": i["price_cents"],
              "subsidy_eligible": i["subsidy_eligible"], "unit": i["unit"]}
             for c in await catalogue.catalogue(db, active_only=True) for i in c["items"]]
    config: dict[str, Any] = {
        "user": {"id": p.user_id, "display_name": p.display_name, "role": p.role,
                 "region_code": p.region_code, "region_level": level},
        "can_handle": p.role in alarm_views.HANDLERS,
        "can_order": p.role in order_views.ACTORS,
        "items": items,
        "has_presence": p.role == "operator",
        "presence": {"on_duty": bool(presence and presence["on_duty"]),
                     "available": bool(presence and presence["available"])},
        "tz": request.app[keys.SETTINGS].time_zone,
        "lang": lang,
        "strings": _strings(lang),
        "map_tile_url": request.app[keys.SETTINGS].map_tile_url,
        "risk_groups_en": RISK_GROUPS_EN if lang == "en" else {},
    }
    return render(request, "console.html", config=config, outcomes=OUTCOMES,
                  call_results=CALL_RESULTS, services=SERVICES)
