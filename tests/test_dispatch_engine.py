"""The dispatch engine against real PostgreSQL and Redis, with a controlled clock: offer cascade
on decline and on expiry, widening then no_candidate, the emergency three-way offer with
concurrent accepts, capacity, a worker killed mid-offer (its entry reclaimed, the order assigned
once), and Redis flushed mid-flow (rebuilt from PostgreSQL, nothing doubled)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from dispatch import offers, orders
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset


async def new_order(pool: asyncpg.Pool, elder_id: int, now: Any, item: str = "BA001",
                    kind: str = "service", **kw: Any) -> int:
    async with pool.acquire() as conn, conn.transaction():
        order_id = await orders.create(conn, elder_id=elder_id, item_code=item, now=now,
                                       kind=kind, **kw)
    assert order_id is not None
    return order_id


async def state(pool: asyncpg.Pool, order_id: int) -> str:
    return await pool.fetchval("SELECT state FROM orders WHERE id = $1", order_id)


async def pending(pool: asyncpg.Pool, order_id: int) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT id, staff_id FROM offers WHERE order_id = $1"
                            " AND state = 'pending' ORDER BY id", order_id)


async def events(pool: asyncpg.Pool, order_id: int) -> list[str]:
    rows = await pool.fetch("SELECT payload->>'event' AS e FROM events WHERE entity_type ="
                            " 'order' AND entity_id = $1 ORDER BY id", order_id)
    return [r["e"] for r in rows]


async def test_nearest_first_then_cascade_on_decline_and_expiry(dworld, pool, rds, settings,
                                                                clock, worker) -> None:
    s1, s2 = dworld["staff"], dworld["staff2"]
    await on_shift(pool, rds, settings, s1, offset(HOME, 300), clock.now)
    await on_shift(pool, rds, settings, s2, offset(HOME, 2000), clock.now)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    first = await pending(pool, order_id)
    assert [o["staff_id"] for o in first] == [s1]  # the nearer one
    await offers.decline(pool, first[0]["id"], s1, None, clock.now, "在忙")
    assert await state(pool, order_id) == "queued"
    await drain(worker)
    second = await pending(pool, order_id)
    assert [o["staff_id"] for o in second] == [s2]
    # nobody answers: after the deadline it expires, once, and nobody is left to ask
    assert await offers.expire_due(pool, clock.advance(settings.offer_s - 1)) == 0
    assert await offers.expire_due(pool, clock.advance(2)) == 1
    assert await offers.expire_due(pool, clock.advance(1)) == 0
    await drain(worker)
    assert await state(pool, order_id) == "no_candidate"
    assert await events(pool, order_id) == [
        "create", "enqueue", "offer", "decline", "offer", "expire", "widen", "no_candidate"]
    reason = await pool.fetchval("SELECT reason FROM orders WHERE id = $1", order_id)
    assert "已推送过且未接单 2 人" in reason and "6 km" in reason  # urban 3 km widened to 6


async def test_widening_once_reaches_the_farther_person(dworld, pool, rds, settings, clock,
                                                        worker) -> None:
    # 王秀英's community is urban (3 km): 5 km away is outside, inside the widened 6 km
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 5000), clock.now)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    assert await state(pool, order_id) == "offered"
    assert await events(pool, order_id) == ["create", "enqueue", "widen", "offer"]
    assert await pool.fetchval("SELECT widened FROM orders WHERE id = $1", order_id)


async def test_no_candidate_names_the_reasons(dworld, pool, rds, settings, clock,
                                              worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff3"], offset(HOME, 100), clock.now)  # no bathing
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    async with pool.acquire() as conn:  # off shift again
        from dispatch import staff_index

        await staff_index.set_shift(conn, dworld["staff"], False, clock.now)
    await staff_index.sync_shift(pool, rds, settings, dworld["staff"], False)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    assert await state(pool, order_id) == "no_candidate"
    reason = await pool.fetchval("SELECT reason FROM orders WHERE id = $1", order_id)
    assert "没有在班且有该技能的服务人员" in reason and "6 km" in reason


async def test_stale_location_and_capacity_are_not_candidates(dworld, pool, rds, settings, clock,
                                                              worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    await on_shift(pool, rds, settings, dworld["staff2"], offset(HOME, 200),
                   clock.now)
    await pool.execute("UPDATE staff SET capacity = 1 WHERE id = $1", dworld["staff2"])
    # staff's location is six minutes old; staff2 is fresh but will be full after one job
    clock.advance(settings.location_fresh_s + 60)
    await rds.hset(f"{settings.redis_prefix}staff:{dworld['staff2']}", "located_at",
                   f"{clock.now.timestamp():.3f}")
    await rds.hset(f"{settings.redis_prefix}staff:{dworld['staff2']}", "capacity", "1")
    first = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    offer = (await pending(pool, first))[0]
    assert offer["staff_id"] == dworld["staff2"]
    await offers.accept(pool, rds, settings, offer["id"], dworld["staff2"], None, clock.now)
    second = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    assert await state(pool, second) == "no_candidate"
    reason = await pool.fetchval("SELECT reason FROM orders WHERE id = $1", second)
    assert "已满负荷 1 人" in reason


async def test_emergency_check_goes_to_the_nearest_three_and_one_accept_wins(
        dworld, db, pool, rds, settings, clock, worker) -> None:
    extra = []
    for i, north in enumerate((150, 250, 350, 900)):
        sid = await _emergency_staff(db, dworld, i)
        extra.append(sid)
        await on_shift(pool, rds, settings, sid, offset(HOME, north), clock.now)
    normal = await new_order(pool, dworld["elder_wendeng"], clock.now)  # queued first...
    urgent = await new_order(pool, dworld["elder_wendeng"], clock.now, item="EM001",
                             kind="emergency_check", priority=1)
    await worker.relay()
    got = await worker.step(block_ms=None)
    assert got >= 1
    assert await state(pool, urgent) == "offered"  # ...but the emergency is handled first
    three = await pending(pool, urgent)
    assert sorted(o["staff_id"] for o in three) == extra[:3]

    async def take(o: asyncpg.Record) -> str:
        try:
            await offers.accept(pool, rds, settings, o["id"], o["staff_id"], None, clock.now)
            return "won"
        except orders.OrderRefused as exc:
            return exc.code
    results = await asyncio.gather(*(take(o) for o in three))
    assert sorted(results) == ["offer_taken", "offer_taken", "won"]
    accepted = await pool.fetch("SELECT staff_id FROM offers WHERE order_id = $1"
                                " AND state = 'accepted'", urgent)
    assert len(accepted) == 1
    assert await pool.fetchval("SELECT staff_id FROM orders WHERE id = $1",
                               urgent) == accepted[0]["staff_id"]
    assert await pool.fetchval("SELECT count(*) FROM offers WHERE order_id = $1"
                               " AND state = 'withdrawn'", urgent) == 2
    await drain(worker)
    assert await state(pool, normal) in ("offered", "no_candidate")


async def _emergency_staff(db: asyncpg.Connection, dworld: dict[str, Any], i: int) -> int:
    from tests.dispatch_world import staff

    return await staff(db, dworld["provider2"], f"急救员{i}", ["emergency"])


async def test_a_worker_killed_mid_offer_is_reclaimed_and_the_order_assigned_once(
        dworld, pool, rds, settings, clock, make_worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    a = make_worker("doomed", claim_idle_ms=50)
    b = make_worker("survivor", claim_idle_ms=50)
    await a.recover_if_lost()
    orders_ = [await new_order(pool, dworld["elder_wendeng"], clock.now) for _ in range(2)]
    await a.relay()
    # worker A reads both entries, offers the first, and dies before acknowledging anything
    got = await rds.xreadgroup("dispatchers", "doomed", {a.normal: ">"}, count=10)
    entries = got[0][1]
    assert len(entries) == 2
    from dispatch import engine

    await engine.handle(pool, rds, settings, orders_[0], clock.now)
    assert await state(pool, orders_[0]) == "offered"
    await asyncio.sleep(0.1)
    assert await b.reclaim() == 2  # both entries taken over
    assert await state(pool, orders_[0]) == "offered"  # not offered again
    assert await state(pool, orders_[1]) in ("offered", "no_candidate")
    for order_id in orders_:
        assert await pool.fetchval("SELECT count(*) FROM events WHERE entity_type = 'order'"
                                   " AND entity_id = $1 AND payload->>'event' = 'offer'",
                                   order_id) <= 1
    pending_entries = await rds.xpending(a.normal, "dispatchers")
    assert pending_entries["pending"] == 0


async def test_redis_flushed_mid_flow_is_rebuilt_and_nothing_doubles(
        dworld, pool, rds, settings, clock, worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    await on_shift(pool, rds, settings, dworld["staff2"], offset(HOME, 900), clock.now)
    offered = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    queued = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await worker.relay()  # in the stream, not yet handled ...
    keys = [k async for k in rds.scan_iter(match=settings.redis_prefix + "*")]
    await rds.delete(*keys)  # ... and Redis loses everything
    assert await worker.recover_if_lost() is True
    assert await worker.recover_if_lost() is False  # once
    # staff come back with their next ping
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    await on_shift(pool, rds, settings, dworld["staff2"], offset(HOME, 900), clock.now)
    await drain(worker)
    assert await state(pool, queued) == "offered"
    assert await state(pool, offered) == "offered"
    # the pending offer's deadline lives in PostgreSQL: it still fires, once
    assert await offers.expire_due(pool, clock.advance(settings.offer_s + 1)) == 2
    await drain(worker)
    for order_id in (offered, queued):
        staff_offered = await pool.fetch("SELECT staff_id FROM offers WHERE order_id = $1",
                                         order_id)
        ids = [r["staff_id"] for r in staff_offered]
        assert len(ids) == len(set(ids)), "someone was offered the same order twice"


async def test_accept_after_the_deadline_is_refused(dworld, pool, rds, settings, clock,
                                                    worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    offer = (await pending(pool, order_id))[0]
    with pytest.raises(orders.OrderRefused) as refused:
        await offers.accept(pool, rds, settings, offer["id"], dworld["staff"], None,
                            clock.advance(settings.offer_s + 1))
    assert refused.value.code == "offer_expired"
    with pytest.raises(orders.OrderNotFound):  # someone else's offer does not exist for them
        await offers.accept(pool, rds, settings, offer["id"], dworld["staff2"], None, clock.now)


async def test_a_rural_elder_gets_the_wider_circle(dworld, db, pool, rds, settings, clock,
                                                   worker) -> None:
    # 文登区 itself is rural (8 km): 7 km away is a candidate at once, 10 km after widening
    await db.execute("UPDATE elders SET region_code = '371003' WHERE id = $1",
                     dworld["elder_wendeng"])
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 7000), clock.now)
    near = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    assert await events(pool, near) == ["create", "enqueue", "offer"]
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 17000), clock.now)
    far = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await drain(worker)
    assert await state(pool, far) == "no_candidate"
    reason = await pool.fetchval("SELECT reason FROM orders WHERE id = $1", far)
    assert "16 km" in reason


async def test_the_backstop_re_adds_a_lost_entry_only_when_the_streams_are_empty(
        dworld, pool, rds, settings, clock, worker) -> None:
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await worker.relay()
    await rds.delete(worker.normal)  # the entry is lost (the group with it)
    await worker.ensure_groups()
    clock.advance(60)
    assert await worker.backstop() == 0  # not yet two minutes
    await rds.delete(f"{settings.redis_prefix}dispatch:backstop")
    other = await new_order(pool, dworld["elder_wendeng"], clock.now)
    await worker.relay()
    clock.advance(120)
    assert await worker.backstop() == 0  # the stream holds an entry: a backlog, not a loss
    await drain(worker)
    assert await state(pool, other) == "offered"
    assert await worker.backstop() == 1  # now the lost one comes back, once a minute at most
    assert await worker.backstop() == 0
    await drain(worker)
    assert await state(pool, order_id) == "offered"


async def test_an_order_that_changed_while_we_searched_is_read_again(
        dworld, pool, rds, settings, clock, monkeypatch) -> None:
    # while one handler searches, another offers the order to the nearer person, who declines
    # at the same instant: the order is queued again with the same updated_at, and only the
    # number of its offers tells the first handler that its reading is out of date
    from dispatch import engine, staff_index

    s1, s2 = dworld["staff"], dworld["staff2"]
    await on_shift(pool, rds, settings, s1, offset(HOME, 100), clock.now)
    await on_shift(pool, rds, settings, s2, offset(HOME, 900), clock.now)
    order_id = await new_order(pool, dworld["elder_wendeng"], clock.now)
    real = staff_index.search_from
    raced = False

    async def racing(*args: Any, **kw: Any) -> Any:
        nonlocal raced
        if not raced:
            raced = True
            other = await engine.handle(pool, rds, settings, order_id, clock.now)
            assert other.staff_ids == (s1,)
            offer = (await pending(pool, order_id))[0]
            await offers.decline(pool, offer["id"], s1, None, clock.now, "在忙")
        return await real(*args, **kw)

    monkeypatch.setattr(staff_index, "search_from", racing)
    outcome = await engine.handle(pool, rds, settings, order_id, clock.now)
    assert outcome.result == "offered" and outcome.staff_ids == (s2,)
    assert await events(pool, order_id) == ["create", "enqueue", "offer", "decline", "offer"]
    rows = await pool.fetch("SELECT staff_id FROM offers WHERE order_id = $1 ORDER BY id",
                            order_id)
    assert [r["staff_id"] for r in rows] == [s1, s2]


async def test_decisions_commit_quietly_and_the_worker_wakes_the_relays(
        dworld, pool, rds, settings, clock, worker) -> None:
    from dispatch import engine

    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    first = await new_order(pool, dworld["elder_wendeng"], clock.now)
    for _ in range(2):
        await new_order(pool, dworld["elder_wendeng"], clock.now)
    await worker.relay()
    heard: list[str] = []

    def hear(*args: Any) -> None:
        heard.append(args[3])

    async def settle() -> None:  # let the notifications sent so far arrive
        await asyncio.sleep(0.05)
        await listener.execute("SELECT 1")

    listener = await asyncpg.connect(settings.database_url)
    try:
        await listener.add_listener("anxin_outbox", hear)
        await settle()
        heard.clear()
        assert (await engine.handle(pool, rds, settings, first, clock.now)).result == "offered"
        await settle()
        assert heard == []  # the decision's commit did not NOTIFY (nor wait on others' NOTIFY)
        assert await worker.step(block_ms=None) == 3  # the first one's entry is a duplicate now
        await settle()
        assert heard and len(heard) <= 2  # at most every WAKE_EVERY_S, and once at the end
    finally:
        await listener.close()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'order.offer'"
                               " AND sent_at IS NULL") == 3
