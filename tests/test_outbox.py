"""Nothing lost, nothing doubled: device events answered 202 while Redis is down wait in the
outbox and reach the live stream once Redis is back, each exactly once; a relay that dies
between publishing and marking does not publish twice."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import RedisError

from callcenter import outbox, redis_state
from callcenter.app import create_app
from callcenter.embedded import RedisProcess, free_port
from callcenter.keys import redis_key
from tests import factories
from tests.factories import event_body, signed_headers
from tests.test_alarms import on_duty, raise_at


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A Redis of this test's own on a loopback port, which the test stops and starts."""
    server = RedisProcess(tmp_path / "redis", port=free_port(), appendonly=True).start()
    yield server
    server.stop()


async def stream_entries(r: aioredis.Redis, key: str) -> list[dict[str, str]]:
    return [fields for _, fields in await r.xrange(key)]


async def test_events_survive_redis_outage_and_arrive_once(world, db, settings, own_redis
                                                            ) -> None:
    await factories.device(db, "SOS-OUT-1", world["elder_wendeng"])
    s = settings.replace(redis_url=own_redis.url, background_tasks=False)
    server = TestServer(create_app(s))
    client = TestClient(server)
    await client.start_server()
    pool = await asyncpg.create_pool(s.database_url, min_size=1, max_size=2)
    r = aioredis.from_url(own_redis.url, decode_responses=True)
    stream = redis_key(s, outbox.LIVE_STREAM)
    try:
        own_redis.stop()  # Redis is lost
        for n in range(5):
            body = event_body(f"out-{n}", kind="fall" if n % 2 else "sos")
            resp = await client.post("/api/v1/devices/SOS-OUT-1/events", data=body,
                                     headers=signed_headers(body))
            assert resp.status in (200, 202), await resp.text()  # ingest does not need Redis
        unsent = await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        assert unsent >= 2
        with pytest.raises((OSError, RedisError)):
            await outbox.relay_until_empty(pool, r, s)
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == unsent

        own_redis.start()  # Redis returns: everything flows, once
        assert await outbox.relay_until_empty(pool, r, s) == unsent
        entries = await stream_entries(r, stream)
        ids = [int(e["outbox_id"]) for e in entries]
        assert len(ids) == len(set(ids)) == unsent
        alarm_ids = {json.loads(e["data"])["alarm"]["id"] for e in entries
                     if e["type"] == "alarm.new"}
        assert alarm_ids == {r["id"] for r in await db.fetch("SELECT id FROM alarms")}
    finally:
        await r.aclose()
        await pool.close()
        await client.close()


async def test_a_relay_that_died_before_marking_does_not_publish_twice(world, db, settings,
                                                                       own_redis) -> None:
    s = settings.replace(redis_url=own_redis.url)
    await factories.device(db, "SOS-OUT-2", world["elder_wendeng"])
    async with db.transaction():
        await outbox.add(db, "test.event", "371003", {"n": 1})
        await outbox.add(db, "test.event", "371003", {"n": 2})
    pool = await asyncpg.create_pool(s.database_url, min_size=1, max_size=2)
    r = aioredis.from_url(own_redis.url, decode_responses=True)
    try:
        assert await outbox.relay_until_empty(pool, r, s) == 2
        # as if the UPDATE ... sent_at had never committed: the rows come round again
        await db.execute("UPDATE outbox SET sent_at = NULL")
        assert await outbox.relay_until_empty(pool, r, s) == 2
        entries = await stream_entries(r, redis_key(s, outbox.LIVE_STREAM))
        assert [json.loads(e["data"])["n"] for e in entries] == [1, 2]
        assert entries[0]["path"] == "371000.371003"  # region path travels with the entry
    finally:
        await r.aclose()
        await pool.close()


async def test_redis_copies_rebuilt_from_postgres_and_kept_current(world, db, settings,
                                                                   client) -> None:
    await on_duty(db, world["op_wendeng"])
    now = dt.datetime.now(dt.UTC)
    first = await raise_at(db, world, now)
    await raise_at(db, world, now, kind="fall")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    r = aioredis.from_url(settings.redis_url, decode_responses=True)
    try:
        await r.delete(redis_key(settings, redis_state.QUEUE))  # as if Redis had been lost
        assert await redis_state.rebuild(pool, r, settings) == (2, 1)
        await client.login("op.wendeng")
        assert await (await client.get("/api/v1/queue")).json() == {"waiting": 2,
                                                                   "source": "redis"}
        assert (await client.post(f"/api/v1/alarms/{first}/acknowledge")).status == 200
        await outbox.relay_until_empty(pool, r, settings)  # the relay keeps the copy current
        assert (await (await client.get("/api/v1/queue")).json())["waiting"] == 1
        presence = await r.hget(redis_key(settings, redis_state.PRESENCE),
                                str(world["op_wendeng"]))
        assert json.loads(presence)["on_duty"] is True
        await client.login("op.rongcheng")
        assert (await (await client.get("/api/v1/queue")).json())["waiting"] == 0
    finally:
        await r.aclose()
        await pool.close()
