"""Active care against real PostgreSQL and Redis: the month's plan (idempotent, balanced, by
region), outcomes of each kind (a service order, a follow-up alarm, the ladder through to a
home-visit order whose completion counts as a visit), the visit rate on a crafted month, the
follow-up after an alarm, the daily sweep (high-risk cadence, inactivity), events and live
events, and the API's region scoping and 404/403/409/422 answers."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg
import pytest

from callcenter import alarms, care, care_outcome
from callcenter import care_rules as rules
from callcenter.subsidy_rules import SHANGHAI
from tests import factories
from tests.dispatch_fixtures import *  # noqa: F403

NOW = dt.datetime(2026, 11, 3, 10, 0, tzinfo=SHANGHAI)
MONTH = dt.date(2026, 11, 1)
TIMINGS = alarms.Timings(offer_s=20, city_s=60)


async def care_world(db: asyncpg.Connection, world: dict[str, Any]) -> dict[str, Any]:
    """On top of factories.world: a second 文登 operator, special-difficulty elders in 文登 and
    荣成, elders who are not due (高龄 only, no group, deceased), and the home-visit item."""
    ids = dict(world)
    ids["op_wendeng2"] = await factories.user(db, "op.wendeng2", "operator", "371003")
    await db.execute("UPDATE elders SET risk_groups = '{低保}' WHERE id = $1",
                     ids["elder_rongcheng"])
    ids["w2"] = await factories.elder(db, "李桂兰", "371003001", 102, risk_groups=["空巢"])
    ids["w3"] = await factories.elder(db, "赵德明", "371003", 103, risk_groups=["失能"])
    ids["r2"] = await factories.elder(db, "陈玉珍", "371082001", 204, risk_groups=["留守"])
    ids["old_only"] = await factories.elder(db, "周老汉", "371003001", 105, risk_groups=["高龄"])
    ids["nobody"] = await factories.elder(db, "吴平", "371082001", 206)
    ids["gone"] = await factories.elder(db, "郑福", "371003001", 107, risk_groups=["独居"])
    await db.execute("UPDATE elders SET status = 'deceased' WHERE id = $1", ids["gone"])
    await db.execute("INSERT INTO elder_contacts (elder_id, position, name, phone, relation)"
                     " VALUES ($1, 1, '王磊', '+8613906319999', '儿子')", ids["elder_wendeng"])
    await db.execute("INSERT INTO skills VALUES ('companion', '陪伴', 'Companionship'),"
                     " ('bathing', '助浴', 'Bathing') ON CONFLICT DO NOTHING")
    await db.execute("INSERT INTO service_categories (code, name_zh, name_en) VALUES"
                     " ('companionship', '陪伴', 'Companionship'), ('bathing', '助浴', 'Bathing')"
                     " ON CONFLICT DO NOTHING")
    await db.execute(
        "INSERT INTO service_items (code, category_code, name_zh, name_en, unit, price_cents,"
        " duration_min, target_response_min, subsidy_eligible, skill_code) VALUES"
        " ('CP001', 'companionship', '上门陪伴聊天', 'Home companionship visit', '小时', 3000,"
        " 60, 1440, true, 'companion'), ('CP006', 'companionship', '关爱上门探访',"
        " 'Active-care home visit', '次', 0, 60, 240, false, 'companion'),"
        " ('BA001', 'bathing', '上门助浴', 'Home bathing', '次',"
        " 8000, 60, 60, true, 'bathing') ON CONFLICT DO NOTHING")
    ids["due"] = {ids["elder_wendeng"], ids["elder_rongcheng"], ids["w2"], ids["w3"], ids["r2"]}
    return ids


@pytest.fixture
async def cw(db: asyncpg.Connection, world: dict[str, Any]) -> dict[str, Any]:
    return await care_world(db, world)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def task_of(db: asyncpg.Connection, elder_id: int, reason: str = "monthly"
                  ) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM outreach_tasks WHERE elder_id = $1 AND reason = $2"
                            " ORDER BY id DESC LIMIT 1", elder_id, reason)
    assert row is not None
    return row


async def outcome(pool: asyncpg.Pool, task_id: int, result: str, now: dt.datetime,
                  user_id: int | None = None, **kw: Any) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction():
        return await care_outcome.record_outcome(
            conn, task_id, user_id=user_id, outcome=result, method=kw.pop("method", "phone"),
            note=kw.pop("note", ""), now=now, timings=TIMINGS, **kw)


async def test_month_plan_is_idempotent_balanced_and_by_region(cw, db, pool) -> None:
    plan = await care.generate_month_plan(pool, MONTH, NOW)
    assert plan["month"] == "2026-11" and plan["created"] == 5 and plan["due"] == 5
    rows = await db.fetch("SELECT elder_id, assigned_to, kind, state, step, due_on FROM"
                          " outreach_tasks WHERE month = $1", MONTH)
    assert {r["elder_id"] for r in rows} == cw["due"]
    assert {(r["kind"], r["state"], r["step"], r["due_on"]) for r in rows} == \
        {("care_visit", "open", "call", dt.date(2026, 11, 3))}
    by = {r["elder_id"]: r["assigned_to"] for r in rows}
    # 荣成's elders to 荣成's operator; 文登's three shared 2/1 by 文登's two operators
    assert by[cw["elder_rongcheng"]] == by[cw["r2"]] == cw["op_rongcheng"]
    wendeng = [by[e] for e in (cw["elder_wendeng"], cw["w2"], cw["w3"])]
    assert sorted(wendeng.count(op) for op in (cw["op_wendeng"], cw["op_wendeng2"])) == [1, 2]
    assert plan["per_operator"] == {str(op): n for op, n in
                                    ((cw["op_rongcheng"], 2), (cw["op_wendeng"],
                                      wendeng.count(cw["op_wendeng"])),
                                     (cw["op_wendeng2"], wendeng.count(cw["op_wendeng2"])))}
    # every task's creation is an event; the plan run is recorded for the worker
    assert await db.fetchval("SELECT count(*) FROM outreach_events WHERE event = 'plan'") == 5
    assert await db.fetchval("SELECT count(*) FROM care_runs WHERE kind = 'month_plan'") == 1
    again = await care.generate_month_plan(pool, MONTH, NOW + dt.timedelta(hours=1))
    assert (again["created"], again["due"]) == (0, 5)
    new = await factories.elder(db, "钱小梅", "371003001001", 108, risk_groups=["特困"])
    top_up = await care.generate_month_plan(pool, MONTH, NOW + dt.timedelta(days=2))
    assert (top_up["created"], top_up["due"]) == (1, 6)
    assert (await task_of(db, new))["due_on"] == dt.date(2026, 11, 5)
    assert await db.fetchval("SELECT count(*) FROM outreach_tasks") == 6


async def test_plan_prefers_operators_on_duty(cw, db, pool) -> None:
    await db.execute("INSERT INTO operator_presence (user_id, on_duty) VALUES ($1, true),"
                     " ($2, true)", cw["op_wendeng2"], cw["op_city"])
    plan = await care.generate_month_plan(pool, MONTH, NOW)
    assert plan["per_operator"] == {str(cw["op_wendeng2"]): 3, str(cw["op_city"]): 2}


async def test_well_closes_the_task_with_a_visit_events_and_a_live_event(cw, db, pool) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    task = await task_of(db, cw["elder_wendeng"])
    out = await outcome(pool, task["id"], "well", NOW, cw["op_wendeng"], method="video",
                        note="身体不错")
    assert out["task"]["state"] == "done" and out["task"]["attempts"] == 1
    assert out["order_id"] is None and out["alarm_id"] is None
    visit = await db.fetchrow("SELECT * FROM care_visits WHERE id = $1", out["visit_id"])
    assert (visit["method"], visit["outcome"], visit["operator_id"], visit["note"]) == \
        ("video", "well", cw["op_wendeng"], "身体不错")
    ev = await db.fetchrow("SELECT * FROM outreach_events WHERE task_id = $1 AND event ="
                           " 'outcome'", task["id"])
    assert (ev["from_state"], ev["to_state"], ev["actor_user_id"]) == \
        ("open", "done", cw["op_wendeng"])
    live = await db.fetchrow("SELECT * FROM outbox WHERE kind = 'care_visit'")
    payload = json.loads(live["payload"])
    assert live["region_code"] == "371003001001" and payload["reached"] is True
    assert payload["task"]["id"] == task["id"] and payload["month"] == "2026-11"
    with pytest.raises(care_outcome.TaskClosed):
        await outcome(pool, task["id"], "well", NOW, cw["op_wendeng"])
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("UPDATE care_visits SET note = 'x'")
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("DELETE FROM outreach_events")


async def test_needs_service_creates_an_order_in_the_same_transaction(cw, db, pool) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    task = await task_of(db, cw["w2"])
    out = await outcome(pool, task["id"], "needs_service", NOW, cw["op_wendeng"],
                        item_code="BA001", note="想洗澡")
    order = await db.fetchrow("SELECT * FROM orders WHERE id = $1", out["order_id"])
    assert (order["elder_id"], order["item_code"], order["state"], order["created_by"]) == \
        (cw["w2"], "BA001", "queued", cw["op_wendeng"])
    assert out["task"]["order_id"] == out["order_id"] and out["task"]["state"] == "done"
    with pytest.raises(care_outcome.OutcomeRefused) as refused:
        await outcome(pool, (await task_of(db, cw["w3"]))["id"], "needs_service", NOW,
                      item_code="XX999")
    assert refused.value.field == "item_code"
    assert (await task_of(db, cw["w3"]))["state"] == "open"  # nothing written


async def test_needs_attention_raises_a_follow_up_alarm(cw, db, pool) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    task = await task_of(db, cw["w3"])
    out = await outcome(pool, task["id"], "needs_attention", NOW, cw["op_wendeng"])
    alarm = await db.fetchrow("SELECT * FROM alarms WHERE id = $1", out["alarm_id"])
    assert (alarm["kind"], alarm["elder_id"], alarm["region_code"], alarm["source"]) == \
        ("care_attention", cw["w3"], "371003", "system")
    assert out["task"]["raised_alarm_id"] == out["alarm_id"]
    assert await db.fetchval("SELECT alarm_id FROM care_visits WHERE id = $1",
                             out["visit_id"]) == out["alarm_id"]


async def test_ladder_to_a_home_visit_whose_completion_counts(cw, db, pool, dworld) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    elder = cw["elder_wendeng"]
    task_id = (await task_of(db, elder))["id"]
    clock = NOW
    out = await outcome(pool, task_id, "unreachable", clock)
    assert (out["task"]["state"], out["task"]["step"], ts(out["task"]["next_attempt_at"])) == \
        ("open", "call", clock + dt.timedelta(minutes=10))
    clock += dt.timedelta(minutes=10)
    out = await outcome(pool, task_id, "unreachable", clock)
    assert ts(out["task"]["next_attempt_at"]) == clock + dt.timedelta(hours=3)
    clock += dt.timedelta(hours=3)
    out = await outcome(pool, task_id, "unreachable", clock)
    assert (out["task"]["step"], ts(out["task"]["next_attempt_at"])) == ("contacts", clock)
    out = await outcome(pool, task_id, "unreachable", clock, contact_reached=False)
    assert (out["task"]["state"], out["task"]["step"]) == ("home_visit", "home_visit")
    order = await db.fetchrow("SELECT * FROM orders WHERE id = $1", out["order_id"])
    assert (order["item_code"], order["elder_id"], order["state"]) == ("CP006", elder, "queued")
    assert await db.fetchval("SELECT count(*) FROM care_visits WHERE task_id = $1"
                             " AND outcome = 'unreachable'", task_id) == 4
    assert [r["to_step"] for r in await db.fetch(
        "SELECT to_step FROM outreach_events WHERE task_id = $1 ORDER BY id", task_id)] == \
        ["call", "call", "call", "contacts", "home_visit"]
    with pytest.raises(care_outcome.TaskClosed):
        await outcome(pool, task_id, "well", clock)
    rate = await care.visit_rate(pool, MONTH, "371003")
    assert (rate["due"], rate["visited"]) == (3, 0)
    await db.execute(
        "UPDATE orders SET state = 'completed', staff_id = $2, checked_in_at = $3,"
        " checked_out_at = $4 WHERE id = $1", out["order_id"], dworld["staff"],
        clock + dt.timedelta(hours=2), clock + dt.timedelta(hours=3))
    rate = await care.visit_rate(pool, MONTH, "371003")
    assert (rate["due"], rate["visited"]) == (3, 1)
    assert elder not in {r["elder_id"] for r in rate["not_reached"]}


async def test_visit_rate_on_a_crafted_month(cw, db, pool) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    # 王秀英 well by phone; 李桂兰 only unreachable; 陈玉珍 (荣成) met by chance; a visit of
    # 赵德明 last month does not count for this one
    await outcome(pool, (await task_of(db, cw["elder_wendeng"]))["id"], "well", NOW)
    await outcome(pool, (await task_of(db, cw["w2"]))["id"], "unreachable", NOW)
    await outcome(pool, (await task_of(db, cw["r2"]))["id"], "well", NOW, method="chance")
    october = await db.fetchval(
        "INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on, state)"
        " VALUES ('care_visit', 'monthly', $1, '371003', '2026-10-01', '2026-10-01', 'done')"
        " RETURNING id", cw["w3"])
    await db.execute("INSERT INTO care_visits (task_id, elder_id, method, outcome, step,"
                     " attempt, at) VALUES ($1, $2, 'phone', 'well', 'call', 1, $3)",
                     october, cw["w3"], dt.datetime(2026, 10, 31, 23, 0, tzinfo=SHANGHAI))
    city = await care.visit_rate(pool, MONTH, "371000")
    assert (city["month"], city["region_code"], city["due"], city["visited"], city["rate"]) == \
        ("2026-11", "371000", 5, 2, 0.4)
    assert [(r["code"], r["due"], r["visited"], r["rate"]) for r in city["regions"]] == \
        [("371003", 3, 1, round(1 / 3, 4)), ("371082", 2, 1, 0.5)]
    missing = {r["elder_id"]: r for r in city["not_reached"]}
    assert set(missing) == {cw["w2"], cw["w3"], cw["elder_rongcheng"]}
    assert (missing[cw["w2"]]["attempts"], missing[cw["w2"]]["state"],
            missing[cw["w2"]]["step"]) == (1, "open", "call")
    assert missing[cw["elder_rongcheng"]]["assigned_to_name"] == "op.rongcheng"
    october_rate = await care.visit_rate(pool, dt.date(2026, 10, 1), "371003")
    assert (october_rate["due"], october_rate["visited"], october_rate["rate"]) == (1, 1, 1.0)
    empty = await care.visit_rate(pool, dt.date(2026, 9, 1), "371082")
    assert (empty["due"], empty["rate"], empty["regions"][0]["rate"]) == (0, None, None)


async def test_the_monthly_report_carries_the_visit_rate(cw, db, pool, client) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    await outcome(pool, (await task_of(db, cw["elder_wendeng"]))["id"], "well", NOW)
    await outcome(pool, (await task_of(db, cw["w2"]))["id"], "unreachable", NOW)
    await client.login("admin")
    url = "/api/v1/reports/monthly?month=2026-11&region=371000"
    body = await (await client.get(url)).json()
    assert (body["care"]["due"], body["care"]["visited"]) == (5, 1)
    assert body["care"] == await care.visit_rate(pool, MONTH, "371000")
    csv_text = await (await client.get(url + "&format=csv")).text()
    assert "主动关爱探访率" in csv_text and "尚未探访的老人（前200名）" in csv_text
    rows = [line.split(",") for line in csv_text.splitlines()]
    assert ["合计", "371000", "5", "1", "20.0"] in rows
    assert ["李桂兰", str(cw["w2"]), "龙山街道", "1", "呼叫老人", "op.wendeng"] in rows or \
        ["李桂兰", str(cw["w2"]), "龙山街道", "1", "呼叫老人", "op.wendeng2"] in rows
    daily = await (await client.get("/api/v1/reports/daily?region=371000")).json()
    assert "care" not in daily  # a day has no visit rate: the plan is monthly


async def test_a_reaching_call_covers_the_elders_other_open_tasks(cw, db, pool) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    swept = await care.daily_sweep(pool, NOW)
    assert swept["high_risk"] == 2  # 王秀英 (独居+高龄) and 赵德明 (失能)
    high = await task_of(db, cw["w3"], "high_risk")
    await outcome(pool, high["id"], "well", NOW)
    monthly = await task_of(db, cw["w3"])
    assert (monthly["state"], monthly["outcome"]) == ("done", "well")
    assert await db.fetchval("SELECT payload->>'by_task' FROM outreach_events WHERE task_id = $1"
                             " AND event = 'covered'", monthly["id"]) == str(high["id"])
    # a week later the cadence makes 赵德明 due again (王秀英's task is still open); the sweep
    # of the same day adds nothing
    later = NOW + dt.timedelta(days=7)
    assert (await care.daily_sweep(pool, later))["high_risk"] == 1
    assert (await care.daily_sweep(pool, later))["high_risk"] == 0


async def test_alarm_resolution_creates_a_follow_up_task(cw, db, pool) -> None:
    now = dt.datetime.now(dt.UTC)
    async with pool.acquire() as conn, conn.transaction():
        alarm_id = await alarms.raise_alarm(conn, kind="fall", region_code="371003001001",
                                            elder_id=cw["elder_wendeng"], device_id=None,
                                            now=now, timings=TIMINGS, source="cti")
        battery = await alarms.raise_alarm(conn, kind="low_battery", region_code="371003",
                                           elder_id=cw["w3"], device_id=None, now=now,
                                           timings=TIMINGS, source="cti")
    for a in (alarm_id, battery):
        async with pool.acquire() as conn, conn.transaction():
            await alarms.acknowledge(conn, a, cw["op_wendeng"], now)
            await alarms.resolve(conn, a, cw["op_wendeng"], "resolved_by_phone", "", now)
    task = await task_of(db, cw["elder_wendeng"], "after_alarm")
    assert (task["kind"], task["alarm_id"], task["assigned_to"], task["state"]) == \
        ("post_alarm", alarm_id, cw["op_wendeng"], "open")
    assert await db.fetchval("SELECT count(*) FROM outreach_tasks WHERE alarm_id = $1",
                             battery) == 0
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'care_task'") == 1
    # the sweep's catch-up finds nothing left to add
    assert (await care.daily_sweep(pool, now))["after_alarm"] == 0


async def test_sweep_catches_alarms_that_ended_without_the_hook(cw, db, pool) -> None:
    alarm_id = await db.fetchval(
        "INSERT INTO alarms (elder_id, region_code, kind, priority, state, source, created_at,"
        " resolved_at, outcome) VALUES ($1, '371003', 'sos', 1, 'resolved', 'cti', $2, $3,"
        " 'false_alarm') RETURNING id", cw["w3"], NOW - dt.timedelta(hours=3),
        NOW - dt.timedelta(hours=2))
    old = await db.fetchval(
        "INSERT INTO alarms (elder_id, region_code, kind, priority, state, source, created_at,"
        " resolved_at, outcome) VALUES ($1, '371003', 'sos', 1, 'resolved', 'cti', $2, $3,"
        " 'false_alarm') RETURNING id", cw["w2"], NOW - dt.timedelta(hours=30),
        NOW - dt.timedelta(hours=29))
    assert (await care.daily_sweep(pool, NOW))["after_alarm"] == 1
    assert (await task_of(db, cw["w3"], "after_alarm"))["alarm_id"] == alarm_id
    assert await db.fetchval("SELECT count(*) FROM outreach_tasks WHERE alarm_id = $1",
                             old) == 0


async def test_inactivity_sweep(cw, db, pool) -> None:
    await db.execute("UPDATE elders SET created_at = $1", NOW - dt.timedelta(days=30))
    # 王秀英 called yesterday; 李桂兰's bracelet reported an hour ago; 吴平 was visited (well)
    # the day before yesterday; the others were silent
    await db.execute("INSERT INTO calls (external_id, direction, ani, dnis, elder_id,"
                     " ringing_at) VALUES ('c1', 'inbound', '+8613806310001', '12349', $1, $2)",
                     cw["elder_wendeng"], NOW - dt.timedelta(days=1))
    device = await factories.device(db, "BR-0001", cw["w2"], "bracelet")
    await db.execute("UPDATE devices SET last_heartbeat_at = $2 WHERE id = $1", device,
                     NOW - dt.timedelta(hours=1))
    task = await db.fetchval(
        "INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on, state)"
        " VALUES ('care_visit', 'monthly', $1, '371082001', $2, $2, 'done') RETURNING id",
        cw["nobody"], MONTH)
    await db.execute("INSERT INTO care_visits (task_id, elder_id, method, outcome, step,"
                     " attempt, at) VALUES ($1, $2, 'phone', 'well', 'call', 1, $3)", task,
                     cw["nobody"], NOW - dt.timedelta(days=2))
    swept = await care.daily_sweep(pool, NOW)
    inactive = {r["elder_id"] for r in await db.fetch(
        "SELECT elder_id FROM outreach_tasks WHERE reason = 'inactivity'")}
    # not the deceased; everyone silent for 3 days
    assert inactive == {cw["w3"], cw["elder_rongcheng"], cw["r2"], cw["old_only"]}
    assert swept["inactivity"] == 4
    assert (await task_of(db, cw["w3"], "inactivity"))["kind"] == "inactivity"
    assert (await care.daily_sweep(pool, NOW + dt.timedelta(hours=1)))["inactivity"] == 0
    # a shorter setting makes the elder seen two days ago inactive too
    short = await care.daily_sweep(pool, NOW, rules.CareConfig(inactivity_days=1))
    assert short["inactivity"] == 1


async def test_run_periodic_plans_and_sweeps_once(cw, db, pool, settings) -> None:
    first = await care.run_periodic(pool, settings, dt.datetime.now(dt.UTC))
    assert first["plan"]["created"] == 5 and "sweep" in first
    assert await care.run_periodic(pool, settings, dt.datetime.now(dt.UTC)) == {}


# --- the API ---

async def test_worklist_api_is_scoped_and_ordered(cw, db, pool, client) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    await db.execute("UPDATE outreach_tasks SET assigned_to = NULL WHERE elder_id = $1",
                     cw["w3"])
    mine = await task_of(db, cw["w2"])
    await db.execute("UPDATE outreach_tasks SET assigned_to = $2 WHERE id = $1", mine["id"],
                     cw["op_wendeng"])
    retry = await task_of(db, cw["elder_wendeng"])
    await db.execute("UPDATE outreach_tasks SET assigned_to = $2, next_attempt_at = $3"
                     " WHERE id = $1", retry["id"], cw["op_wendeng"],
                     dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    await client.login("op.wendeng")
    resp = await client.get("/api/v1/care/worklist")
    body = await resp.json()
    assert resp.status == 200, body
    order = [(i["task_id"], i["assigned_to"]) for i in body["items"]]
    # own due task, own later retry, then 文登's unassigned one; nothing of 荣成
    assert order == [(mine["id"], cw["op_wendeng"]), (retry["id"], cw["op_wendeng"]),
                     ((await task_of(db, cw["w3"]))["id"], None)]
    first = body["items"][1]
    assert first["elder"]["name"] == "王秀英" and first["elder"]["age"] >= 80
    assert first["elder"]["id_number_masked"].count("*") >= 8
    assert first["contacts"] == [{"name": "王磊", "phone": "+8613906319999", "relation": "儿子"}]
    assert first["reason"] == "monthly" and first["due_on"] == "2026-11-03"
    assert body["counts"] == {"open": 3, "due_now": 2, "done_today": 0}
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'care.worklist'") == 1
    limited = await (await client.get("/api/v1/care/worklist?limit=1")).json()
    assert len(limited["items"]) == 1
    for bad in ("0", "201", "x"):
        resp = await client.get(f"/api/v1/care/worklist?limit={bad}")
        assert resp.status == 422 and "limit" in (await resp.json())["fields"]
    await client.login("sup.wendeng")
    sup = await (await client.get("/api/v1/care/worklist")).json()
    assert sup["counts"]["open"] == 3 and len(sup["items"]) == 3


async def test_outcome_api_answers(cw, db, pool, client, app_client) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    task = await task_of(db, cw["elder_wendeng"])
    url = f"/api/v1/care/tasks/{task['id']}/outcome"
    other = await app_client()
    await other.login("op.rongcheng")
    resp = await other.post(url, json={"outcome": "well", "method": "phone"})
    assert resp.status == 403, await resp.text()
    await client.login("op.wendeng")
    resp = await client.post("/api/v1/care/tasks/999999/outcome",
                             json={"outcome": "well", "method": "phone"})
    assert resp.status == 404
    for body, field in [({"method": "phone"}, "outcome"),
                        ({"outcome": "fine", "method": "phone"}, "outcome"),
                        ({"outcome": "well", "method": "letter"}, "method"),
                        ({"outcome": "well", "method": "phone", "note": "长" * 501}, "note"),
                        ({"outcome": "needs_service", "method": "phone"}, "item_code"),
                        ({"outcome": "needs_service", "method": "phone", "item_code": "ZZ001"},
                         "item_code"),
                        ({"outcome": "well", "method": "phone", "contact_reached": "yes"},
                         "contact_reached"),
                        ({"outcome": "well", "method": "phone", "extra": 1}, "extra")]:
        resp = await client.post(url, json=body)
        answer = await resp.json()
        assert resp.status == 422 and field in answer["fields"], (body, answer)
    assert await db.fetchval("SELECT count(*) FROM care_visits") == 0  # nothing written
    resp = await client.post(url, json={"outcome": "unreachable", "method": "phone"})
    body = await resp.json()
    assert resp.status == 200, body
    assert set(body) >= {"task", "visit_id", "order_id", "alarm_id"}
    assert (body["task"]["state"], body["task"]["step"], body["task"]["attempts"]) == \
        ("open", "call", 1)
    assert body["task"]["next_attempt_at"] is not None
    resp = await client.post(url, json={"outcome": "well", "method": "home", "note": "好"})
    assert resp.status == 200 and (await resp.json())["task"]["state"] == "done"
    resp = await client.post(url, json={"outcome": "well", "method": "phone"})
    assert resp.status == 409, await resp.text()
    # an unassigned task worked by an operator becomes theirs
    w3 = await task_of(db, cw["w3"])
    await db.execute("UPDATE outreach_tasks SET assigned_to = NULL WHERE id = $1", w3["id"])
    resp = await client.post(f"/api/v1/care/tasks/{w3['id']}/outcome",
                             json={"outcome": "unreachable", "method": "phone"})
    assert (await resp.json())["task"]["assigned_to"] == cw["op_wendeng"]


async def test_plan_and_visit_rate_api(cw, db, client, app_client) -> None:
    await client.login("op.wendeng")
    resp = await client.post("/api/v1/care/plan", json={"month": "2026-11"})
    assert resp.status == 403
    await client.login("sup.wendeng")
    for body in ({"month": "2026-13"}, {}, {"month": "2026-11", "x": 1}):
        resp = await client.post("/api/v1/care/plan", json=body)
        assert resp.status == 422, body
    resp = await client.post("/api/v1/care/plan", json={"month": "2026-11"})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["month"], body["created"], body["due"]) == ("2026-11", 3, 3)  # 文登 only
    assert sum(body["per_operator"].values()) == 3
    again = await (await client.post("/api/v1/care/plan", json={"month": "2026-11"})).json()
    assert again["created"] == 0
    resp = await client.get("/api/v1/care/visit-rate?month=2026-11")
    rate = await resp.json()
    assert resp.status == 200, rate
    assert (rate["region_code"], rate["due"], rate["visited"], rate["rate"]) == \
        ("371003", 3, 0, 0.0)
    assert [r["code"] for r in rate["regions"]] == ["371003001"]
    assert len(rate["not_reached"]) == 3
    assert (await client.get("/api/v1/care/visit-rate?region=371082")).status == 403
    assert (await client.get("/api/v1/care/visit-rate?region=371099")).status == 404
    assert (await client.get("/api/v1/care/visit-rate?region=abc")).status == 422
    assert (await client.get("/api/v1/care/visit-rate?month=2026-1")).status == 422
    admin = await app_client()
    await admin.login("admin")
    city = await (await admin.get("/api/v1/care/visit-rate?month=2026-11")).json()
    assert (city["region_code"], city["due"]) == ("371000", 3)
    ps = await app_client()
    await ps.login("ps.001")
    assert (await ps.get("/api/v1/care/worklist")).status == 403


async def test_an_operator_covers_the_tasks_of_colleagues_off_duty(cw, db, pool, client
                                                                  ) -> None:
    await care.generate_month_plan(pool, MONTH, NOW)
    theirs = await task_of(db, cw["w2"])
    await db.execute("UPDATE outreach_tasks SET assigned_to = $2 WHERE elder_id = ANY($1)",
                     [cw["elder_wendeng"], cw["w3"]], cw["op_wendeng"])
    await db.execute("UPDATE outreach_tasks SET assigned_to = $2 WHERE id = $1", theirs["id"],
                     cw["op_wendeng2"])
    await client.login("op.wendeng")

    async def listed() -> list[tuple[int, int]]:
        body = await (await client.get("/api/v1/care/worklist")).json()
        return [(i["task_id"], i["assigned_to"]) for i in body["items"]]

    # the colleague has no presence row (never on duty): their task is in the pool, after mine
    order = await listed()
    assert order[-1] == (theirs["id"], cw["op_wendeng2"]) and len(order) == 3
    await db.execute("INSERT INTO operator_presence (user_id, on_duty) VALUES ($1, true)",
                     cw["op_wendeng2"])
    assert theirs["id"] not in [t for t, _ in await listed()]  # on duty: theirs to work
    await db.execute("UPDATE operator_presence SET on_duty = false WHERE user_id = $1",
                     cw["op_wendeng2"])
    assert (theirs["id"], cw["op_wendeng2"]) in await listed()
