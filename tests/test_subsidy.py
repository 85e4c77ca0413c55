"""Subsidised hours against real PostgreSQL and Redis: the check-out's own transaction debits the
ledger through the real dispatch path (worker, offer, accept, travel, check-in, check-out), capped
at the item's standard duration, split over budget, written once; corrections with a reason; the
ledger refuses UPDATE and DELETE; the API is region-scoped; the demo seed grants eligibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from callcenter import subsidy
from callcenter import subsidy_rules as rules
from callcenter.seed import seed_city
from dispatch import offers, orders
from dispatch.orders import OrderRefused
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset


async def grant(db: asyncpg.Connection, elder_id: int, code: str = "dibao",
                starts_on: dt.date = dt.date(2025, 1, 1), ends_on: dt.date | None = None) -> None:
    await db.execute("INSERT INTO subsidy_eligibility (elder_id, programme_code, starts_on,"
                     " ends_on, approved_region_code) VALUES ($1, $2, $3, $4, '371003')",
                     elder_id, code, starts_on, ends_on)


async def visit(dworld: dict[str, Any], pool: asyncpg.Pool, rds: Any, settings: Any, clock: Any,
                worker: Any, on_site_s: int, item: str = "BA001") -> int:
    """An order driven through the real dispatch path to check-out, `on_site_s` after check-in."""
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 300), clock.now)
    async with pool.acquire() as conn, conn.transaction():
        order_id = await orders.create(conn, elder_id=dworld["elder_wendeng"], item_code=item,
                                       now=clock.now)
    assert order_id is not None
    await drain(worker)
    offer_id = await pool.fetchval("SELECT id FROM offers WHERE order_id = $1 AND state ="
                                   " 'pending'", order_id)
    staff, user = dworld["staff"], dworld["ps"]
    await offers.accept(pool, rds, settings, offer_id, staff, user, clock.advance(5))
    await offers.staff_step(pool, rds, settings, order_id, staff, user, "travel",
                            clock.advance(60))
    near = offset(HOME, 40)
    await offers.staff_step(pool, rds, settings, order_id, staff, user, "check_in",
                            clock.advance(600), lat=near[0], lon=near[1])
    card = await offers.staff_step(pool, rds, settings, order_id, staff, user, "check_out",
                                   clock.advance(on_site_s), note="好")
    assert card["state"] == "completed"
    return order_id


async def debits(pool: asyncpg.Pool | asyncpg.Connection, order_id: int) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM subsidy_ledger WHERE order_id = $1", order_id)


async def test_check_out_debits_the_checked_minutes(dworld, db, pool, rds, settings, clock,
                                                     worker) -> None:
    await grant(db, dworld["elder_wendeng"])
    order_id = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=45 * 60 + 10)
    [row] = await debits(pool, order_id)
    assert (row["kind"], row["programme_code"], row["minutes"], row["subsidised_minutes"],
            row["self_paid_minutes"], row["rate_cents"], row["amount_cents"]) == \
        ("debit", "dibao", 45, 45, 0, 2500, 1875)
    month = rules.month_of(clock.now)
    assert row["month"] == month and row["created_by"] == dworld["ps"]
    b = await subsidy.balance(pool, dworld["elder_wendeng"], month)
    assert (b.budget_min, b.used_min, b.left_min) == (1800, 45, 1755)
    # the row was written in the check-out's transaction: same commit time as the order
    out_at = await pool.fetchval("SELECT checked_out_at FROM orders WHERE id = $1", order_id)
    assert row["created_at"] == out_at


async def test_duration_is_capped_at_the_items_standard(dworld, db, pool, rds, settings, clock,
                                                        worker) -> None:
    await grant(db, dworld["elder_wendeng"])
    bath = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=95 * 60)
    assert [r["minutes"] for r in await debits(pool, bath)] == [60]  # BA001 is 60 min


async def test_an_operator_approval_lifts_the_cap(dworld, db, pool, rds, settings, clock,
                                                  worker) -> None:
    # no programme at check-out: nothing debited; once granted, a debit with an approval
    order_id = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=95 * 60)
    assert await debits(pool, order_id) == []
    await grant(db, dworld["elder_wendeng"])
    async with pool.acquire() as conn, conn.transaction():
        row_id = await subsidy.debit_order(conn, order_id, clock.now, approved_minutes=90)
    assert row_id is not None
    assert [r["minutes"] for r in await debits(pool, order_id)] == [90]


async def test_over_budget_the_rest_is_self_paid(dworld, db, pool, rds, settings, clock,
                                                 worker) -> None:
    await grant(db, dworld["elder_wendeng"])
    month = rules.month_of(clock.now)
    async with pool.acquire() as conn, conn.transaction():
        await subsidy.correct(conn, dworld["elder_wendeng"], month, 1790, "上月漏记的服务 补记",
                              dworld["supervisor"])
    order_id = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=45 * 60)
    [row] = await debits(pool, order_id)
    assert (row["minutes"], row["subsidised_minutes"], row["self_paid_minutes"],
            row["amount_cents"]) == (45, 10, 35, 417)  # 10 min × ¥25/h = ¥4.17
    b = await subsidy.balance(pool, dworld["elder_wendeng"], month)
    assert (b.used_min, b.left_min) == (1800, 0)
    second = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=20 * 60)
    [row] = await debits(pool, second)
    assert (row["subsidised_minutes"], row["self_paid_minutes"], row["amount_cents"]) == \
        (0, 20, 0)


async def test_a_debit_is_written_once(dworld, db, pool, rds, settings, clock, worker) -> None:
    await grant(db, dworld["elder_wendeng"])
    order_id = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=30 * 60)
    with pytest.raises(OrderRefused):  # a second check-out is refused by the order's states
        await offers.staff_step(pool, rds, settings, order_id, dworld["staff"], dworld["ps"],
                                "check_out", clock.advance(60))
    async with pool.acquire() as conn, conn.transaction():  # a retried debit writes nothing
        assert await subsidy.debit_order(conn, order_id, clock.advance(60)) is None
    assert len(await debits(pool, order_id)) == 1
    with pytest.raises(asyncpg.UniqueViolationError):  # and the index holds without the code
        await db.execute(
            "INSERT INTO subsidy_ledger (elder_id, order_id, programme_code, month, kind,"
            " minutes, subsidised_minutes, self_paid_minutes, rate_cents, amount_cents)"
            " VALUES ($1, $2, 'dibao', $3, 'debit', 5, 5, 0, 2500, 208)",
            dworld["elder_wendeng"], order_id, rules.month_of(clock.now))


async def test_concurrent_check_outs_never_spend_the_budget_twice(dworld, db, pool,
                                                                 clock) -> None:
    """Two carers check out at the same moment with 60 minutes left: one gets them all, the other
    debit sees what the first used (the elder's row lock serialises them)."""
    import asyncio

    elder = dworld["elder_wendeng"]
    await grant(db, elder)
    month = rules.month_of(clock.now)
    async with db.transaction():
        await subsidy.correct(db, elder, month, 1740, "补记", dworld["admin"])
    ids = [await db.fetchval(
        "INSERT INTO orders (elder_id, item_code, kind, state, priority, region_code, staff_id,"
        " subsidy_eligible, checked_in_at, checked_out_at) VALUES ($1, 'BA001', 'service',"
        " 'completed', 3, '371003001001', $2, true, $3, $4) RETURNING id", elder, staff,
        clock.now - dt.timedelta(minutes=45), clock.now)
        for staff in (dworld["staff"], dworld["staff2"])]

    async def check_out(order_id: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await subsidy.debit_order(conn, order_id, clock.now)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one waits

    await asyncio.gather(*(check_out(i) for i in ids))
    rows = await db.fetch("SELECT subsidised_minutes, self_paid_minutes FROM subsidy_ledger"
                          " WHERE kind = 'debit' ORDER BY subsidised_minutes DESC")
    assert [tuple(r) for r in rows] == [(45, 0), (15, 30)]
    assert (await subsidy.balance(pool, elder, month)).left_min == 0


async def test_no_programme_or_no_subsidy_item_debits_nothing(dworld, db, pool, rds, settings,
                                                              clock, worker) -> None:
    old = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=30 * 60)
    await grant(db, dworld["elder_wendeng"], ends_on=dt.date(2025, 12, 31))  # ended last year
    await db.execute("UPDATE service_items SET subsidy_eligible = false WHERE code = 'BA001'")
    await grant(db, dworld["elder_wendeng"], "tekun")
    unpaid = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=30 * 60)
    assert await debits(pool, old) == [] and await debits(pool, unpaid) == []
    b = await subsidy.balance(pool, dworld["elder_wendeng"], rules.month_of(clock.now))
    assert [p["code"] for p in b.programmes] == ["tekun"] and b.budget_min == 3600


