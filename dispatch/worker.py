"""The dispatch worker (`callcenter worker`): reads queued orders from Redis Streams with a
consumer group, so several workers share the work.

- Two streams: emergency checks (`dispatch:urgent`) are read and handled before ordinary orders
  (`dispatch:orders`) in every batch.
- An entry is acknowledged and deleted only after it is handled. A worker that dies leaves its
  entries pending; the others reclaim them (XAUTOCLAIM) after `claim_idle_ms`. Handling is
  idempotent (the order must still be `queued` in PostgreSQL), so a reclaimed entry whose order
  was already offered does nothing.
- The worker relays the outbox's dispatch rows to the streams (once-only, like the live relay).
- Deadlines are in PostgreSQL (offers.expires_at, orders.window_start/window_end): they survive
  any restart and fire once, whichever worker sees them first.
- If Redis loses its data (flush, restart without persistence), the epoch key is gone: the worker
  recreates the groups and re-adds every queued order from PostgreSQL. Duplicates are harmless.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from callcenter import care, outbox, rating, tasks
from callcenter.keys import redis_key
from callcenter.settings import Settings
from dispatch import engine, housekeeping, offers

log = logging.getLogger("dispatch.worker")
GROUP = "dispatchers"
CONCURRENCY = 8  # orders handled at once by one worker
EPOCH = "dispatch:epoch"
RELAY_EVERY_S = 0.025  # the dispatch relay runs at most this often under load
WAKE_EVERY_S = 0.01  # decisions' live events wait at most this long for a NOTIFY (batch end)
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def entry_order_id(fields: dict[str, str]) -> int:
    """An entry from the outbox relay carries the order in `data`; a re-added one, directly."""
    if "order_id" in fields:
        return int(fields["order_id"])
    return int(json.loads(fields["data"])["order_id"])


class Worker:
    def __init__(self, db: asyncpg.Pool, r: aioredis.Redis, s: Settings, *,
                 name: str | None = None, clock: Clock = utcnow, claim_idle_ms: int = 30000,
                 batch: int = 100) -> None:
        self.db, self.r, self.s, self.clock = db, r, s, clock
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = claim_idle_ms
        self.batch = batch
        self.urgent = redis_key(s, outbox.DISPATCH_STREAMS[True])
        self.normal = redis_key(s, outbox.DISPATCH_STREAMS[False])
        self.handled = 0

    # -- set-up and recovery ---------------------------------------------------------------
    async def ensure_groups(self) -> None:
        for stream in (self.urgent, self.normal):
            try:
                await self.r.xgroup_create(stream, GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def recover_if_lost(self) -> bool:
        """Rebuild Redis's dispatch state from PostgreSQL when the epoch key is missing."""
        key = redis_key(self.s, EPOCH)
        if await self.r.exists(key) or not await self.r.set(key, self.clock().isoformat(),
                                                             nx=True):
            return False  # intact, or another worker is rebuilding it
        await self.ensure_groups()
        n = await self.requeue(dt.timedelta(0))
        log.info("dispatch state rebuilt from PostgreSQL: %d queued orders re-added", n)
        return True

    async def requeue(self, older_than: dt.timedelta) -> int:
        """Re-add queued orders untouched for `older_than` to the streams (handling is
        idempotent: a duplicate entry finds the order no longer queued and does nothing).
        With 0 after Redis was lost; every minute with a margin as a backstop."""
        queued = await self.db.fetch(
            "SELECT id, kind = 'emergency_check' AS urgent FROM orders WHERE state = 'queued'"
            " AND updated_at <= $1 ORDER BY priority, created_at", self.clock() - older_than)
        async with self.r.pipeline(transaction=False) as pipe:
            for row in queued:
                pipe.xadd(self.urgent if row["urgent"] else self.normal,
                          {"order_id": row["id"], "why": "requeue"})
            await pipe.execute()
        return len(queued)

    async def backstop(self) -> int:
        """Once a minute, in one worker: if both streams are empty yet an order has sat queued
        for two minutes, its entry was lost somewhere: add it again. (A backlog means entries
        are still on their way; adding duplicates then would only add work.)"""
        if await self.r.xlen(self.urgent) or await self.r.xlen(self.normal):
            return 0
        if not await self.r.set(redis_key(self.s, "dispatch:backstop"), self.name, nx=True,
                                ex=55):
            return 0
        n = await self.requeue(dt.timedelta(minutes=2))
        if n:
            log.warning("backstop re-added %d queued orders whose entries were lost", n)
        return n

    # -- the work --------------------------------------------------------------------------
    async def step(self, block_ms: int | None = 500) -> int:
        """Read one batch (urgent first) and handle it; returns how many entries were handled."""
        try:
            got: Any = await self.r.xreadgroup(GROUP, self.name, {self.urgent: ">"},
                                               count=self.batch)
            if not got:
                got = await self.r.xreadgroup(GROUP, self.name,
                                              {self.urgent: ">", self.normal: ">"},
                                              count=self.batch, block=block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.recover_if_lost()
            await self.ensure_groups()
            return 0
        entries = [(stream, entry_id, fields) for stream, items in got or []
                   for entry_id, fields in items]
        entries.sort(key=lambda e: e[0] != self.urgent)
        return await self.handle_entries(entries)

    async def handle_entries(self, entries: list[tuple[str, str, dict[str, str]]]) -> int:
        """Urgent entries first, then the rest, CONCURRENCY orders at a time (each order is its
        own transaction and row lock; a duplicate of one order waits for the other and finds it
        no longer queued)."""
        gate = asyncio.Semaphore(CONCURRENCY)
        done: dict[str, list[str]] = {}
        loop = asyncio.get_running_loop()
        unannounced = 0  # decisions committed quietly since the last wake-up of the relays
        woken = loop.time()

        async def one(stream: str, entry_id: str, fields: dict[str, str]) -> None:
            nonlocal unannounced, woken
            async with gate:
                order_id = entry_order_id(fields)
                outcome = await engine.handle(self.db, self.r, self.s, order_id, self.clock())
                log.debug("order %d: %s %s", order_id, outcome.result, outcome.staff_ids)
                done.setdefault(stream, []).append(entry_id)
                self.handled += 1
                if outcome.result != "skipped":
                    unannounced += 1
                if unannounced and loop.time() - woken >= WAKE_EVERY_S:
                    unannounced, woken = 0, loop.time()
                    await engine.wake_relays(self.db)
        try:
            for group in ([e for e in entries if e[0] == self.urgent],
                          [e for e in entries if e[0] != self.urgent]):
                if group:
                    await asyncio.gather(*(one(*e) for e in group))
        finally:  # what was committed is announced and acknowledged, once for the batch
            if unannounced:
                await engine.wake_relays(self.db)
            if done:
                async with self.r.pipeline(transaction=False) as pipe:
                    for stream, ids in done.items():
                        pipe.xack(stream, GROUP, *ids)
                        pipe.xdel(stream, *ids)
                    await pipe.execute()
        return len(entries)

    async def reclaim(self) -> int:
        """Take over entries another consumer read but never acknowledged (it died)."""
        total = 0
        for stream in (self.urgent, self.normal):
            result: Any = await self.r.xautoclaim(stream, GROUP, self.name,
                                                  min_idle_time=self.claim_idle_ms,
                                                  start_id="0-0", count=self.batch)
            claimed = [(stream, entry_id, fields) for entry_id, fields in result[1] if fields]
            if claimed:
                log.warning("reclaimed %d dispatch entries from a silent worker", len(claimed))
            total += await self.handle_entries(claimed)
        return total

    async def housekeeping(self) -> dict[str, int]:
        """Deadlines and schedules; safe to run in every worker at once."""
        now = self.clock()
        return {"expired": await offers.expire_due(self.db, now),
                "opened": await housekeeping.open_windows(self.db, now),
                "missed": await housekeeping.missed_visits(self.db, self.s, now)}

    async def relay(self) -> int:
        return await outbox.relay_until_empty(self.db, self.r, self.s, outbox.DISPATCH_TOPIC)

    # -- the process -----------------------------------------------------------------------
    async def run(self, halt: asyncio.Event) -> None:
        loops = [asyncio.create_task(self._guard(self._consume, halt), name="dispatch-consume"),
                 asyncio.create_task(self._guard(self._timers, halt), name="dispatch-timers"),
                 asyncio.create_task(self._guard(self._relay_loop, halt), name="dispatch-relay")]
        log.info("dispatch worker %s running", self.name)
        await halt.wait()
        for task in loops:
            await tasks.stop(task, halt)

    async def _guard(self, body: Callable[[asyncio.Event], Any], halt: asyncio.Event) -> None:
        backoff = 0.1
        while not halt.is_set():
            try:
                await body(halt)
                backoff = 0.1
            except (RedisError, OSError) as exc:
                if halt.is_set():  # stopping: the clients are being closed under us
                    return
                log.warning("worker waiting for Redis: %s", exc.__class__.__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            except asyncpg.PostgresError:
                log.exception("worker step failed on PostgreSQL; retrying")
                await asyncio.sleep(1)

    async def _consume(self, halt: asyncio.Event) -> None:
        await self.recover_if_lost()
        await self.ensure_groups()
        while not halt.is_set():
            await self.step()

    async def _timers(self, halt: asyncio.Event) -> None:
        ticks = 0
        while not halt.is_set():
            await offers.expire_due(self.db, self.clock())
            if ticks % 4 == 0:
                await self.recover_if_lost()
            if ticks % 20 == 0:
                now = self.clock()
                await housekeeping.open_windows(self.db, now)
                await housekeeping.missed_visits(self.db, self.s, now)
                await self.reclaim()
            if ticks % 240 == 0:
                await housekeeping.generate_plans(self.db, self.s, self.clock())
                # active care: the month's plan (on the 1st, or on start) and the day's sweep
                await care.run_periodic(self.db, self.s, self.clock())
                # provider ratings: once per Shanghai day (advisory lock + unique nightly row)
                await rating.run_nightly(self.db, self.r, self.s, self.clock())
            if ticks % 240 == 239:
                await self.backstop()
            ticks += 1
            await asyncio.sleep(0.25)

    async def _relay_loop(self, halt: asyncio.Event) -> None:
        wake = asyncio.Event()
        listener = await self.db.acquire()

        def notified(*_: object) -> None:
            wake.set()

        await listener.add_listener("anxin_outbox", notified)
        try:
            while not halt.is_set():
                started = asyncio.get_running_loop().time()
                await self.relay()
                # every outbox insert (each order decided) notifies: relay at most every
                # RELAY_EVERY_S, not once per notification
                await asyncio.sleep(max(0.0, started + RELAY_EVERY_S
                                        - asyncio.get_running_loop().time()))
                try:
                    async with asyncio.timeout(1.0):
                        await wake.wait()
                except TimeoutError:
                    pass
                wake.clear()
        finally:
            await listener.remove_listener("anxin_outbox", notified)
            await self.db.release(listener)
