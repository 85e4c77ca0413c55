"""Sessions, the logged-in principal, role checks, region scoping and CSRF: one mechanism.

Every endpoint declares the roles that may call it (see routing.py); `authorize` enforces them.
Region scoping: a user sees their region and everything below it. Regions carry a `path` of
codes from the city down, so the scope test is a prefix test on that path, in SQL or in Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import i18n, keys, security
from callcenter.errors import Forbidden, Unauthorized

log = logging.getLogger("callcenter.auth")

SESSION_COOKIE = "anxin_session"
PRE_COOKIE = "anxin_pre"  # nonce that binds the login form's CSRF token before a session exists
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FULL_ID_ROLES = frozenset({"admin", "operator"})  # may see an elder's unmasked ID number
_TOUCH_EVERY_S = 60


@dataclasses.dataclass(frozen=True)
class Principal:
    user_id: int
    username: str
    display_name: str
    role: str
    region_code: str
    region_name: str
    region_path: str
    provider_id: int | None
    csrf_token: str
    token_hash: bytes
    lang: str = "zh"  # interface language the user chose last (users.lang)

    @property
    def scope_like(self) -> str:
        """LIKE pattern matching the paths strictly below the user's region."""
        return self.region_path + ".%"

    def covers(self, region_path: str) -> bool:
        """Does the user's region contain the region with this path (itself included)?"""
        return region_path == self.region_path or region_path.startswith(self.region_path + ".")

    @property
    def sees_full_id(self) -> bool:
        return self.role in FULL_ID_ROLES

    def public(self) -> dict[str, Any]:
        return {"id": self.user_id, "username": self.username, "display_name": self.display_name,
                "role": self.role, "region_code": self.region_code,
                "region_name": self.region_name, "provider_id": self.provider_id}


PRINCIPAL = web.RequestKey("principal", Principal)


def principal(request: web.Request) -> Principal:
    """The logged-in user; handlers behind a role check can rely on it."""
    found = request.get(PRINCIPAL)
    if found is None:
        raise Unauthorized("请先登录 (please log in)")
    return found


SCOPE_SQL = "(r.path = $%d OR r.path LIKE $%d)"


def scope_sql(first_param: int) -> str:
    """SQL condition on a joined `regions r`: the row lies in the user's region."""
    return SCOPE_SQL % (first_param, first_param + 1)


def scope_args(p: Principal) -> tuple[str, str]:
    return p.region_path, p.scope_like


_LOAD_SESSION = """
SELECT s.csrf_token, s.last_seen_at, u.id, u.username, u.display_name, u.role, u.region_code,
       u.provider_id, u.lang, r.name AS region_name, r.path AS region_path
FROM sessions s JOIN users u ON u.id = s.user_id JOIN regions r ON r.code = u.region_code
WHERE s.token_hash = $1 AND s.expires_at > now() AND u.active
"""


async def load_principal(db: asyncpg.Pool, token: str, ttl_s: int) -> Principal | None:
    digest = security.token_hash(token)
    row = await db.fetchrow(_LOAD_SESSION, digest)
    if row is None:
        return None
    now = dt.datetime.now(dt.UTC)
    if (now - row["last_seen_at"]).total_seconds() > _TOUCH_EVERY_S:
        await db.execute(
            "UPDATE sessions SET last_seen_at = now(), expires_at = now() + make_interval(secs => $2)"
            " WHERE token_hash = $1", digest, ttl_s)
    return Principal(row["id"], row["username"], row["display_name"], row["role"],
                     row["region_code"], row["region_name"], row["region_path"],
                     row["provider_id"], row["csrf_token"], digest, row["lang"])


@web.middleware
async def session_middleware(request: web.Request,
                             handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                             ) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token and len(token) < 200:
        settings = request.app[keys.SETTINGS]
        found = await load_principal(request.app[keys.DB], token, settings.session_ttl_s)
        if found is not None:
            found = await _remember_lang(request, found)
            request[PRINCIPAL] = found
            request[i18n.USER_LANG] = found.lang
    return await handler(request)


async def _remember_lang(request: web.Request, p: Principal) -> Principal:
    """A logged-in user's ?lang= switch on a page is stored on the user, so it follows them
    (an API's ?lang=, e.g. a report's CSV labels, is for that answer only)."""
    wanted = request.query.get("lang")
    if (request.method != "GET" or wanted not in i18n.LANGS or wanted == p.lang
            or request.path.startswith("/api/")):
        return p
    await request.app[keys.DB].execute("UPDATE users SET lang = $2 WHERE id = $1",
                                       p.user_id, wanted)
    return dataclasses.replace(p, lang=wanted)


async def authorize(request: web.Request, roles: frozenset[str], *, page: bool) -> Principal:
    """Logged in, in one of `roles`, and (for unsafe methods) carrying the session's CSRF token."""
    found: Principal | None = request.get(PRINCIPAL)
    if found is None:
        if page and request.method == "GET":
            raise web.HTTPFound(f"/login?next={request.path_qs}")
        raise Unauthorized("请先登录 (please log in)")
    if found.role not in roles:
        raise Forbidden("您的角色无权执行此操作 (your role may not do this)")
    if request.method in UNSAFE:
        await check_session_csrf(request, found)
    return found


async def check_session_csrf(request: web.Request, p: Principal) -> None:
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded",
                                             "multipart/form-data"):
        form = await request.post()
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent, p.csrf_token):
        raise Forbidden("CSRF 令牌缺失或无效 (CSRF token missing or wrong)",
                        fields={"csrf_token": "缺失或无效 (missing or wrong)"})


async def create_session(db: asyncpg.Pool, user_id: int, ttl_s: int, ip: str | None,
                         user_agent: str) -> tuple[str, str]:
    """Start a session; returns (cookie token, csrf token). Only the token's hash is stored."""
    token, csrf = security.new_token(), security.new_token()
    # the user's expired sessions go now, so the table stays bounded without a sweeper
    await db.execute("DELETE FROM sessions WHERE user_id = $1 AND expires_at < now()", user_id)
    await db.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, ip, user_agent)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5, $6)",
        security.token_hash(token), user_id, csrf, ttl_s, ip, user_agent[:300])
    return token, csrf


async def end_session(db: asyncpg.Pool, p: Principal) -> None:
    await db.execute("DELETE FROM sessions WHERE token_hash = $1", p.token_hash)


def set_session_cookie(response: web.StreamResponse, token: str, *, secure: bool,
                       max_age_s: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Lax", secure=secure,
                        max_age=max_age_s, path="/")


async def check_credentials(db: asyncpg.Pool, username: str, password: str
                            ) -> asyncpg.Record | None:
    """The user row if the password is right; costs the same whether or not the user exists."""
    row = await db.fetchrow(
        "SELECT id, password_hash, active FROM users WHERE username = $1", username)
    stored = row["password_hash"] if row else security.DUMMY_HASH
    ok = security.verify_password(password, stored)
    if row is None or not ok or not row["active"]:
        return None
    return row