async def test_the_ledger_is_append_only(dworld, db) -> None:
    await grant(db, dworld["elder_wendeng"])
    async with db.transaction():
        await subsidy.correct(db, dworld["elder_wendeng"], dt.date(2026, 11, 1), 30, "补记",
                              dworld["admin"])
    for sql in ("UPDATE subsidy_ledger SET minutes = 1", "DELETE FROM subsidy_ledger",
                "TRUNCATE subsidy_ledger"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)
    assert await db.fetchval("SELECT sum(minutes) FROM subsidy_ledger") == 30
    with pytest.raises(asyncpg.CheckViolationError):  # a correction without a reason
        await db.execute(
            "INSERT INTO subsidy_ledger (elder_id, programme_code, month, kind, minutes,"
            " subsidised_minutes, self_paid_minutes, rate_cents, amount_cents)"
            " VALUES ($1, 'dibao', '2026-11-01', 'correction', 5, 5, 0, 2500, 208)",
            dworld["elder_wendeng"])


async def test_corrections_need_a_reason_and_stay_within_the_budget(dworld, db) -> None:
    elder, month = dworld["elder_wendeng"], dt.date(2026, 11, 1)
    for minutes, reason, field in ((30, "  ", "reason"), (0, "x", "minutes"),
                                   (-1, "退回", "minutes"), (1801, "补记", "minutes"),
                                   (30, "补记", "month")):
        with pytest.raises(subsidy.CorrectionRefused) as caught:
            async with db.transaction():
                if field != "month":  # rolled back with the refused correction
                    await grant(db, elder, starts_on=dt.date(2026, 1, 1))
                await subsidy.correct(db, elder, month, minutes, reason, dworld["admin"])
        assert caught.value.field == field
    assert await db.fetchval("SELECT count(*) FROM subsidy_ledger") == 0


