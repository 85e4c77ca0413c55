"""Provider ratings against real PostgreSQL and Redis: crafted orders, follow-ups and complaints
rated per provider, history rows with the breakdown, the nightly run once per Shanghai day
(also when two workers race), the Redis staff hashes and so the dispatch score updated at once;
the API and the /quality page by role."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg

from callcenter import rating
from dispatch import matching, staff_index
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import on_shift
from tests.dispatch_world import HOME, offset
from tests.test_followup import completed_order


async def craft(db: asyncpg.Connection, w: dict[str, Any], now: dt.datetime) -> None:
    """Provider 1: six punctual visits, two answered 5/5. Provider 2: six visits, three late,
    one failed, one answered 2/5, one upheld complaint. Nothing else is rated."""
    day = dt.timedelta(days=1)
    good = [await completed_order(db, w, now - day * i) for i in range(1, 7)]
    for order_id in good[:2]:
        await answered(db, order_id, 5, now)
    poor = [await completed_order(db, w, now - day * i, staff="staff3",
                                  late_min=30 if i <= 3 else None) for i in range(1, 6)]
    poor.append(await completed_order(db, w, now - day * 6, staff="staff3", state="failed"))
    await answered(db, poor[0], 2, now)
    await db.execute(
        "INSERT INTO complaints (category, elder_id, provider_id, region_code, description,"
        " state, handler_id, deadline_at, resolution, upheld, resolved_at, created_at,"
        " updated_at) SELECT 'lateness', e.id, $2, e.region_code, '迟到', 'resolved', $3, $4,"
        " '属实', true, $4, $4, $4 FROM elders e WHERE e.id = $1", w["elder_wendeng"],
        w["provider2"], w["op_wendeng"], now - day)


async def answered(db: asyncpg.Connection, order_id: int, satisfaction: int, now: dt.datetime
                   ) -> None:
    await db.execute(
        "INSERT INTO followups (order_id, elder_id, provider_id, region_code, state, attempts,"
        " next_attempt_at, channel, satisfaction, answered_at, created_at, updated_at)"
        " SELECT o.id, o.elder_id, o.provider_id, o.region_code, 'answered', 1, $3, 'operator',"
        " $2, $3, $3, $3 FROM orders o WHERE o.id = $1", order_id, satisfaction, now)


async def test_recompute_rates_each_provider(dworld, db, pool, rds, settings) -> None:
    now = dt.datetime.now(dt.UTC)
    await craft(db, dworld, now)
    third = await db.fetchval("INSERT INTO providers (name, licence_no, phone, region_code,"
                              " star_rating) VALUES ('新服务商', 'LIC-0003', '+866318450000',"
                              " '371003', 3.6) RETURNING id")
    out = {r["provider_id"]: r for r in await rating.recompute(pool, rds, settings, now)}
    assert out[dworld["provider"]]["stars"] == 5.0
    # provider 2: mean 2 (.25), 2/5 on time (.4), 5/6 completed, 1 upheld of 6 orders
    # (16.7 per 100 → 0), no missed: (.0875 + .08 + .1667 + 0 + .1) × 4 + 1 = 2.74
    assert out[dworld["provider2"]]["stars"] == 2.7, str(out[dworld["provider2"]]["breakdown"])
    assert out[third]["kept"] is True and out[third]["stars"] == 3.6  # no orders: kept
    b = out[dworld["provider2"]]["breakdown"]
    assert (b["orders"], b["completed"], b["failed"], b["on_time"], b["late"],
            b["satisfaction_mean"], b["upheld"]) == (6, 5, 1, 2, 3, 2.0, 1)
    stars = {r["id"]: r["star_rating"] for r in await db.fetch(
        "SELECT id, star_rating FROM providers")}
    assert stars == {dworld["provider"]: Decimal("5.0"), dworld["provider2"]: Decimal("2.7"),
                     third: Decimal("3.6")}
    rows = await db.fetch("SELECT provider_id, kind, stars, breakdown FROM provider_ratings")
    assert len(rows) == 3 and {r["kind"] for r in rows} == {"manual"}


async def test_nightly_once_per_day_even_when_workers_race(dworld, db, pool, rds, settings
                                                           ) -> None:
    now = dt.datetime.now(dt.UTC)
    await craft(db, dworld, now)
    first, second = await asyncio.gather(rating.run_nightly(pool, rds, settings, now),
                                         rating.run_nightly(pool, rds, settings, now))
    ran = [r for r in (first, second) if r]
    assert len(ran) == 1 and len(ran[0]) == 2
    assert await rating.run_nightly(pool, rds, settings, now + dt.timedelta(minutes=5)) is None
    # a manual run the same day appends; the nightly row stays one per provider and day
    await rating.recompute(pool, rds, settings, now + dt.timedelta(minutes=6))
    assert await db.fetchval("SELECT count(*) FROM provider_ratings WHERE kind = 'nightly'") == 2
    assert await db.fetchval("SELECT count(*) FROM provider_ratings WHERE kind = 'manual'") == 2
    tomorrow = await rating.run_nightly(pool, rds, settings, now + dt.timedelta(days=1))
    assert tomorrow is not None and len(tomorrow) == 2
    days = await db.fetch("SELECT DISTINCT day FROM provider_ratings WHERE kind = 'nightly'")
    assert len(days) == 2


async def test_staff_hash_and_dispatch_score_use_the_new_rating(dworld, db, pool, rds,
                                                                 settings, clock) -> None:
    await on_shift(pool, rds, settings, dworld["staff3"], offset(HOME, 500), clock.now)
    key = staff_index.hash_key(settings, dworld["staff3"])
    assert float(await rds.hget(key, "rating")) == 3.0
    await craft(db, dworld, clock.now)
    await rating.run_nightly(pool, rds, settings, clock.now)
    assert float(await rds.hget(key, "rating")) == 2.7
    # no hash for the off-shift staff of provider 1 was created by the refresh
    assert not await rds.exists(staff_index.hash_key(settings, dworld["staff"]))
    [found] = await staff_index.search(rds, settings, "emergency", *HOME, 5000, 10)
    assert found.staff_id == dworld["staff3"] and found.rating == 2.7
    need = matching.Need(skill="emergency", radius_m=5000, now=clock.now.timestamp())
    scored = matching.score(found, need)
    assert scored.parts["rating"] == matching.WEIGHTS["rating"] * 2.7 / 5


async def test_api_and_page_by_role(dworld, db, app_client) -> None:
    await craft(db, dworld, dt.datetime.now(dt.UTC))
    sup = await app_client()
    await sup.login("sup.wendeng")
    resp = await sup.post("/api/v1/ratings/recompute")
    body = await resp.json()
    assert resp.status == 200, body
    assert {r["provider_id"]: r["stars"] for r in body["providers"]} == \
        {dworld["provider"]: 5.0, dworld["provider2"]: 2.7}
    listed = (await (await sup.get("/api/v1/ratings")).json())["providers"]
    assert [(p["id"], p["star_rating"]) for p in listed] == \
        [(dworld["provider"], 5.0), (dworld["provider2"], 2.7)]
    assert listed[1]["latest"]["breakdown"]["late"] == 3
    hist = await (await sup.get(f"/api/v1/providers/{dworld['provider2']}/ratings")).json()
    assert [h["stars"] for h in hist["history"]] == [2.7]
    page = await sup.get("/quality")
    assert page.status == 200 and "quality-config" in await page.text()
    op = await app_client()
    await op.login("op.wendeng")
    assert (await op.post("/api/v1/ratings/recompute")).status == 403
    assert (await op.get("/api/v1/ratings")).status == 403
    pa = await app_client()
    await pa.login("pa.001")
    mine = (await (await pa.get("/api/v1/ratings")).json())["providers"]
    assert [p["id"] for p in mine] == [dworld["provider"]]
    assert (await pa.get(f"/api/v1/providers/{dworld['provider2']}/ratings")).status == 404
    assert (await pa.post("/api/v1/ratings/recompute")).status == 403
    assert (await pa.get("/quality")).status == 200


async def test_demo_seed_gives_providers_different_stars(db) -> None:
    from callcenter.seed import seed_city
    from callcenter.seed_history import seed_history
    from callcenter.seed_quality import seed_quality

    assert await seed_quality(db) == 0  # nothing completed yet: nothing to seed
    await seed_city(db, elders=400, seed=7)
    now = dt.datetime.now(dt.UTC)
    assert await seed_history(db, now=now) > 10
    n = await seed_quality(db, now=now)
    assert n > 0 and await seed_quality(db, now=now) == 0  # once only
    rated = await db.fetch("SELECT DISTINCT stars FROM provider_ratings WHERE NOT kept")
    assert len(rated) >= 3, rated
    assert await db.fetchval("SELECT count(*) FROM orders WHERE state = 'reviewed'") == n
    assert await db.fetchval("SELECT count(*) FROM complaints") > 0
    # every seeded complaint obeys the lifecycle: its events end in its state
    bad = await db.fetchval(
        "SELECT count(*) FROM complaints c WHERE c.state <> (SELECT to_state FROM"
        " complaint_events e WHERE e.complaint_id = c.id ORDER BY e.id DESC LIMIT 1)")
    assert bad == 0


async def test_the_worker_rates_once_a_day(dworld, db, worker, clock) -> None:
    await craft(db, dworld, clock.now)
    halt = asyncio.Event()
    timers = asyncio.create_task(worker._timers(halt))
    try:
        async with asyncio.timeout(10):
            while not await db.fetchval("SELECT count(*) FROM provider_ratings"):
                await asyncio.sleep(0.05)
    finally:
        halt.set()
        await timers
    rows = await db.fetch("SELECT provider_id, kind, stars FROM provider_ratings ORDER BY 1")
    assert [(r["provider_id"], r["kind"], r["stars"]) for r in rows] == [
        (dworld["provider"], "nightly", Decimal("5.0")),
        (dworld["provider2"], "nightly", Decimal("2.7"))]
