"""Periodic duties that must happen once however many processes run them: escalating
unanswered alarms and raising `inactivity` for silent devices. Each step takes row locks or a
transaction-scoped advisory lock, so two processes never do the same step twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from aiohttp import web

from callcenter import alarm_rules as rules
from callcenter import alarms, keys, tasks
from callcenter.device_events import timings_of

log = logging.getLogger("callcenter.monitors")
INACTIVITY_LOCK = 12349_0002
ESCALATE_EVERY_S = 0.5
INACTIVITY_EVERY_S = 30.0


async def escalate(db: asyncpg.Pool, now: dt.datetime, timings: alarms.Timings) -> list[int]:
    async with db.acquire() as conn, conn.transaction():
        return await alarms.escalate_due(conn, now, timings)


_SILENT = """
SELECT d.id, d.kind, d.elder_id, e.region_code FROM devices d
JOIN elders e ON e.id = d.elder_id
JOIN unnest($2::text[], $3::int[]) AS t(kind, secs) ON t.kind = d.kind
WHERE d.status = 'active' AND e.status = 'active'
  AND d.last_heartbeat_at < $1::timestamptz - make_interval(secs => t.secs)
  AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.device_id = d.id AND a.kind = 'inactivity'
                  AND a.state NOT IN ('resolved', 'closed'))
ORDER BY d.id LIMIT 500
"""


async def raise_inactivity(db: asyncpg.Pool, now: dt.datetime, timings: alarms.Timings,
                           timeouts: dict[str, int]) -> list[int]:
    """One `inactivity` alarm per silent device; a second process finds the lock taken and
    skips the round (the next round sees the alarms already open)."""
    raised: list[int] = []
    async with db.acquire() as conn, conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", INACTIVITY_LOCK):
            return raised
        kinds = sorted(timeouts)
        for row in await conn.fetch(_SILENT, now, kinds, [timeouts[k] for k in kinds]):
            alarm_id = await alarms.raise_alarm(
                conn, kind="inactivity", region_code=row["region_code"],
                elder_id=row["elder_id"], device_id=row["id"], now=now, timings=timings,
                source="system")
            raised.append(alarm_id)
    if raised:
        log.info("raised inactivity alarms n=%d", len(raised))
    return raised


async def _every(period_s: float, name: str, step: Callable[[], Awaitable[object]],
                 halt: asyncio.Event) -> None:
    while not halt.is_set():
        try:
            await step()
        except (asyncpg.PostgresError, OSError):
            log.exception("%s step failed; retrying", name)
        await asyncio.sleep(period_s)


async def monitors_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the escalation and inactivity loops for the app's lifetime."""
    settings = app[keys.SETTINGS]
    if not settings.background_tasks:
        yield
        return
    db, timings = app[keys.DB], timings_of(app)
    timeouts = rules.parse_timeouts(settings.heartbeat_timeouts)

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    halt = asyncio.Event()
    running = [
        asyncio.create_task(_every(ESCALATE_EVERY_S, "escalation",
                                   lambda: escalate(db, now(), timings), halt),
                            name="escalation"),
        asyncio.create_task(_every(INACTIVITY_EVERY_S, "inactivity",
                                   lambda: raise_inactivity(db, now(), timings, timeouts), halt),
                            name="inactivity"),
    ]
    yield
    for task in running:
        await tasks.stop(task, halt)
