"""The demo's pretend provider staff: every seeded staff member without a login goes on shift
near the elders their provider serves, sends a location now and then, and answers offers the way
people do: most accept within seconds, some decline; then they travel, check in at the elder's
door and check out after a while. They act through the same functions the staff API calls, so
consoles see each step live. People with a demo login (ps.*) are left to a human in a browser.
Demo mode only; `callcenter simulate` (a later step) drives real clients over the network."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from callcenter import keys, tasks
from callcenter.settings import Settings
from dispatch import offers, orders, staff_index

log = logging.getLogger("callcenter.demo_providers")
TICK_S = 2.0
PING_EVERY_S = 60.0
DECLINE_SHARE = 0.1
# seconds after the previous step before a pretend person takes the next one
ANSWER_S, TRAVEL_S, ARRIVE_S, SERVE_S = (3, 9), (4, 8), (15, 30), (30, 60)
CHECKOUT_NOTES = ("服务顺利完成，老人状态良好", "已按要求完成服务", "老人满意，约定下次时间")


async def providers_ctx(app: web.Application) -> AsyncIterator[None]:
    halt = asyncio.Event()
    task = asyncio.create_task(_run(app, random.Random(12349), halt), name="demo-providers")
    yield
    await tasks.stop(task, halt)


async def _run(app: web.Application, rng: random.Random, halt: asyncio.Event) -> None:
    db, r, s = app[keys.DB], app[keys.REDIS], app[keys.SETTINGS]
    people = await _go_on_shift(db, s, rng)
    log.info("demo: %d pretend provider staff on shift", len(people))
    last_ping = 0.0
    due: dict[tuple[str, int], dt.datetime] = {}
    while not halt.is_set():
        now = dt.datetime.now(dt.UTC)
        try:
            if now.timestamp() - last_ping > PING_EVERY_S:
                for sid, (lat, lon) in people.items():
                    await staff_index.record_location(db, r, s, sid, lat, lon, now)
                last_ping = now.timestamp()
            await _answer_offers(app, people, rng, due, now)
            await _work_jobs(app, people, rng, due, now)
        except (orders.OrderRefused, orders.OrderNotFound) as exc:
            log.debug("demo step refused: %s", exc)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("demo providers paused: %s", exc.__class__.__name__)
        await asyncio.sleep(TICK_S)


async def _go_on_shift(db: asyncpg.Pool, s: Settings, rng: random.Random
                       ) -> dict[int, tuple[float, float]]:
    """Everyone without a login, placed near an elder of their provider's area (one pass over
    a sample of the elders, fast at 210,000 too)."""
    homes: dict[int, list[tuple[float, float]]] = {}
    for row in await db.fetch(
            "SELECT pr.provider_id, e.lat, e.lon FROM provider_regions pr"
            " JOIN regions g ON g.code = pr.region_code"
            " JOIN regions r ON r.path = g.path OR r.path LIKE g.path || '.%'"
            " JOIN elders e ON e.region_code = r.code"
            " WHERE e.lat IS NOT NULL AND random() < $1",
            min(1.0, 20000 / max(1, await db.fetchval("SELECT count(*) FROM elders")))):
        homes.setdefault(row["provider_id"], []).append((row["lat"], row["lon"]))
    people: dict[int, tuple[float, float]] = {}
    async with db.acquire() as conn, conn.transaction():
        for row in await conn.fetch("SELECT id, provider_id FROM staff"
                                    " WHERE user_id IS NULL AND active"):
            places = homes.get(row["provider_id"])
            if not places:
                continue
            lat, lon = rng.choice(places)
            people[row["id"]] = (lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01))
            await staff_index.set_shift(conn, row["id"], True, dt.datetime.now(dt.UTC))
    return people


def _wait(due: dict[tuple[str, int], dt.datetime], key: tuple[str, int], now: dt.datetime,
          span: tuple[int, int], rng: random.Random) -> bool:
    """True once the pretend person's pause before this step is over."""
    at = due.setdefault(key, now + dt.timedelta(seconds=rng.uniform(*span)))
    if now < at:
        return False
    del due[key]
    return True


async def _answer_offers(app: web.Application, people: dict[int, tuple[float, float]],
                         rng: random.Random, due: dict[tuple[str, int], dt.datetime],
                         now: dt.datetime) -> None:
    db, r, s = app[keys.DB], app[keys.REDIS], app[keys.SETTINGS]
    pending = await db.fetch("SELECT id, staff_id FROM offers WHERE state = 'pending'"
                             " AND staff_id = ANY($1::bigint[])", list(people))
    for offer in pending:
        if not _wait(due, ("offer", offer["id"]), now, ANSWER_S, rng):
            continue
        if rng.random() < DECLINE_SHARE:
            await offers.decline(db, offer["id"], offer["staff_id"], None, now, "正在服务其他老人")
        else:
            await offers.accept(db, r, s, offer["id"], offer["staff_id"], None, now)


async def _work_jobs(app: web.Application, people: dict[int, tuple[float, float]],
                     rng: random.Random, due: dict[tuple[str, int], dt.datetime],
                     now: dt.datetime) -> None:
    db, r, s = app[keys.DB], app[keys.REDIS], app[keys.SETTINGS]
    jobs = await db.fetch(
        "SELECT o.id, o.state, o.staff_id, e.lat, e.lon FROM orders o"
        " JOIN elders e ON e.id = o.elder_id WHERE o.staff_id = ANY($1::bigint[])"
        " AND o.state IN ('accepted', 'en_route', 'on_site')", list(people))
    steps = {"accepted": ("travel", TRAVEL_S), "en_route": ("check_in", ARRIVE_S),
             "on_site": ("check_out", SERVE_S)}
    for job in jobs:
        event, span = steps[job["state"]]
        if not _wait(due, (job["state"], job["id"]), now, span, rng):
            continue
        lat, lon = people[job["staff_id"]]
        if event == "check_in" and job["lat"] is not None:  # at the door, give or take 40 m
            lat, lon = job["lat"] + rng.uniform(-0.0004, 0.0004), job["lon"]
            people[job["staff_id"]] = (lat, lon)
        await offers.staff_step(db, r, s, job["id"], job["staff_id"], None, event, now,
                                lat=lat, lon=lon,
                                note=rng.choice(CHECKOUT_NOTES) if event == "check_out" else "")
