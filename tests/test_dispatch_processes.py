"""Dispatch as it runs in production: workers as running loops and processes.

- A running worker outlives a Redis restart that lost everything (no persistence): it rebuilds
  the groups and the queue from PostgreSQL, and an order made during the outage is offered
  once Redis and the staff's pings are back.
- Two `callcenter worker` processes share the stream; one is killed (SIGKILL) while orders flow;
  the survivor reclaims what the dead one held, and every order is offered, none twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis

from callcenter.embedded import RedisProcess, free_port
from dispatch import orders
from dispatch.worker import Worker
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import on_shift
from tests.dispatch_world import HOME, offset

WAIT_S = 15.0


async def eventually(check, what: str, timeout_s: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def add_order(pool: asyncpg.Pool, elder_id: int, now) -> int:  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn, conn.transaction():
        order_id = await orders.create(conn, elder_id=elder_id, item_code="BA001", now=now)
    assert order_id is not None
    return order_id


async def test_a_running_worker_rebuilds_after_redis_restarts_empty(
        dworld, pool, settings, clock, tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "redis", port=free_port(), appendonly=False).start()
    s = settings.replace(redis_url=server.url)
    r = aioredis.from_url(server.url, decode_responses=True, socket_connect_timeout=1,
                          socket_timeout=2)
    worker = Worker(pool, r, s, name="w", clock=clock)
    halt = asyncio.Event()
    task = asyncio.create_task(worker.run(halt))
    try:
        await on_shift(pool, r, s, dworld["staff"], offset(HOME, 100), clock.now)
        first = await add_order(pool, dworld["elder_wendeng"], clock.now)

        async def offered(order_id: int) -> bool:
            return await pool.fetchval("SELECT state FROM orders WHERE id = $1",
                                       order_id) == "offered"
        await eventually(lambda: offered(first), "the first offer")

        server.stop()  # Redis gone, and with it every key
        during = await add_order(pool, dworld["elder_wendeng"], clock.now)
        await asyncio.sleep(0.5)
        server.start()
        await on_shift(pool, r, s, dworld["staff2"], offset(HOME, 200), clock.now)  # next ping
        await eventually(lambda: offered(during), "the order made during the outage")
        assert await pool.fetchval("SELECT count(*) FROM offers WHERE order_id = $1",
                                   during) == 1
        assert await pool.fetchval("SELECT count(*) FROM offers WHERE order_id = $1",
                                   first) == 1
    finally:
        halt.set()
        await asyncio.wait_for(task, 10)
        await r.aclose()
        server.stop()


def _worker_process(settings, name: str, claim_idle_s: float = 30  # type: ignore[no-untyped-def]
                    ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "ANXIN_REDIS_PREFIX": settings.redis_prefix, "ANXIN_LOG_LEVEL": "WARNING",
           "ANXIN_SECRET_KEY": "x" * 32}
    return subprocess.Popen([sys.executable, "-m", "callcenter", "worker", "--name", name,
                             "--claim-idle-s", str(claim_idle_s)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def test_a_worker_process_killed_holding_entries_is_taken_over(
        dworld, db, pool, rds, settings, clock, worker) -> None:
    """Worker A is blocked reading the stream; entries arrive and Redis hands them to A (they
    are now pending for A); A is frozen, then killed before it could handle or acknowledge
    them. Worker B, started afterwards, reclaims them: every order offered, none twice."""
    from tests.dispatch_world import staff

    for i in range(10):
        sid = await staff(db, dworld["provider"], f"助浴员{i}", ["bathing"], capacity=5)
        await on_shift(pool, rds, settings, sid, offset(HOME, 50 + i * 20), clock.now)
    a = _worker_process(settings, "a")
    b = None
    try:
        async def a_blocked_reading() -> bool:
            return any(c.get("name") == "anxin-worker-a" and c.get("cmd") == "xreadgroup"
                       and "b" in c.get("flags", "") for c in await rds.client_list())
        await eventually(a_blocked_reading, "worker a to wait on the stream")
        a.send_signal(signal.SIGSTOP)
        made = [await add_order(pool, dworld["elder_wendeng"], clock.now) for _ in range(8)]
        await worker.relay()  # the entries go to the stream; Redis delivers them to a's read

        async def held_by_a() -> bool:
            summary = await rds.xpending(worker.normal, "dispatchers")
            return bool(summary["pending"]) and any(
                c["name"] == "a" for c in summary["consumers"])
        await eventually(held_by_a, "entries pending for a")
        a.send_signal(signal.SIGKILL)
        a.wait(5)
        assert await pool.fetchval("SELECT count(*) FROM offers WHERE order_id ="
                                   " ANY($1::bigint[])", made) == 0
        b = _worker_process(settings, "b", claim_idle_s=1)

        async def all_offered() -> bool:
            return await pool.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::bigint[])"
                                       " AND state = 'offered'", made) == len(made)
        await eventually(all_offered, "every order offered by b", timeout_s=30)
        per_order = await pool.fetch(
            "SELECT order_id, count(*) AS n FROM offers WHERE order_id = ANY($1::bigint[])"
            " GROUP BY order_id", made)
        assert {r["order_id"]: r["n"] for r in per_order} == {o: 1 for o in made}
        assert (await rds.xpending(worker.normal, "dispatchers"))["pending"] == 0
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def test_two_worker_processes_one_killed_every_order_offered_once(
        dworld, db, pool, rds, settings, clock) -> None:
    from tests.dispatch_world import staff

    # enough people close by that every order finds someone
    for i in range(30):
        sid = await staff(db, dworld["provider"], f"助浴员{i}", ["bathing"], capacity=5)
        await on_shift(pool, rds, settings, sid, offset(HOME, 50 + i * 20), clock.now)
    a = _worker_process(settings, "a", claim_idle_s=2)
    b = _worker_process(settings, "b", claim_idle_s=2)
    try:
        made = [await add_order(pool, dworld["elder_wendeng"], clock.now) for _ in range(20)]
        await asyncio.sleep(0.3)
        a.send_signal(signal.SIGKILL)  # mid-flow, whatever it holds
        a.wait(5)
        made += [await add_order(pool, dworld["elder_wendeng"], clock.now) for _ in range(20)]

        async def all_offered() -> bool:
            n = await pool.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1::bigint[])"
                                    " AND state = 'offered'", made)
            return n == len(made)
        # the survivor reclaims what the dead one held once idle for 2 s
        await eventually(all_offered, "every order offered", timeout_s=60)
        per_order = await pool.fetch(
            "SELECT order_id, count(*) AS n FROM offers WHERE order_id = ANY($1::bigint[])"
            " GROUP BY order_id", made)
        assert {r["order_id"]: r["n"] for r in per_order} == {o: 1 for o in made}
        offer_events = await pool.fetchval(
            "SELECT count(*) FROM events WHERE entity_type = 'order' AND entity_id ="
            " ANY($1::bigint[]) AND payload->>'event' = 'offer'", made)
        assert offer_events == len(made)
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        assert b.returncode in (0, -signal.SIGTERM), (b.stderr.read() if b.stderr else b"")
