"""Scheduled and recurring orders with a controlled clock: an order waits for its window, a
care plan makes its visits' orders once however often the generator runs, and a visit not
started by the end of its window raises one missed-visit alert in the operators' queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dispatch import housekeeping, offers, orders
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import Clock, drain, on_shift
from tests.dispatch_world import HOME, offset

TZ = dt.timezone(dt.timedelta(hours=8))


async def test_a_scheduled_order_waits_for_its_window(dworld, pool, rds, settings, clock,
                                                      worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    start = clock.now + dt.timedelta(hours=2)
    async with pool.acquire() as conn, conn.transaction():
        order_id = await orders.create(conn, elder_id=dworld["elder_wendeng"], item_code="BA001",
                                       now=clock.now, window=(start, start + dt.timedelta(hours=2)))
    await drain(worker)
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "created"
    assert await housekeeping.open_windows(pool, clock.advance(3600)) == 0
    assert await housekeeping.open_windows(pool, clock.advance(3600)) == 1
    assert await housekeeping.open_windows(pool, clock.advance(60)) == 0
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    await drain(worker)
    assert await pool.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "offered"


async def test_missed_visit_raises_one_alert(dworld, pool, rds, settings, clock, worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    async with pool.acquire() as conn, conn.transaction():
        late = await orders.create(conn, elder_id=dworld["elder_wendeng"], item_code="BA001",
                                   now=clock.now, window=(clock.now, clock.now
                                                          + dt.timedelta(hours=1)))
        done = await orders.create(conn, elder_id=dworld["elder_wendeng"], item_code="ME001",
                                   now=clock.now, window=(clock.now, clock.now
                                                          + dt.timedelta(hours=1)))
    await drain(worker)
    offer = await pool.fetchrow("SELECT id FROM offers WHERE order_id = $1", late)
    await offers.accept(pool, rds, settings, offer["id"], dworld["staff"], None, clock.now)
    # the meal is delivered in time (staff2 has no meals skill: assigned by hand)
    await pool.execute("INSERT INTO staff_skills VALUES ($1, 'meals')", dworld["staff2"])
    await offers.operator_step(pool, rds, done, dworld["op_wendeng"], "assign", clock.now,
                               staff_id=dworld["staff2"], settings=settings)
    here = offset(HOME, 20)
    await offers.staff_step(pool, rds, settings, done, dworld["staff2"], None, "check_in",
                            clock.advance(600), lat=here[0], lon=here[1])
    assert await housekeeping.missed_visits(pool, settings, clock.advance(3000)) == 0
    assert await housekeeping.missed_visits(pool, settings, clock.advance(60)) == 1
    assert await housekeeping.missed_visits(pool, settings, clock.advance(60)) == 0
    alarm = await pool.fetchrow("SELECT kind, state, order_id, elder_id FROM alarms"
                                " WHERE kind = 'missed_visit'")
    assert dict(alarm) == {"kind": "missed_visit", "state": "offered", "order_id": late,
                           "elder_id": dworld["elder_wendeng"]}
    assert await pool.fetchval("SELECT missed_alarm_id IS NOT NULL FROM orders WHERE id = $1",
                               late)


async def test_a_care_plan_makes_each_visit_once(app_client, dworld, pool, settings,
                                                 clock: Clock) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    resp = await op.post("/api/v1/plans", json={
        "elder_id": dworld["elder_wendeng"], "item_code": "BA001", "weekdays": [2],
        "start_time": "09:00", "end_time": "11:00", "note": "每周二上午助浴"})
    plan = await resp.json()
    assert resp.status == 201, plan
    assert plan["orders_created"] in (1, 2)  # Tuesdays in the next 7 days (today's if not over)
    windows = await pool.fetch("SELECT window_start, window_end, state, source FROM orders"
                               " WHERE plan_id = $1 ORDER BY window_start", plan["id"])
    for w in windows:
        local = w["window_start"].astimezone(settings.tz)
        assert local.isoweekday() == 2 and local.time() == dt.time(9, 0)
        assert w["window_end"] - w["window_start"] == dt.timedelta(hours=2)
        assert w["source"] == "plan"
    # generators running again (several workers, later days) never duplicate a visit
    await pool.execute("UPDATE care_plans SET generated_until = NULL")
    later = dt.datetime.now(dt.UTC)
    assert await housekeeping.generate_plans(pool, settings, later) == 0
    far = later + dt.timedelta(days=7)
    made = await housekeeping.generate_plans(pool, settings, far)
    assert made == 1
    assert await pool.fetchval("SELECT count(DISTINCT window_start) FROM orders"
                               " WHERE plan_id = $1", plan["id"]) == \
        await pool.fetchval("SELECT count(*) FROM orders WHERE plan_id = $1", plan["id"])


async def test_plan_input_is_checked(app_client, dworld) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    resp = await op.post("/api/v1/plans", json={
        "elder_id": dworld["elder_wendeng"], "item_code": "BA001", "weekdays": [0, 8],
        "start_time": "11:00", "end_time": "09:00"})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 422, body
    assert set(body["fields"]) == {"weekdays", "end_time"}
    other = await app_client()
    await other.login("op.rongcheng")
    resp = await other.post("/api/v1/plans", json={
        "elder_id": dworld["elder_wendeng"], "item_code": "BA001", "weekdays": [1],
        "start_time": "09:00", "end_time": "10:00"})
    assert resp.status == 422 and "elder_id" in (await resp.json())["fields"]
