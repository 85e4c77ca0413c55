"""Health: is PostgreSQL answering, is Redis answering."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from callcenter import keys
from callcenter.errors import json_response
from callcenter.routing import Routes

log = logging.getLogger("callcenter.health")
routes = Routes("health", "服务健康检查 (service health)")


async def _check(name: str, coro: object) -> tuple[str, dict[str, object]]:
    started = time.monotonic()
    try:
        await asyncio.wait_for(coro, timeout=2)  # type: ignore[arg-type]
        return name, {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, and says which
        log.warning("health check %s failed: %s", name, exc.__class__.__name__)
        return name, {"ok": False, "error": exc.__class__.__name__}


@routes.get("/healthz", name="health", summary="PostgreSQL 与 Redis 是否可用 (checks PostgreSQL "
            "and Redis; 503 if either fails)", roles=None)
async def health(request: web.Request) -> web.Response:
    results = dict(await asyncio.gather(
        _check("postgres", request.app[keys.DB].fetchval("SELECT 1")),
        _check("redis", request.app[keys.REDIS].ping())))
    ok = all(r["ok"] for r in results.values())
    return json_response({"status": "ok" if ok else "degraded", **results},
                         status=200 if ok else 503)
