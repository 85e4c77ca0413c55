"""Login and logout: the page (form with CSRF) and the JSON API, both throttled."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from callcenter import audit, auth, i18n, keys, security, throttle
from callcenter.errors import Forbidden, TooManyRequests, Unauthorized, json_response
from callcenter.http import json_body
from callcenter.pages import render
from callcenter.routing import ALL_ROLES, Routes
from callcenter.validation import Form, text

log = logging.getLogger("callcenter.auth")
routes = Routes("auth", "登录与会话 (login and sessions)")

LOGIN_BODY: dict[str, Any] = {
    "type": "object", "required": ["username", "password"],
    "properties": {"username": {"type": "string"}, "password": {"type": "string"}}}


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def _login_page(request: web.Request, *, error: str = "", status: int = 200,
                username: str = "") -> web.Response:
    settings = request.app[keys.SETTINGS]
    nonce = request.cookies.get(auth.PRE_COOKIE) or security.new_token()
    response = render(request, "login.html", status=status, error=error, username=username,
                      csrf_token=security.sign_csrf(settings.secret_key, nonce),
                      next=_safe_next(request.query.get("next")))
    response.set_cookie(auth.PRE_COOKIE, nonce, httponly=True, samesite="Lax",
                        secure=settings.cookie_secure, path="/")
    return response


@routes.get("/login", name="login_page", summary="登录页 (login page)", roles=None, page=True)
async def login_page(request: web.Request) -> web.StreamResponse:
    if request.get(auth.PRINCIPAL) is not None:
        raise web.HTTPFound(_safe_next(request.query.get("next")))
    return _login_page(request)


async def _attempt(request: web.Request, username: str, password: str) -> int:
    """Check throttle and credentials; returns the user id or raises."""
    app = request.app
    settings, redis = app[keys.SETTINGS], app[keys.REDIS]
    ip = request.remote or "unknown"
    wait_s = await throttle.retry_after_s(redis, settings, username, ip)
    if wait_s:
        log.warning("login throttled for %r from %s", username, ip)
        raise TooManyRequests("登录失败次数过多，请稍后再试 (too many failed logins; try later)",
                              headers={"Retry-After": str(wait_s)})
    row = await auth.check_credentials(app[keys.DB], username, password)
    if row is None:
        await throttle.record_failure(redis, settings, username, ip)
        log.info("failed login for %r from %s", username, ip)
        raise Unauthorized("用户名或密码错误 (wrong user name or password)")
    await throttle.record_success(redis, settings, username)
    await audit.write(app[keys.DB], request, row["id"], "login", "user", row["id"])
    return int(row["id"])


@routes.post("/login", name="login_submit", summary="提交登录表单 (submit the login form)",
             roles=None, page=True)
async def login_submit(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    form = await request.post()
    t = i18n.translator(i18n.lang_of(request))
    nonce = request.cookies.get(auth.PRE_COOKIE, "")
    token = form.get("csrf_token", "")
    if not nonce or not isinstance(token, str) or not security.check_csrf(
            settings.secret_key, nonce, token):
        return _login_page(request, error=t("csrf_failed"), status=403)
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    try:
        user_id = await _attempt(request, username, password)
    except TooManyRequests as exc:
        page = _login_page(request, error=t("login_throttled"), status=429, username=username)
        page.headers.update(exc.headers)
        return page
    except Unauthorized:
        return _login_page(request, error=t("login_failed"), status=401, username=username)
    token_value, _ = await auth.create_session(
        request.app[keys.DB], user_id, settings.session_ttl_s, request.remote,
        request.headers.get("User-Agent", ""))
    response = web.HTTPFound(_safe_next(str(form.get("next", "/"))))
    auth.set_session_cookie(response, token_value, secure=settings.cookie_secure,
                            max_age_s=settings.session_ttl_s)
    response.del_cookie(auth.PRE_COOKIE, path="/")
    raise response


@routes.post("/logout", name="logout_submit", summary="退出登录 (log out)", roles=ALL_ROLES,
             page=True)
async def logout_submit(request: web.Request) -> web.StreamResponse:
    await auth.end_session(request.app[keys.DB], auth.principal(request))
    response = web.HTTPFound("/login")
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    raise response


@routes.post("/api/v1/auth/login", name="api_login", roles=None, body=LOGIN_BODY,
             summary="登录，返回用户与 CSRF 令牌 (log in; returns the user and the CSRF token "
                     "to send as X-CSRF-Token)")
async def api_login(request: web.Request) -> web.Response:
    # A JSON body cannot be sent cross-site without a CORS preflight, so no CSRF token here.
    settings = request.app[keys.SETTINGS]
    form = Form(await json_body(request))
    form.field("username", lambda v: text(v, max_len=40).lower())
    form.field("password", lambda v: v if isinstance(v, str) else text(v, max_len=200))
    data = form.result()
    user_id = await _attempt(request, data["username"], data["password"])
    token, csrf = await auth.create_session(request.app[keys.DB], user_id,
                                            settings.session_ttl_s, request.remote,
                                            request.headers.get("User-Agent", ""))
    p = await auth.load_principal(request.app[keys.DB], token, settings.session_ttl_s)
    if p is None:  # the user was deactivated between the two statements
        raise Forbidden("账号已停用 (account disabled)")
    response = json_response({"user": p.public(), "csrf_token": csrf})
    auth.set_session_cookie(response, token, secure=settings.cookie_secure,
                            max_age_s=settings.session_ttl_s)
    return response


@routes.post("/api/v1/auth/logout", name="api_logout", summary="退出登录 (log out)",
             roles=ALL_ROLES)
async def api_logout(request: web.Request) -> web.Response:
    await auth.end_session(request.app[keys.DB], auth.principal(request))
    response = json_response({"ok": True})
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    return response


@routes.get("/api/v1/auth/me", name="api_me", summary="当前用户 (the logged-in user)",
            roles=ALL_ROLES)
async def api_me(request: web.Request) -> web.Response:
    p = auth.principal(request)
    return json_response({"user": p.public(), "csrf_token": p.csrf_token})
