"""The provider side's page (SPEC §5.2): a staff member's phone page (go on shift, share the
location, get offers nearby, accept in one tap, navigate, check in and out at the elder's home)
and, at the same address, a provider admin's view of their staff and jobs. The page is a
skeleton; web/static/provider.js fills it from the staff API and the live channel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from callcenter import auth, i18n, keys, staff_views
from callcenter.pages import render
from callcenter.routing import Routes

routes = Routes("provider_page", "服务人员工作台页面 (provider staff page)")
ROLES = frozenset({"provider_staff", "provider_admin"})


def _strings(lang: str) -> dict[str, str]:
    t = i18n.translator(lang)
    return {k: t(k) for k in i18n.message_ids() if k.startswith("pv_")}


@routes.get("/provider", name="provider_page", roles=ROLES, page=True,
            summary="服务人员工作台：上班、接单、导航、签到签退；服务商管理员看本机构人员与工单 "
                    "(provider staff phone page: shift, offers, navigation, check-in and -out; "
                    "provider admins see their staff and jobs)")
async def provider_page(request: web.Request) -> web.Response:
    p = auth.principal(request)
    settings = request.app[keys.SETTINGS]
    lang = i18n.lang_of(request)
    config: dict[str, Any] = {
        "view": "staff" if p.role == "provider_staff" else "admin",
        "user": {"id": p.user_id, "display_name": p.display_name, "role": p.role},
        "tz": settings.time_zone,
        "lang": lang,
        "location_every_s": 30,
        "location_fresh_s": settings.location_fresh_s,
        "offer_s": settings.offer_s,
        "strings": _strings(lang),
    }
    if p.role == "provider_staff":
        row = await staff_views.me(request)  # 403 page when the login has no staff record
        config["staff"] = {"id": row["id"], "name": row["name"], "capacity": row["capacity"],
                           "provider_name": row["provider_name"], "on_shift": row["on_shift"]}
    else:
        name = await request.app[keys.DB].fetchval(
            "SELECT name FROM providers WHERE id = $1", p.provider_id)
        config["provider"] = {"id": p.provider_id, "name": name or ""}
    return render(request, "provider.html", config=config)
