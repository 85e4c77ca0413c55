"""Fixtures for dispatch tests: the dispatch world, a pool and a Redis client on the test's
database and prefix, a controllable clock, and workers driven step by step.

Import with `from tests.dispatch_fixtures import *` in a test module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from callcenter.app import _init_connection, _no_reset
from callcenter.settings import Settings
from dispatch import staff_index
from dispatch.worker import Worker
from tests import dispatch_world

__all__ = ["Clock", "clock", "dworld", "pool", "rds", "make_worker", "worker", "on_shift",
           "drain"]


class Clock:
    """Time that moves only when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def dworld(db: asyncpg.Connection, world: dict[str, int]) -> dict[str, Any]:
    return await dispatch_world.world(db, world)


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8,
                                  init=_init_connection, reset=_no_reset)
    yield p
    await p.close()


@pytest.fixture
async def rds(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    r = aioredis.from_url(settings.redis_url, decode_responses=True)
    yield r
    await r.aclose()


@pytest.fixture
def make_worker(pool: asyncpg.Pool, rds: aioredis.Redis, settings: Settings, clock: Clock
                ) -> Any:
    def make(name: str = "w1", **kw: Any) -> Worker:
        return Worker(pool, rds, settings, name=name, clock=clock, **kw)
    return make


@pytest.fixture
async def worker(make_worker: Any) -> Worker:
    w = make_worker()
    await w.recover_if_lost()
    return w


async def on_shift(pool: asyncpg.Pool, r: aioredis.Redis, s: Settings, staff_id: int,
                   at: tuple[float, float], now: dt.datetime) -> None:
    """Put a staff member on shift at a place (as the phone page would)."""
    async with pool.acquire() as conn, conn.transaction():
        await staff_index.set_shift(conn, staff_id, True, now)
    await staff_index.sync_shift(pool, r, s, staff_id, True)
    await staff_index.record_location(pool, r, s, staff_id, at[0], at[1], now)


async def drain(w: Worker) -> int:
    """Relay the dispatch outbox and handle everything queued, until nothing is left."""
    total = 0
    while True:
        await w.relay()
        n = await w.step(block_ms=None)
        total += n
        if n == 0:
            return total