async def test_api_balance_and_corrections(app_client, dworld, db) -> None:
    elder = dworld["elder_wendeng"]
    await grant(db, elder, "shineng")
    op = await app_client()
    await op.login("op.wendeng")
    resp = await op.get(f"/api/v1/elders/{elder}/subsidy?month=2026-11")
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["month"], body["budget_min"], body["used_min"], body["left_min"]) == \
        ("2026-11", 2400, 0, 2400)
    assert [p["code"] for p in body["programmes"]] == ["shineng"] and body["ledger"] == []
    resp = await op.get(f"/api/v1/elders/{elder}/subsidy")  # default: this month
    assert resp.status == 200, await resp.text()
    for bad in ("2026-13", "26-11", "2026-11-01", "x"):
        resp = await op.get(f"/api/v1/elders/{elder}/subsidy", params={"month": bad})
        body = await resp.json()
        assert resp.status == 422 and "month" in body["fields"], body
    # operators read; only supervisors and admins correct
    resp = await op.post(f"/api/v1/elders/{elder}/subsidy/corrections",
                         json={"month": "2026-11", "minutes": 60, "reason": "补记"})
    assert resp.status == 403, await resp.text()

    sup = await app_client()
    await sup.login("sup.wendeng")
    url = f"/api/v1/elders/{elder}/subsidy/corrections"
    resp = await sup.post(url, json={"month": "2026-11", "minutes": 60, "reason": "  "})
    body = await resp.json()
    assert resp.status == 422 and set(body["fields"]) == {"reason"}, body
    resp = await sup.post(url, json={"month": "2026-11", "minutes": 60})
    body = await resp.json()
    assert resp.status == 422 and set(body["fields"]) == {"reason"}, body
    resp = await sup.post(url, json={"month": "11/2026", "minutes": True, "reason": 5,
                                     "extra": 1})
    body = await resp.json()
    assert resp.status == 422 and set(body["fields"]) == {"month", "minutes", "reason",
                                                          "extra"}, body
    resp = await sup.post(url, json={"month": "2026-11", "minutes": -10, "reason": "退回"})
    body = await resp.json()
    assert resp.status == 422 and set(body["fields"]) == {"minutes"}, body  # would go below 0
    resp = await sup.post(url, data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert await db.fetchval("SELECT count(*) FROM subsidy_ledger") == 0  # nothing partial

    resp = await sup.post(url, json={"month": "2026-11", "minutes": 90,
                                     "reason": "服务记录补登：11月3日助浴"})
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["used_min"], body["left_min"]) == (90, 2310)
    [row] = body["ledger"]
    assert (row["kind"], row["minutes"], row["reason"], row["created_by_name"],
            row["amount_cents"]) == ("correction", 90, "服务记录补登：11月3日助浴",
                                     "sup.wendeng", 4500)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'subsidy.correct'"
                             " AND entity_id = $1", str(elder)) == 1


