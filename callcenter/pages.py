"""Rendering server pages with jinja2: language, time zone and the logged-in user in context."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from callcenter import auth, i18n, keys
from callcenter.validation import mask_id, phone_display

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined)
    env.filters["phone"] = phone_display
    env.filters["mask_id"] = mask_id
    return env


def render(request: web.Request, template: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    settings = request.app[keys.SETTINGS]
    lang = i18n.lang_of(request)
    tz = settings.tz

    def local(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else "—"

    html = request.app[keys.TEMPLATES].get_template(template).render(
        t=i18n.translator(lang), lang=lang, user=request.get(auth.PRINCIPAL), local=local,
        path=request.path, query=request.query, **context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers=headers)
    if request.query.get("lang") in i18n.LANGS:
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax",
                            httponly=True)
    return response


def render_error(request: web.Request, status: int, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> web.StreamResponse:
    if status == 401 and request.method == "GET":
        raise web.HTTPFound(f"/login?next={request.path_qs}")
    return render(request, "error.html", status=status, headers=headers, status_code=status,
                  body=body)
