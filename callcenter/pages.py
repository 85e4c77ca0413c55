"""Rendering server pages with jinja2: language, time zone and the logged-in user in context.

Dates and numbers go through Babel in the page's language (filters `datetime`, `date`,
`number`, `percent`), times in the settings' zone (Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from callcenter import auth, i18n, keys
from callcenter.validation import RISK_GROUPS_EN, mask_id, phone_display

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
NONE = "—"


def _lang(ctx: jinja2.runtime.Context) -> str:
    lang = ctx.get("lang")
    return lang if lang in i18n.LANGS else "zh"


@jinja2.pass_context
def datetime_filter(ctx: jinja2.runtime.Context, value: dt.datetime | None,
                    fmt: str = "short") -> str:
    """A moment in the page's zone and language: "short", "medium" or a Babel pattern."""
    if value is None:
        return NONE
    return format_datetime(value, fmt, tzinfo=ctx.get("tz"),
                           locale=i18n.format_locale(_lang(ctx)))


@jinja2.pass_context
def date_filter(ctx: jinja2.runtime.Context, value: dt.date | dt.datetime | None,
                fmt: str = "medium") -> str:
    """A day (a moment is first moved to the page's zone)."""
    if value is None:
        return NONE
    if isinstance(value, dt.datetime) and ctx.get("tz") is not None:
        value = value.astimezone(ctx["tz"])
    return format_date(value, fmt, locale=i18n.format_locale(_lang(ctx)))


@jinja2.pass_context
def number_filter(ctx: jinja2.runtime.Context, value: float | None,
                  digits: int | None = None) -> str:
    """Grouped digits in the page's language; `digits` fixes the decimals."""
    if value is None:
        return NONE
    pattern = None if digits is None else "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, pattern, locale=i18n.format_locale(_lang(ctx)))


@jinja2.pass_context
def percent_filter(ctx: jinja2.runtime.Context, value: float | None, digits: int = 0) -> str:
    """A ratio (0.975) as a percentage ("97.5%") in the page's language."""
    if value is None:
        return NONE
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + "%"
    return format_percent(value, pattern, locale=i18n.format_locale(_lang(ctx)))


@jinja2.pass_context
def risk_filter(ctx: jinja2.runtime.Context, group: str) -> str:
    """A risk group (stored in Chinese, the official term) in the page's language."""
    return RISK_GROUPS_EN.get(group, group) if _lang(ctx) == "en" else group


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
                             autoescape=jinja2.select_autoescape(["html"]),
                             undefined=jinja2.StrictUndefined)
    env.filters["phone"] = phone_display
    env.filters["mask_id"] = mask_id
    env.filters["datetime"] = datetime_filter
    env.filters["date"] = date_filter
    env.filters["number"] = number_filter
    env.filters["percent"] = percent_filter
    env.filters["risk"] = risk_filter
    return env


def lang_switch_href(request: web.Request, lang: str) -> str:
    """This page in another language: the same query with ?lang= replaced."""
    query = [(k, v) for k, v in request.query.items() if k != "lang"] + [("lang", lang)]
    return f"{request.path}?{urlencode(query)}"


def render(request: web.Request, template: str, *, status: int = 200,
           headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    settings = request.app[keys.SETTINGS]
    lang = i18n.lang_of(request)
    html = request.app[keys.TEMPLATES].get_template(template).render(
        t=i18n.translator(lang), lang=lang, tz=settings.tz, user=request.get(auth.PRINCIPAL),
        switch_lang=lambda code: lang_switch_href(request, code),
        path=request.path, query=request.query, **context)
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers=headers)
    if request.query.get("lang") in i18n.LANGS:
        # the cookie keeps the choice for the login page; a logged-in user's is on the user
        response.set_cookie(i18n.LANG_COOKIE, lang, max_age=365 * 86400, samesite="Lax",
                            httponly=True)
    return response


def render_error(request: web.Request, status: int, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> web.StreamResponse:
    if status == 401 and request.method == "GET":
        raise web.HTTPFound(f"/login?next={request.path_qs}")
    return render(request, "error.html", status=status, headers=headers, status_code=status,
                  body=body)
