"""Running dispatch workers: `callcenter worker` as its own process (production: one or more),
or `worker_ctx` inside the web process (the demo and browser tests)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from callcenter import keys, tasks
from callcenter.app import _init_connection, _no_reset
from callcenter.settings import Settings
from dispatch.worker import Worker

log = logging.getLogger("callcenter.worker")


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    """A dispatch worker sharing the web process's pool and Redis client."""
    worker = Worker(app[keys.DB], app[keys.REDIS], app[keys.SETTINGS], name="web-inproc")
    halt = asyncio.Event()
    task = asyncio.create_task(worker.run(halt), name="dispatch-worker")
    yield
    await tasks.stop(task, halt, timeout_s=10)


async def run_worker(settings: Settings, name: str | None = None,
                     claim_idle_ms: int = 30000) -> int:
    """The `callcenter worker` process: until SIGINT or SIGTERM."""
    import asyncpg

    db = await asyncpg.create_pool(settings.database_url, min_size=2,
                                   max_size=settings.db_pool_max, init=_init_connection,
                                   reset=_no_reset)
    r = aioredis.from_url(settings.redis_url, decode_responses=True, socket_connect_timeout=2,
                          socket_timeout=10, client_name=f"anxin-worker-{name or os.getpid()}")
    halt = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, halt.set)
    worker = Worker(db, r, settings, name=name, claim_idle_ms=claim_idle_ms)
    try:
        await worker.run(halt)
    finally:
        await r.aclose()
        await db.close()
    log.info("dispatch worker %s stopped after %d entries", worker.name, worker.handled)
    return 0
