"""Time-driven order steps, each safe to run in several workers at once (row locks, SKIP LOCKED,
unique indexes): scheduled orders enter the queue when their window opens; a visit not started by
the end of its window raises a missed-visit alert (carer non-arrival) in the operators' alarm
queue; recurring plans create their orders ahead of time."""

from __future__ import annotations

import datetime as dt
import logging

import asyncpg

from callcenter import alarms
from callcenter.settings import Settings
from dispatch import orders, plans

log = logging.getLogger("dispatch.housekeeping")
NOT_STARTED = ("created", "queued", "offered", "accepted", "en_route", "no_candidate")


async def open_windows(db: asyncpg.Pool, now: dt.datetime, limit: int = 500) -> int:
    done = 0
    async with db.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, state, kind, region_code, staff_id, provider_id, elder_id, checked_in_at"
            " FROM orders WHERE state = 'created' AND window_start <= $1 ORDER BY window_start"
            " LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)
        for row in rows:
            await orders.apply(conn, row["id"], "enqueue", "system", now=now, row=row,
                               payload={"why": "window opened"})
            done += 1
    return done


async def missed_visits(db: asyncpg.Pool, s: Settings, now: dt.datetime, limit: int = 200
                        ) -> int:
    """Orders whose window has ended with nobody checked in: one alert each, ever."""
    timings = alarms.Timings(s.alarm_offer_s, s.alarm_city_s)
    done = 0
    async with db.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT o.id, o.elder_id, o.region_code, o.staff_id, e.lat, e.lon, e.lat_gcj02,"
            " e.lon_gcj02 FROM orders o JOIN elders e ON e.id = o.elder_id"
            " WHERE o.window_end < $1 AND o.missed_alarm_id IS NULL"
            f" AND o.state IN {NOT_STARTED!r} ORDER BY o.window_end LIMIT $2"  # the partial index
            " FOR UPDATE OF o SKIP LOCKED", now, limit)
        for row in rows:
            location = None if row["lat"] is None else (
                row["lat"], row["lon"], row["lat_gcj02"], row["lon_gcj02"])
            alarm_id = await alarms.raise_alarm(
                conn, kind="missed_visit", region_code=row["region_code"],
                elder_id=row["elder_id"], device_id=None, now=now, timings=timings,
                source="system", location=location)
            await conn.execute("UPDATE alarms SET order_id = $2 WHERE id = $1", alarm_id,
                               row["id"])
            await conn.execute("UPDATE orders SET missed_alarm_id = $2, updated_at = $3"
                               " WHERE id = $1", row["id"], alarm_id, now)
            await orders.record_event(conn, row["id"], None, "missed", "missed_visit", "system",
                                      payload={"alarm_id": alarm_id})
            await orders.announce(conn, row["id"], "missed_visit", [], now)
            done += 1
    if done:
        log.warning("%d visits missed their window: alerts raised", done)
    return done


async def generate_plans(db: asyncpg.Pool, s: Settings, now: dt.datetime) -> int:
    """Create the orders of every active plan up to the horizon; a visit's order is made once
    (unique plan and window start), whoever runs this."""
    today = now.astimezone(s.tz).date()
    horizon = today + dt.timedelta(days=s.plan_horizon_days)
    made = 0
    rows = await db.fetch(
        "SELECT id, elder_id, item_code, weekdays, start_time, end_time, valid_from,"
        " valid_until, note, generated_until, created_by FROM care_plans WHERE active"
        " AND (generated_until IS NULL OR generated_until < $1)"
        " AND (valid_until IS NULL OR valid_until >= $2)", horizon, today)
    for row in rows:
        made += await generate_plan(db, s, row, now, today, horizon)
    return made


async def generate_plan(db: asyncpg.Pool, s: Settings, row: asyncpg.Record, now: dt.datetime,
                        today: dt.date, horizon: dt.date) -> int:
    plan = plans.Plan(frozenset(row["weekdays"]), row["start_time"], row["end_time"],
                      row["valid_from"], row["valid_until"])
    first = max(today, (row["generated_until"] or today - dt.timedelta(days=1))
                + dt.timedelta(days=1))
    made = 0
    async with db.acquire() as conn, conn.transaction():
        for start, end in plans.visit_windows(plan, first, horizon, s.tz):
            if end <= now:
                continue
            made += await orders.create(
                conn, elder_id=row["elder_id"], item_code=row["item_code"], now=now,
                source="plan", note=row["note"], window=(start, end), plan_id=row["id"]
            ) is not None
        await conn.execute("UPDATE care_plans SET generated_until = $2 WHERE id = $1",
                           row["id"], horizon)
    return made
