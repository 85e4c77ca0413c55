"""The supervisor dashboard's figures: stats.py on crafted data (calls, alarms with their
acknowledgement times, orders in every state, a no_candidate reason, two districts), the region
scope of /api/v1/dashboard, and the dashboard and the daily report agreeing to the number."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from callcenter import stats

SHANGHAI = ZoneInfo("Asia/Shanghai")
WENDENG, RONGCHENG, CITY = "371003", "371082", "371000"
REASON = "附近无在班人员"


async def catalogue(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO skills (code, name_zh, name_en) VALUES ('care', '生活照料',"
                     " 'Personal care') ON CONFLICT DO NOTHING")
    await db.executemany(
        "INSERT INTO service_categories (code, name_zh, name_en, sort_order) VALUES"
        " ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        [("care", "生活照料", "Personal care", 1), ("medical", "医疗护理", "Nursing", 2)])
    await db.executemany(
        "INSERT INTO service_items (code, category_code, name_zh, name_en, unit, price_cents,"
        " duration_min, target_response_min, skill_code) VALUES ($1, $2, $3, $4, '次', 3000, 60,"
        " 60, 'care') ON CONFLICT DO NOTHING",
        [("LC001", "care", "助浴", "Bathing"), ("MD001", "medical", "上门护理", "Home nursing")])


async def craft(db: asyncpg.Connection, ids: dict[str, int], base: dt.datetime) -> dict[str, int]:
    """Calls, alarms, orders and staff around `base` in 文登区 and 荣成市 (see the expectations in
    test_stats_on_crafted_data)."""
    await catalogue(db)
    s = dt.timedelta(seconds=1)
    wd, rc = ids["elder_wendeng"], ids["elder_rongcheng"]
    calls = [  # external id, direction, elder, state, ringing, answered after (s)
        ("c1", "inbound", wd, "ended", base, 10),
        ("c2", "inbound", wd, "abandoned", base + 60 * s, None),
        ("c3", "inbound", None, "ended", base + 120 * s, 6),      # unknown caller: the city's
        ("c4", "outbound", wd, "ended", base + 180 * s, 4),
        ("c5", "inbound", rc, "ended", base + 240 * s, 8),
    ]
    for ext, direction, elder, state, ringing, after in calls:
        answered = None if after is None else ringing + after * s
        await db.execute(
            "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at,"
            " answered_at, ended_at) VALUES ($1, $2, '+8613806310001', '12349', $3, $4, $5, $6,"
            " $7)", ext, direction, elder, state, ringing, answered, ringing + 300 * s)
    alarms = [  # elder, region, kind, state, outcome, created, acknowledged after (s)
        (wd, "371003001001", "sos", "resolved", "false_alarm", base, 30),
        (wd, "371003001001", "fall", "acknowledged", None, base + 10 * s, 120),
        (wd, "371003001001", "sos", "queued", None, base + 20 * s, None),   # a miss
        (rc, "371082001", "sos", "acknowledged", None, base + 30 * s, 20),
        (rc, "371082001", "low_battery", "queued", None, base + 40 * s, None),
    ]
    for elder, region, kind, state, outcome, created, after in alarms:
        await db.execute(
            "INSERT INTO alarms (elder_id, region_code, kind, priority, state, outcome,"
            " created_at, acknowledged_at, resolved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
            " $9)", elder, region, kind, 5 if kind == "low_battery" else 1, state, outcome,
            created, None if after is None else created + after * s,
            created + 600 * s if state == "resolved" else None)
    staff = [await db.fetchval(
        "INSERT INTO staff (provider_id, name, phone) VALUES ($1, $2, '+8613906319999')"
        " RETURNING id", ids["provider"], name) for name in ("张丽", "刘芳")]
    await db.execute("INSERT INTO staff_status (staff_id, on_shift) VALUES ($1, true)", staff[0])
    hour = dt.timedelta(hours=1)
    orders = [  # elder, region, item, state, staff, checked in after window start, reason
        (wd, "371003001001", "LC001", "completed", staff[0], 0.5 * hour, ""),
        (wd, "371003001001", "LC001", "completed", staff[1], 2 * hour, ""),    # late
        (wd, "371003001001", "MD001", "no_candidate", None, None, REASON),
        (wd, "371003001001", "LC001", "cancelled", None, None, "家属取消"),
        (wd, "371003001001", "MD001", "queued", None, None, ""),
        (rc, "371082001", "MD001", "no_candidate", None, None, ""),
    ]
    for elder, region, item, state, staff_id, checkin, reason in orders:
        await db.execute(
            "INSERT INTO orders (elder_id, item_code, kind, state, region_code, window_start,"
            " window_end, staff_id, checked_in_at, reason, created_at) VALUES ($1, $2,"
            " 'service', $3, $4, $5, $6, $7, $8, $9, $10)", elder, item, state, region,
            base, base + hour, staff_id, None if checkin is None else base + checkin, reason,
            base - hour)
    return {"staff_on": staff[0], "staff_off": staff[1]}


async def test_stats_on_crafted_data(db: asyncpg.Connection, world: dict[str, int]) -> None:
    day = dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=3)
    base = dt.datetime.combine(day, dt.time(8), SHANGHAI)
    await craft(db, world, base)
    start, end = stats.day_bounds(day, SHANGHAI)
    city = await stats.region(db, CITY)
    assert city is not None
    report = await stats.region_report(db, city, start, end, end + dt.timedelta(days=1))
    f = report["figures"]
    assert f["calls"] == {"total": 5, "inbound": 4, "outbound": 1, "answered": 4,
                          "inbound_answered": 3, "abandoned": 1, "ringing": 0,
                          "unknown_caller": 1, "with_alarm": 0, "ring_median_s": 8.0,
                          "answer_rate": 75.0}
    assert f["alarms"]["total"] == 5
    assert {k: n for k, n in f["alarms"]["by_kind"].items() if n} == {
        "sos": 3, "fall": 1, "low_battery": 1}
    assert {k: n for k, n in f["alarms"]["by_outcome"].items() if n} == {
        "false_alarm": 1, "open": 4}
    # low_battery is not counted for answer times (the console's definition)
    assert f["answer"] == {"alarms": 4, "unacknowledged": 1, "pct_60s": 50.0, "pct_180s": 75.0,
                           "median_s": 30.0, "p95_s": 111.0,
                           "targets": {"pct_60s": 97.5, "pct_180s": 99.0}}
    o = f["orders"]
    assert (o["total"], o["completed"], o["cancelled"], o["no_candidate"]) == (6, 2, 1, 2)
    assert o["completion_rate"] == 40.0            # 2 of the 5 not cancelled
    assert (o["checked_in"], o["punctual"], o["punctuality"]) == (2, 1, 50.0)
    assert [(c["code"], c["n"]) for c in o["by_category"]] == [("care", 3), ("medical", 3)]
    assert [(i["code"], i["n"]) for i in o["by_item"]] == [("LC001", 3), ("MD001", 3)]
    assert {k: n for k, n in o["by_state"].items() if n} == {
        "completed": 2, "no_candidate": 2, "cancelled": 1, "queued": 1}
    assert o["no_candidate_reasons"] == [{"reason": "", "n": 1}, {"reason": REASON, "n": 1}]

    kids = {c["code"]: c["figures"] for c in report["children"]}
    assert list(kids) == [WENDENG, RONGCHENG]
    wd, rc = kids[WENDENG], kids[RONGCHENG]
    assert (wd["calls"]["total"], wd["calls"]["abandoned"], wd["calls"]["unknown_caller"]) == \
        (3, 1, 0)
    assert rc["calls"]["total"] == 1
    assert (wd["answer"]["alarms"], wd["answer"]["pct_60s"], wd["answer"]["pct_180s"]) == \
        (3, 33.3, 66.7)
    assert (wd["answer"]["median_s"], wd["answer"]["p95_s"]) == (75.0, 115.5)
    assert (rc["alarms"]["total"], rc["answer"]["alarms"], rc["answer"]["pct_60s"]) == \
        (2, 1, 100.0)
    assert (wd["orders"]["total"], wd["orders"]["completion_rate"]) == (5, 50.0)
    assert wd["orders"]["no_candidate_reasons"] == [{"reason": REASON, "n": 1}]
    assert rc["orders"]["no_candidate_reasons"] == [{"reason": "", "n": 1}]
    # the totals are the sums of the districts' (but for the city's unidentified caller)
    assert f["alarms"]["total"] == wd["alarms"]["total"] + rc["alarms"]["total"]
    assert f["orders"]["total"] == wd["orders"]["total"] + rc["orders"]["total"]
    assert f["calls"]["total"] == wd["calls"]["total"] + rc["calls"]["total"] + 1

    # the day before and the day after hold nothing
    other = await stats.region_report(db, city, start - dt.timedelta(days=1), start, end)
    assert other["figures"]["alarms"]["total"] == 0 and other["figures"]["orders"]["total"] == 0
    assert (await stats.staff_figures(db, city)) == {"staff": 2, "on_shift": 1}
    rongcheng = await stats.region(db, RONGCHENG)
    assert rongcheng is not None
    assert (await stats.staff_figures(db, rongcheng)) == {"staff": 0, "on_shift": 0}

    trend = await stats.trend(db, city, day + dt.timedelta(days=1), SHANGHAI)
    assert len(trend) == stats.TREND_DAYS
    assert trend[-2] == {"day": day.isoformat(), "calls": 5, "alarms": 5, "orders": 6}
    assert trend[-1]["calls"] == trend[0]["alarms"] == 0


async def test_an_alarm_still_ringing_is_not_yet_a_miss(db: asyncpg.Connection,
                                                        world: dict[str, int]) -> None:
    """Answer shares count an unacknowledged alarm only once its 60 s / 180 s have passed."""
    now = dt.datetime.now(dt.UTC)
    await db.execute(
        "INSERT INTO alarms (elder_id, region_code, kind, priority, state, created_at) VALUES"
        " ($1, '371003001001', 'sos', 1, 'queued', $2)", world["elder_wendeng"],
        now - dt.timedelta(seconds=90))
    wendeng = await stats.region(db, WENDENG)
    assert wendeng is not None
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)
    f = await stats.period_figures(db, wendeng, start, end, now)
    assert (f["answer"]["pct_60s"], f["answer"]["pct_180s"]) == (0.0, None)


async def _json(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    body = await resp.json()
    assert resp.status == status, body
    return body


def _today_base() -> dt.datetime:
    """A moment today (Asia/Shanghai) a little in the past where possible."""
    now = dt.datetime.now(SHANGHAI)
    midnight = dt.datetime.combine(now.date(), dt.time(), SHANGHAI)
    return max(midnight + dt.timedelta(seconds=1), now - dt.timedelta(minutes=50))


async def test_dashboard_equals_daily_report(client: Any, db: asyncpg.Connection,
                                             world: dict[str, int]) -> None:
    await craft(db, world, _today_base())
    await client.login("supervisor")
    dash = await _json(client, "/api/v1/dashboard")
    today = dt.datetime.now(SHANGHAI).date().isoformat()
    assert dash["day"] == today and dash["region"]["code"] == CITY
    report = await _json(client, f"/api/v1/reports/daily?date={today}&region={CITY}")
    assert dash["figures"]["alarms"]["total"] == 5 and dash["figures"]["orders"]["total"] == 6
    assert dash["figures"] == report["figures"]
    assert dash["children"] == report["children"]
    assert dash["staff"] == {"staff": 2, "on_shift": 1}
    assert dash["trend"][-1] == {"day": today, "calls": 5, "alarms": 5, "orders": 6}
    # a district's own figures are its row in the city's breakdown
    district = await _json(client, f"/api/v1/dashboard?region={WENDENG}")
    assert district["figures"] == next(c["figures"] for c in dash["children"]
                                       if c["code"] == WENDENG)


async def test_dashboard_region_scope(app_client: Any, db: asyncpg.Connection,
                                      world: dict[str, int]) -> None:
    await craft(db, world, _today_base())
    sup = await app_client()
    await sup.login("sup.wendeng")
    mine = await _json(sup, "/api/v1/dashboard")
    assert mine["region"]["code"] == WENDENG
    assert (mine["figures"]["calls"]["total"], mine["figures"]["alarms"]["total"],
            mine["figures"]["orders"]["total"]) == (3, 3, 5)
    assert [c["code"] for c in mine["children"]] == ["371003001"]
    assert mine["staff"] == {"staff": 2, "on_shift": 1}
    for other in (RONGCHENG, CITY, "371082001"):
        body = await _json(sup, f"/api/v1/dashboard?region={other}", 403)
        assert "region" in body["fields"], body
    assert "region" in (await _json(sup, "/api/v1/dashboard?region=371099", 404))["fields"]
    assert "region" in (await _json(sup, "/api/v1/dashboard?region=37x", 422))["fields"]
    resp = await sup.get(f"/dashboard?region={RONGCHENG}")
    assert resp.status == 403, await resp.text()
    resp = await sup.get("/dashboard")
    text = await resp.text()
    assert resp.status == 200, text
    assert "监管大屏" in text and "文登区" in text and "/static/vendor/echarts/echarts.min.js" in text

    op = await app_client()
    await op.login("op.rongcheng")
    theirs = await _json(op, "/api/v1/dashboard")
    assert (theirs["region"]["code"], theirs["figures"]["alarms"]["total"]) == (RONGCHENG, 2)
    await _json(op, f"/api/v1/dashboard?region={WENDENG}", 403)

    staff = await app_client()
    await staff.login("ps.001")
    await _json(staff, "/api/v1/dashboard", 403)
    anonymous = await app_client()
    await _json(anonymous, "/api/v1/dashboard", 401)


async def test_dashboard_page_in_english(client: Any, world: dict[str, int]) -> None:
    await client.login("supervisor")
    resp = await client.get("/dashboard?lang=en")
    text = await resp.text()
    assert resp.status == 200, text
    assert "Supervisor dashboard" in text and 'href="/reports"' in text
