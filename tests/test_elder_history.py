"""An elder's history on one timeline (GET /api/v1/elders/{id}/history): calls, alarms, orders and
home visits, newest first; only inside the user's region; bad input named."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from tests import dispatch_world

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


async def history_world(db: asyncpg.Connection, world: dict[str, int]) -> dict[str, int]:
    """For 王秀英: a call at T0, the alarm it raised at T0+1 min, an order at T0+5 min whose
    carer checked in at T0+1 h and out at T0+1 h 40 min; 孙建国 (another district) has a call."""
    await dispatch_world.catalogue(db)
    elder = world["elder_wendeng"]
    alarm = await db.fetchval(
        "INSERT INTO alarms (elder_id, region_code, kind, priority, state, created_at)"
        " VALUES ($1, '371003001001', 'sos', 1, 'closed', $2) RETURNING id", elder,
        T0 + dt.timedelta(minutes=1))
    call = await db.fetchval(
        "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at,"
        " alarm_id) VALUES ('h-1', 'inbound', '+8613806310001', '12349', $1, 'ended', $2, $3)"
        " RETURNING id", elder, T0, alarm)
    await db.execute(
        "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at)"
        " VALUES ('h-2', 'inbound', '+8613906310002', '12349', $1, 'ended', $2)",
        world["elder_rongcheng"], T0)
    carer = await dispatch_world.staff(db, world["provider"], "张护工", ["bathing"])
    order = await db.fetchval(
        "INSERT INTO orders (elder_id, item_code, kind, state, priority, region_code, created_at,"
        " updated_at, accepted_at, checked_in_at, checked_out_at, checkout_note, staff_id,"
        " provider_id) VALUES ($1, 'BA001', 'service', 'completed', 3, '371003001001', $2, $2,"
        " $2, $3, $4, '洗浴顺利', $5, $6) RETURNING id",
        elder, T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(hours=1),
        T0 + dt.timedelta(hours=1, minutes=40), carer, world["provider"])
    return {"elder": elder, "alarm": alarm, "call": call, "order": order}


async def test_one_timeline_newest_first(world: dict[str, int], db: asyncpg.Connection,
                                         client: Any) -> None:
    ids = await history_world(db, world)
    await client.login("op.wendeng")
    resp = await client.get(f"/api/v1/elders/{ids['elder']}/history")
    body = await resp.json()
    assert resp.status == 200, body
    items = body["items"]
    assert [(i["type"], i["id"]) for i in items] == [
        ("visit", ids["order"]), ("order", ids["order"]), ("alarm", ids["alarm"]),
        ("call", ids["call"])]
    visit, order, alarm, call = items
    assert visit["duration_s"] == 40 * 60 and visit["note"] == "洗浴顺利"
    assert visit["item"]["name"] and order["state"] == "completed"
    assert visit["who"] == "张护工" == order["who"]
    assert alarm["kind"] == "sos" and call["alarm_id"] == ids["alarm"]
    assert call["ani"] == "+8613806310001"


async def test_outside_the_region_is_not_found_and_bad_limit_is_named(
        world: dict[str, int], db: asyncpg.Connection, client: Any) -> None:
    ids = await history_world(db, world)
    await client.login("op.rongcheng")
    resp = await client.get(f"/api/v1/elders/{ids['elder']}/history")
    assert resp.status == 404 and "id" in (await resp.json())["fields"]
    await client.login("op.wendeng")
    for bad in ("0", "x", "501"):
        resp = await client.get(f"/api/v1/elders/{ids['elder']}/history?limit={bad}")
        body = await resp.json()
        assert resp.status == 422 and "limit" in body["fields"], body
    resp = await client.get(f"/api/v1/elders/{ids['elder']}/history?limit=2")
    assert [i["type"] for i in (await resp.json())["items"]] == ["visit", "order"]
