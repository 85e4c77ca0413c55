"""The transactional outbox and its relay to Redis.

A change and the live event announcing it commit together (`add` takes the transaction's
connection). The relay moves unsent rows, in id order, into the Redis Stream that every web
process reads, and marks them sent. A Lua script adds each row at most once (a marker key per
outbox id), so a relay that dies between XADD and the UPDATE does not publish it twice. If Redis
is down, rows wait; when it returns, they flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from callcenter import keys, redis_state, tasks
from callcenter.keys import redis_key
from callcenter.settings import Settings

log = logging.getLogger("callcenter.outbox")
LIVE_STREAM = "live"
DISPATCH_TOPIC = "dispatch"
# Dispatch entries are never trimmed: a worker deletes each one once it is handled.
DISPATCH_STREAMS = {True: "dispatch:urgent", False: "dispatch:orders"}
BATCH = 500
MARKER_TTL_S = 7 * 86400

# KEYS[1] stream, KEYS[2] marker; ARGV: maxlen, marker ttl, then field/value pairs.
_PUBLISH_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
    local fields = {}
    for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
    if ARGV[1] == '0' then return redis.call('XADD', KEYS[1], '*', unpack(fields)) end
    return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
end
return false
"""


async def add(conn: asyncpg.Connection, kind: str, region_code: str | None,
              data: dict[str, Any], *, quiet: bool = False) -> None:
    """Queue a live event in the caller's transaction. `quiet`: the insert does not NOTIFY (a
    notifying commit waits for every other notifying commit's WAL flush, sql/005); the caller
    must `Waker.poke` after the commit."""
    if not quiet:
        await add_to(conn, LIVE_STREAM, kind, region_code, data)
        return
    await conn.execute(
        "INSERT INTO outbox (topic, kind, region_code, payload) SELECT $1, $2, $3, $4::text::jsonb"
        " FROM (SELECT set_config('anxin.outbox_quiet', 'on', true)) quiet",
        LIVE_STREAM, kind, region_code, json.dumps(data, ensure_ascii=False, default=str))


class Waker:
    """Wakes the outbox relays after quiet commits: this process's relay at once, the other
    processes' by one NOTIFY (no WAL, so no flush to wait for) at most every `every_s`."""

    def __init__(self, db: asyncpg.Pool, every_s: float = 0.005) -> None:
        self.db = db
        self.every_s = every_s
        self.local: asyncio.Event | None = None  # set by the relay of this process, if it runs
        self._pending: asyncio.Task[None] | None = None

    def poke(self) -> None:
        if self.local is not None:
            self.local.set()
        if self._pending is None or self._pending.done():
            self._pending = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        await asyncio.sleep(self.every_s)  # one NOTIFY for every commit of the next few ms
        try:
            await self.db.execute("SELECT pg_notify('anxin_outbox', '')")
        except (asyncpg.PostgresError, OSError) as exc:  # the relays poll every second anyway
            log.warning("outbox wake-up not sent: %s", exc.__class__.__name__)

    async def close(self) -> None:
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)


WAKER = web.AppKey("outbox_waker", Waker)


async def add_many(conn: asyncpg.Connection,
                   rows: Sequence[tuple[str, str, str | None, dict[str, Any]]]) -> None:
    """Several (topic, kind, region_code, data) rows in one statement (one NOTIFY)."""
    await conn.execute(
        "INSERT INTO outbox (topic, kind, region_code, payload) SELECT t, k, r, p::jsonb"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, k, r, p)",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
        [json.dumps(r[3], ensure_ascii=False, default=str) for r in rows])


async def add_to(conn: asyncpg.Connection, topic: str, kind: str, region_code: str | None,
                 data: dict[str, Any]) -> None:
    """Queue an entry for a topic's relay: 'live' (web processes) or 'dispatch' (workers)."""
    await conn.execute(
        "INSERT INTO outbox (topic, kind, region_code, payload) VALUES ($1, $2, $3, $4::text::jsonb)",
        topic, kind, region_code, json.dumps(data, ensure_ascii=False, default=str))


def _text(payload: Any) -> str:
    """jsonb arrives decoded on the app's pool (its codec) and as text on a plain connection."""
    return payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)