async def test_api_is_region_scoped(app_client, dworld, db) -> None:
    await grant(db, dworld["elder_wendeng"])
    other = await app_client()
    await other.login("op.rongcheng")
    resp = await other.get(f"/api/v1/elders/{dworld['elder_wendeng']}/subsidy")
    assert resp.status == 404, await resp.text()
    pa = await app_client()
    await pa.login("pa.001")
    resp = await pa.get(f"/api/v1/elders/{dworld['elder_wendeng']}/subsidy")
    assert resp.status == 403, await resp.text()
    sup = await app_client()
    await sup.login("sup.wendeng")
    resp = await sup.post(f"/api/v1/elders/{dworld['elder_rongcheng']}/subsidy/corrections",
                          json={"month": "2026-11", "minutes": 30, "reason": "补记"})
    assert resp.status == 404, await resp.text()
    city = await app_client()
    await city.login("op.city")
    resp = await city.get(f"/api/v1/elders/{dworld['elder_wendeng']}/subsidy?month=2026-11")
    assert resp.status == 200 and (await resp.json())["budget_min"] == 1800


async def test_the_demo_seed_grants_programmes_by_risk_group(db) -> None:
    await seed_city(db, elders=300, seed=7)
    rows = await db.fetch(
        "SELECT e.risk_groups, array_agg(s.programme_code ORDER BY s.programme_code) AS codes,"
        " min(s.approved_region_code) AS region, min(r.path) AS path"
        " FROM elders e JOIN regions r ON r.code = e.region_code"
        " LEFT JOIN subsidy_eligibility s ON s.elder_id = e.id GROUP BY e.id")
    mapping = {"低保": "dibao", "特困": "tekun", "优抚": "youfu", "计生特殊": "jisheng",
               "失能": "shineng"}
    granted = 0
    for r in rows:
        expected = sorted(mapping[g] for g in r["risk_groups"] if g in mapping)
        assert [c for c in r["codes"] if c is not None] == expected
        if expected:
            granted += 1
            assert r["path"].split(".")[1] == r["region"]  # approved by the elder's district
    assert granted > 0
