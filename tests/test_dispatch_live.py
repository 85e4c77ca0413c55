"""The live channel for orders: an emergency check offered to three staff reaches exactly those
three phones; when one accepts, the other two hear that their offer is gone; the operator's
console sees every step; a staff member of another provider and an operator of another district
see nothing of it; the provider admin sees their own people's part."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import asyncpg

from dispatch import offers, orders
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset, staff
from tests.test_live import Console, has_snapshot, in_process_app, login

QUIET_S = 1.0


def order_events(console: Console, order_id: int) -> list[str]:
    return [m["data"]["event"] for m in console.messages
            if m["type"].startswith("order.") and m["data"]["order"]["id"] == order_id]


async def test_order_events_reach_exactly_the_people_concerned(
        dworld, db: asyncpg.Connection, pool, rds, settings, clock, worker) -> None:
    # three emergency staff with logins: ps.001 and ps.002 (provider 1), ps.003 (provider 2)
    # plus one more of provider 2 without a login, farther away
    for sid, north in ((dworld["staff"], 100), (dworld["staff2"], 200), (dworld["staff3"], 300)):
        await on_shift(pool, rds, settings, sid, offset(HOME, north), clock.now)
    far = await staff(db, dworld["provider2"], "钱师傅", ["emergency"])
    await on_shift(pool, rds, settings, far, offset(HOME, 2500), clock.now)
    async with in_process_app(settings) as base, aiohttp.ClientSession() as http:
        watchers: dict[str, Console] = {}
        for name in ("ps.001", "ps.002", "ps.003", "pa.001", "op.wendeng", "op.rongcheng"):
            watchers[name] = await Console.open(name, base, await login(http, base, name))
            await has_snapshot(watchers[name])
        try:
            async with pool.acquire() as conn, conn.transaction():
                order_id = await orders.create(conn, elder_id=dworld["elder_wendeng"],
                                               item_code="EM001", kind="emergency_check",
                                               priority=1, now=clock.now)
            assert order_id is not None
            await drain(worker)
            three = await pool.fetch("SELECT id, staff_id FROM offers WHERE order_id = $1"
                                     " ORDER BY staff_id", order_id)
            assert {o["staff_id"] for o in three} == {dworld["staff"], dworld["staff2"],
                                                      dworld["staff3"]}
            for name in ("ps.001", "ps.002", "ps.003"):
                await watchers[name].wait_for(
                    "the offer", lambda c: "offer" in order_events(c, order_id))
            winner = next(o for o in three if o["staff_id"] == dworld["staff3"])
            await offers.accept(pool, rds, settings, winner["id"], winner["staff_id"], None,
                                clock.now)
            for name in ("ps.001", "ps.002", "ps.003", "op.wendeng"):
                await watchers[name].wait_for(
                    "the acceptance", lambda c: "accept" in order_events(c, order_id))
            # provider 1's admin saw its people being offered the job and losing it
            await watchers["pa.001"].wait_for(
                "its staff's offer", lambda c: "accept" in order_events(c, order_id))
            await offers.staff_step(pool, rds, settings, order_id, winner["staff_id"], None,
                                    "travel", clock.advance(30))
            await watchers["ps.003"].wait_for(
                "the travel step", lambda c: "travel" in order_events(c, order_id))
            await watchers["op.wendeng"].wait_for(
                "the travel step", lambda c: "travel" in order_events(c, order_id))
            await asyncio.sleep(QUIET_S)
            # after losing the race, the others hear nothing more of the order ...
            for name in ("ps.001", "ps.002", "pa.001"):
                assert "travel" not in order_events(watchers[name], order_id), name
            # ... and an operator of another district never saw it at all
            assert order_events(watchers["op.rongcheng"], order_id) == []
            card: dict[str, Any] = next(
                m for m in watchers["ps.003"].messages if m["type"] == "order.travel"
            )["data"]["order"]
            assert card["elder"]["id_number"].count("*") >= 8  # masked for providers
        finally:
            for c in watchers.values():
                await c.close()
