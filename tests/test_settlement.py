"""Settlement against real PostgreSQL and Redis: an operator's approval stored on the order lifts
the check-out's cap; a closed month takes no ledger row (trigger), a late debit or correction goes
to the next open month with its reason; a month closes only once it has ended, and once; the
settlement's totals equal the sum of the ledger for any orders and debits (hypothesis); the demo
history seeds last month's statements quickly."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter import settlement, subsidy
from callcenter import settlement_rules as srules
from callcenter import subsidy_rules as rules
from callcenter.seed import seed_city
from callcenter.seed_history import seed_history
from dispatch import offers, orders
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset
from tests.test_subsidy import grant

CITY = settlement.Scope(region_path="371000")
OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)
TODAY = dt.date(2026, 11, 24)


async def completed(db: asyncpg.Connection, dworld: dict[str, Any], out_at: dt.datetime, *,
                    on_site_min: int = 45, item: str = "BA001", staff: str = "staff",
                    elder: str = "elder_wendeng") -> int:
    """A completed order as the dispatch path leaves it (no debit yet)."""
    provider = await db.fetchval("SELECT provider_id FROM staff WHERE id = $1", dworld[staff])
    region = await db.fetchval("SELECT region_code FROM elders WHERE id = $1", dworld[elder])
    return await db.fetchval(
        "INSERT INTO orders (elder_id, item_code, kind, state, priority, region_code, staff_id,"
        " provider_id, price_cents, subsidy_eligible, checked_in_at, checked_out_at,"
        " checkin_distance_m) SELECT $1, i.code, 'service', 'completed', 3, $2, $3, $4,"
        " i.price_cents, i.subsidy_eligible, $5, $6, 35 FROM service_items i WHERE i.code = $7"
        " RETURNING id", dworld[elder], region, dworld[staff], provider,
        out_at - dt.timedelta(minutes=on_site_min), out_at, item)


async def check_out(dworld: dict[str, Any], pool: asyncpg.Pool, rds: Any, settings: Any,
                    clock: Any, worker: Any, order_id: int, on_site_s: int) -> None:
    """A queued order through the real dispatch path: offered to 张师傅, accepted, checked in
    near the home and checked out `on_site_s` later."""
    staff, user = dworld["staff"], dworld["ps"]
    await on_shift(pool, rds, settings, staff, offset(HOME, 300), clock.now)
    await drain(worker)
    offer_id = await pool.fetchval("SELECT id FROM offers WHERE order_id = $1", order_id)
    await offers.accept(pool, rds, settings, offer_id, staff, user, clock.advance(5))
    near = offset(HOME, 40)
    await offers.staff_step(pool, rds, settings, order_id, staff, user, "check_in",
                            clock.advance(60), lat=near[0], lon=near[1])
    await offers.staff_step(pool, rds, settings, order_id, staff, user, "check_out",
                            clock.advance(on_site_s))


async def test_a_stored_approval_lifts_the_cap_at_check_out(dworld, db, pool, rds, settings,
                                                            clock, worker) -> None:
    await grant(db, dworld["elder_wendeng"])
    async with pool.acquire() as conn, conn.transaction():
        order_id = await orders.create(conn, elder_id=dworld["elder_wendeng"], item_code="BA001",
                                       now=clock.now)
    await db.execute("UPDATE orders SET approved_minutes = 90 WHERE id = $1", order_id)
    await check_out(dworld, pool, rds, settings, clock, worker, order_id, 100 * 60)
    row = await db.fetchrow("SELECT minutes, reason FROM subsidy_ledger WHERE order_id = $1",
                            order_id)
    assert (row["minutes"], row["reason"]) == (90, "")  # 100 on site, 60 standard, 90 approved


async def test_a_closed_month_takes_no_ledger_row(dworld, db) -> None:
    elder = dworld["elder_wendeng"]
    await grant(db, elder)
    late = await completed(db, dworld, dt.datetime(2026, 10, 31, 15, 0, tzinfo=dt.UTC))
    async with db.transaction():
        await settlement.close_month(db, OCT, dworld["supervisor"], TODAY)
    with pytest.raises(asyncpg.CheckViolationError, match="closed"):  # the trigger, by any path
        await db.execute(
            "INSERT INTO subsidy_ledger (elder_id, programme_code, month, kind, minutes,"
            " subsidised_minutes, self_paid_minutes, rate_cents, amount_cents, reason)"
            " VALUES ($1, 'dibao', $2, 'correction', 5, 5, 0, 2500, 208, 'x')", elder, OCT)
    # checked out on 31 October 23:00 Shanghai: October is closed, so November takes it
    async with db.transaction():
        assert await subsidy.debit_order(db, late, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    row = await db.fetchrow("SELECT month, minutes, reason FROM subsidy_ledger"
                            " WHERE order_id = $1", late)
    assert row["month"] == NOV and row["minutes"] == 45
    assert "2026-10" in row["reason"] and "2026-11" in row["reason"]
    async with db.transaction():
        fix = await subsidy.correct(db, elder, OCT, 30, "10月漏记的助餐", dworld["admin"])
    assert fix["month"] == NOV and fix["reason"].startswith("10月漏记的助餐 ")
    assert "2026-11" in fix["reason"]
    assert (await subsidy.balance(db, elder, NOV)).used_min == 75
    assert (await subsidy.balance(db, elder, OCT)).used_min == 0
    # the late order is settled in November, the month its debit was booked to
    assert (await settlement.summary(db, OCT, CITY))["totals"]["orders"] == 0
    nov = await settlement.summary(db, NOV, CITY)
    assert (nov["totals"]["orders"], nov["totals"]["subsidised_min"]) == (1, 45)
    assert nov["corrections"] == {"rows": 1, "minutes": 30, "cents": 1250}


async def test_a_month_closes_once_and_only_after_it_ended(dworld, db) -> None:
    for month, today in ((NOV, TODAY), (OCT, dt.date(2026, 10, 31))):
        with pytest.raises(settlement.MonthRefused) as refused:
            async with db.transaction():
                await settlement.close_month(db, month, dworld["admin"], today)
        assert not refused.value.conflict
    async with db.transaction():
        row = await settlement.close_month(db, OCT, dworld["admin"], TODAY)
    assert row["month"] == OCT and row["closed_by"] == dworld["admin"]
    with pytest.raises(settlement.MonthRefused) as again:
        async with db.transaction():
            await settlement.close_month(db, OCT, dworld["admin"], TODAY)
    assert again.value.conflict
    state = await settlement.month_state(db, OCT)
    assert state["closed"] and state["closed_by_name"] == "admin"
    for sql in ("UPDATE settlement_months SET closed_by = NULL", "DELETE FROM settlement_months"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)


async def test_closing_waits_for_a_ledger_write_in_flight(dworld, db, pool) -> None:
    """A debit that picked October before the close still lands in October; the close waits."""
    await grant(db, dworld["elder_wendeng"])
    async with pool.acquire() as writer:
        tr = writer.transaction()
        await tr.start()
        assert await settlement.booking_month(writer, OCT) == OCT

        async def close() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await settlement.close_month(conn, OCT, dworld["admin"], TODAY)

        closing = asyncio.create_task(close())
        await asyncio.sleep(0.2)
        assert not closing.done()
        await writer.execute(
            "INSERT INTO subsidy_ledger (elder_id, programme_code, month, kind, minutes,"
            " subsidised_minutes, self_paid_minutes, rate_cents, amount_cents, reason)"
            " VALUES ($1, 'dibao', $2, 'correction', 5, 5, 0, 2500, 208, '补记')",
            dworld["elder_wendeng"], OCT)
        await tr.commit()
        await closing
    assert (await settlement.month_state(db, OCT))["closed"]
    assert (await subsidy.balance(db, dworld["elder_wendeng"], OCT)).used_min == 5
    async with db.transaction():  # and the next writer sees the month closed
        assert await settlement.booking_month(db, OCT) == NOV


class _Rollback(Exception):
    pass


visits = st.lists(st.fixed_dictionaries({
    "staff": st.sampled_from(["staff", "staff2", "staff3"]),
    "elder": st.sampled_from(["elder_wendeng", "elder_rongcheng"]),
    "item": st.sampled_from(["BA001", "ME001", "EM001"]),
    "day": st.integers(-3, 33),            # days from 1 October: some fall outside the month
    "on_site": st.integers(0, 130),
    "debit": st.sampled_from([None, OCT, NOV]),   # no debit, booked to October, moved on
    "subsidised": st.integers(0, 130),
    "rate": st.sampled_from([2500, 2800, 3000]),
}), max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(visits)
async def test_settlement_totals_equal_the_sum_of_the_ledger(dworld, db,
                                                              data: list[dict[str, Any]]) -> None:
    """For any completed orders and debits: each provider's subsidised minutes and cents are its
    October debits' sums, self-paid is the debits' self-paid plus the undebited orders' checked
    minutes, and the summary, the statements and the per-programme totals all agree."""
    start = dt.datetime(2026, 9, 30, 16, 0, tzinfo=dt.UTC)  # 1 October 00:00 Shanghai
    tr = db.transaction()
    await tr.start()
    try:
        for v in data:
            out_at = start + dt.timedelta(days=v["day"], hours=3)
            order_id = await completed(db, dworld, out_at, on_site_min=v["on_site"],
                                       item=v["item"], staff=v["staff"], elder=v["elder"])
            if v["debit"] is not None:
                sub = min(v["subsidised"], v["on_site"])
                await db.execute(
                    "INSERT INTO subsidy_ledger (elder_id, order_id, programme_code, month,"
                    " kind, minutes, subsidised_minutes, self_paid_minutes, rate_cents,"
                    " amount_cents) VALUES ($1, $2, 'dibao', $3, 'debit', $4, $5, $6, $7, $8)",
                    dworld[v["elder"]], order_id, v["debit"], v["on_site"], sub,
                    v["on_site"] - sub, v["rate"], rules.amount_cents(sub, v["rate"]))
        ledger = await db.fetch(
            "SELECT o.provider_id, sum(l.subsidised_minutes) AS sub,"
            " sum(l.self_paid_minutes) AS self, sum(l.amount_cents) AS cents, count(*) AS n"
            " FROM subsidy_ledger l JOIN orders o ON o.id = l.order_id"
            " WHERE l.kind = 'debit' AND l.month = $1 GROUP BY o.provider_id", OCT)
        undebited = await db.fetch(
            "SELECT o.provider_id, count(*) AS n, sum(least(round(extract(epoch FROM"
            " o.checked_out_at - o.checked_in_at) / 60), i.duration_min))::int AS minutes"
            " FROM orders o JOIN service_items i ON i.code = o.item_code"
            " WHERE NOT EXISTS (SELECT 1 FROM subsidy_ledger l WHERE l.order_id = o.id)"
            " AND o.checked_out_at >= $1 AND o.checked_out_at < $2 GROUP BY o.provider_id",
            *rules.month_bounds(OCT))
        got = await settlement.summary(db, OCT, CITY)
        by_provider = {p["provider_id"]: p for p in got["providers"]}
        expected: dict[int, dict[str, int]] = {}
        for r in ledger:
            e = expected.setdefault(r["provider_id"], dict.fromkeys(srules.FIGURES, 0))
            e.update(orders=r["n"], subsidised_min=int(r["sub"]), self_paid_min=int(r["self"]),
                     subsidised_cents=int(r["cents"]))
        for r in undebited:
            e = expected.setdefault(r["provider_id"], dict.fromkeys(srules.FIGURES, 0))
            e["orders"] += r["n"]
            e["self_paid_min"] += r["minutes"]
        assert set(by_provider) == set(expected)
        for pid, e in expected.items():
            for k in ("orders", "subsidised_min", "self_paid_min", "subsidised_cents"):
                assert by_provider[pid][k] == e[k], (pid, k)
            st_ = await settlement.statement(db, OCT, pid, CITY)
            assert st_ is not None
            assert st_["totals"] == {k: v for k, v in by_provider[pid].items()
                                     if k in srules.FIGURES}
            assert sum(x["subsidised_cents"] for x in st_["lines"]) == e["subsidised_cents"]
            assert sum(g["subsidised_cents"] for g in st_["programmes"]) == e["subsidised_cents"]
        for k in srules.FIGURES:
            assert got["totals"][k] == sum(p[k] for p in got["providers"])
        raise _Rollback
    except _Rollback:
        pass
    finally:
        await tr.rollback()


async def test_the_demo_history_seeds_last_months_statements(db) -> None:
    await seed_city(db, elders=400, seed=7)
    now = dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    n = await seed_history(db, now=now)
    assert time.perf_counter() - started < 5
    assert n > 10
    assert await seed_history(db, now=now) == 0  # once only
    got = await settlement.summary(db, OCT, CITY)
    assert len(got["providers"]) >= 3 and got["totals"]["orders"] == n
    ledger = await db.fetchrow("SELECT count(*) AS n, sum(subsidised_minutes) AS sub,"
                               " sum(amount_cents) AS cents FROM subsidy_ledger"
                               " WHERE month = $1 AND kind = 'debit'", OCT)
    assert (got["totals"]["orders"], got["totals"]["subsidised_min"],
            got["totals"]["subsidised_cents"]) == (ledger["n"], ledger["sub"], ledger["cents"])
    # every order carries its EVV data and a full timeline
    bad = await db.fetchval(
        "SELECT count(*) FROM orders o WHERE o.checked_in_at IS NULL OR o.staff_id IS NULL"
        " OR o.checkin_distance_m IS NULL OR (SELECT count(*) FROM events ev WHERE"
        " ev.entity_type = 'order' AND ev.entity_id = o.id) <> 6")
    assert bad == 0