async def relay_once(db: asyncpg.Pool, r: aioredis.Redis, s: Settings,
                     topic: str = LIVE_STREAM) -> int | None:
    """Publish one batch of the topic's unsent rows; returns how many were marked sent, or None
    when another process's relay is publishing this topic right now. One relay at a time per
    topic (an advisory lock): with two, each could publish a later batch while the other still
    held an earlier one, and the stream would be out of commit order."""
    # one cheap look first: every insert wakes every relay, most wake-ups find nothing of theirs
    if not await db.fetchval("SELECT EXISTS (SELECT 1 FROM outbox WHERE sent_at IS NULL"
                             " AND topic = $1)", topic):
        return 0
    script = r.register_script(_PUBLISH_ONCE)
    async with db.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                   f"anxin-outbox-relay:{topic}"):
            return None
        rows = await conn.fetch(
            "SELECT o.id, o.kind, o.region_code, o.payload, coalesce(r.path, '') AS path"
            " FROM outbox o LEFT JOIN regions r ON r.code = o.region_code"
            " WHERE o.sent_at IS NULL AND o.topic = $2 ORDER BY o.id LIMIT $1"
            " FOR UPDATE OF o SKIP LOCKED", BATCH, topic)
        if not rows:
            return 0
        async with r.pipeline(transaction=False) as pipe:
            for row in rows:
                payload = row["payload"]
                data = json.loads(payload) if isinstance(payload, str) else payload
                if topic == DISPATCH_TOPIC:
                    stream = redis_key(s, DISPATCH_STREAMS[bool(data.get("urgent"))])
                    maxlen = 0
                else:
                    stream, maxlen = redis_key(s, LIVE_STREAM), s.live_replay_events
                await script(keys=[stream, redis_key(s, "outbox", "sent", row["id"])],
                             args=[maxlen, MARKER_TTL_S,
                                   "outbox_id", row["id"], "type", row["kind"],
                                   "region", row["region_code"] or "", "path", row["path"],
                                   "data", _text(row["payload"])],
                             client=pipe)
                if topic == LIVE_STREAM:
                    redis_state.apply(pipe, s, row["kind"], row["path"], data)
            await pipe.execute()
        await conn.execute("UPDATE outbox SET sent_at = clock_timestamp() WHERE id = ANY($1)",
                           [row["id"] for row in rows])
    return len(rows)


async def relay_until_empty(db: asyncpg.Pool, r: aioredis.Redis, s: Settings,
                            topic: str = LIVE_STREAM, *, leave_to_other: bool = False) -> int:
    """Drain the topic's outbox rows (burst mode, for tests and for start-up). With
    `leave_to_other`, stop as soon as another process's relay holds the topic: that relay
    drains until it finds nothing, so a row committed now is published by it (the background
    loop uses this; without it, every waiting process would poll PostgreSQL every 5 ms)."""
    total = 0
    while True:
        n = await relay_once(db, r, s, topic)
        if n is None:
            if leave_to_other:
                return total
            await asyncio.sleep(0.005)  # another relay holds the topic; look again shortly
            continue
        if n == 0:
            return total
        total += n


async def _relay_loop(app: web.Application, wake: asyncio.Event, halt: asyncio.Event) -> None:
    db, r, s = app[keys.DB], app[keys.REDIS], app[keys.SETTINGS]
    backoff_s = 0.1
    stale = True  # Redis's copies must be rebuilt: at start, and after every outage
    while not halt.is_set():
        try:
            if stale:
                await redis_state.rebuild(db, r, s)
                stale = False
            await relay_until_empty(db, r, s, leave_to_other=True)
            backoff_s = 0.1
        except (RedisError, OSError) as exc:
            stale = True
            log.warning("relay waiting for Redis: %s; retry in %.1f s", exc.__class__.__name__,
                        backoff_s)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)
            continue
        except asyncpg.PostgresError:
            log.exception("relay failed on PostgreSQL; retrying")
            await asyncio.sleep(1)
            continue
        # Woken by NOTIFY on insert; a poll as well in case a notification was missed.
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
        # the event being set (CPython gh-86296), and shutdown would hang.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await wake.wait()
        wake.clear()
        await asyncio.sleep(0.002)  # let a burst of commits gather into one batch


async def relay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the relay for the app's lifetime, woken by PostgreSQL NOTIFY and by this process's
    quiet commits (the app's Waker)."""
    waker = app[WAKER] = Waker(app[keys.DB])
    if not app[keys.SETTINGS].background_tasks:
        yield
        await waker.close()
        return
    wake = waker.local = asyncio.Event()
    listener = await app[keys.DB].acquire()

    def notified(*_: object) -> None:
        wake.set()

    await listener.add_listener("anxin_outbox", notified)
    halt = asyncio.Event()
    task = asyncio.create_task(_relay_loop(app, wake, halt), name="outbox-relay")
    started = time.monotonic()
    log.info("outbox relay started")
    yield
    await tasks.stop(task, halt)
    waker.local = None
    await waker.close()
    await listener.remove_listener("anxin_outbox", notified)
    await app[keys.DB].release(listener)
    log.info("outbox relay stopped after %.0f s", time.monotonic() - started)
