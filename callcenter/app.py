"""The application factory: wires PostgreSQL, Redis, templates, middlewares and routes."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from callcenter import (
    alarm_views,
    auth,
    auth_views,
    care_views,
    catalogue,
    console,
    cti,
    dashboard,
    device_events,
    devices,
    elder_history,
    elders,
    health,
    home,
    imports_views,
    keys,
    live,
    map_views,
    monitors,
    order_views,
    outbox,
    plan_views,
    provider_page,
    providers,
    quality_views,
    regions,
    reports,
    settlement_views,
    staff_views,
    subsidy_views,
    volunteer_views,
)
from callcenter.errors import error_middleware
from callcenter.logs import request_id_var
from callcenter.pages import WEB_DIR, make_templates
from callcenter.routing import Routes, openapi_document
from callcenter.settings import Settings

log = logging.getLogger("callcenter.app")
VERSION = "0.1.0"
MAX_UPLOAD_BYTES = 64 * 2**20  # a 210,000-row roster as CSV is ~40 MB

ROUTE_TABLES: tuple[Routes, ...] = (
    health.routes, auth_views.routes, regions.routes, elders.routes, devices.routes,
    providers.routes, catalogue.routes, imports_views.routes, device_events.routes,
    alarm_views.routes, live.routes, cti.routes, console.routes, home.routes,
    order_views.routes, staff_views.routes, plan_views.routes, provider_page.routes,
    elder_history.routes, map_views.routes, dashboard.routes, reports.routes,
    subsidy_views.routes, care_views.routes, volunteer_views.routes,
    settlement_views.routes, quality_views.routes)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex[:16]
    token = request_id_var.set(rid)
    started = time.monotonic()
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and request.app[keys.SETTINGS].trust_proxy:
        # nginx appends the address it saw last; earlier entries are the client's own claims
        request = request.clone(remote=forwarded.rsplit(",", 1)[-1].strip())
    try:
        response = await handler(request)
        response.headers["X-Request-Id"] = rid
        log.info("%s %s %s ms=%.1f", request.method, request.path, response.status,
                 (time.monotonic() - started) * 1000)
        return response
    finally:
        request_id_var.reset(token)


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler
                                      ) -> web.StreamResponse:
    response = await handler(request)
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    h.setdefault("Content-Security-Policy",
                 "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                 "script-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
    if request.path.startswith("/api/") or request.path in ("/login",):
        h.setdefault("Cache-Control", "no-store")
    return response


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query on every release (a round trip per request): the app holds
    no session state on pooled connections (no session advisory locks, LISTEN only on a
    connection it keeps and unlistens itself, transactions always closed)."""


async def postgres_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.DB] = await asyncpg.create_pool(
        settings.database_url, min_size=1, max_size=settings.db_pool_max,
        init=_init_connection, command_timeout=60, reset=_no_reset)
    yield
    await app[keys.DB].close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    client = aioredis.from_url(settings.redis_url, decode_responses=True,
                               socket_connect_timeout=2, socket_timeout=5,
                               health_check_interval=30)
    app[keys.REDIS] = client
    yield
    await client.aclose()


def create_app(settings: Settings) -> web.Application:
    """Build the web application; nothing connects until the app starts."""
    app = web.Application(
        middlewares=[request_id_middleware, security_headers_middleware, error_middleware,
                     auth.session_middleware],
        client_max_size=MAX_UPLOAD_BYTES)
    app[keys.SETTINGS] = settings
    app[keys.TEMPLATES] = make_templates()
    app.cleanup_ctx.append(postgres_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(live.live_ctx)
    app.on_shutdown.append(live.close_consoles)
    app.cleanup_ctx.append(outbox.relay_ctx)
    app.cleanup_ctx.append(monitors.monitors_ctx)
    for table in ROUTE_TABLES:
        table.install(app)
    app[keys.OPENAPI] = openapi_document(ROUTE_TABLES, VERSION)
    app.router.add_get("/api/v1/openapi.json", _openapi, name="openapi")
    app.router.add_static("/static", WEB_DIR / "static", name="static")
    return app


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.OPENAPI])
