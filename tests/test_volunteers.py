"""Volunteers and the time bank against real PostgreSQL and Redis: registration with every bad
field named and nothing written, logging help (points at the activity's rate), redemptions that
can never overdraw (also two at once), append-only logs, region scoping, the month's report per
community on crafted data as JSON, CSV and XLSX, and the demo seed."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import zoneinfo
from typing import Any

import asyncpg
import pytest
from openpyxl import load_workbook

from callcenter.seed import seed_city
from callcenter.validation import make_id_number
from tests import factories

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
KUNYU = "371003001001"     # 昆嵛社区, 文登区 (the factories' world)
SECOND = "371003001002"    # 峰山社区, 文登区 (added here)
NINGJIN = "371082001001"   # 东墩村, 荣成市 (added here)


@pytest.fixture
async def vworld(world: dict[str, int], db: asyncpg.Connection) -> dict[str, int]:
    """The factories' world plus a second community in 文登区 and a village in 荣成市."""
    for code, parent, name, path in (
            (SECOND, "371003001", "峰山社区", "371000.371003.371003001.371003001002"),
            (NINGJIN, "371082001", "东墩村", "371000.371082.371082001.371082001001")):
        await db.execute(
            "INSERT INTO regions (code, parent_code, level, name, kind, service_radius_m,"
            " service_minutes, path) VALUES ($1, $2, 'community', $3, 'urban', 3000, 15, $4)",
            code, parent, name, path)
    return world


async def register(client: Any, **body: Any) -> dict[str, Any]:
    payload = {"name": "刘海燕", "phone": "138 0631 0099", "region_code": KUNYU,
               "activities": ["meal", "visit"], "joined_on": "2025-03-01", **body}
    resp = await client.post("/api/v1/volunteers", json=payload)
    out: dict[str, Any] = await resp.json()
    assert resp.status == 201, out
    return out


def ago(**kw: Any) -> str:
    return (dt.datetime.now(SH) - dt.timedelta(**kw)).isoformat(timespec="minutes")


async def counts(db: asyncpg.Connection) -> tuple[int, int, int]:
    row = await db.fetchrow("SELECT (SELECT count(*) FROM volunteers) AS v,"
                            " (SELECT count(*) FROM volunteer_hours) AS h,"
                            " (SELECT count(*) FROM time_bank_ledger) AS l")
    return row["v"], row["h"], row["l"]


async def test_register_search_and_open(vworld, client, db) -> None:
    await client.login("op.wendeng")
    number = make_id_number("371003", dt.date(1978, 4, 2), 17)
    v = await register(client, id_number=number)
    assert (v["name"], v["phone"], v["region"]["code"], v["activities"], v["balance"],
            v["joined_on"], v["active"]) == ("刘海燕", "+8613806310099", KUNYU, ["meal", "visit"],
                                             0.0, "2025-03-01", True)
    assert v["id_number"] == number[:4] + "*" * 10 + number[-4:]
    assert await db.fetchval("SELECT id_number FROM volunteers") == number  # stored whole
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'volunteer.create'"
                             ) == 1
    await register(client, name="王建军", phone="13906310055", region_code=SECOND,
                   activities=[])
    for query, names in (("", ["刘海燕", "王建军"]), ("q=海燕", ["刘海燕"]),
                         ("q=139 0631 0055", ["王建军"]), (f"region={SECOND}", ["王建军"]),
                         ("active=false", [])):
        resp = await client.get(f"/api/v1/volunteers?{query}")
        body = await resp.json()
        assert resp.status == 200, body
        assert [i["name"] for i in body["items"]] == names, query
    resp = await client.get("/api/v1/volunteers?limit=1")
    body = await resp.json()
    assert len(body["items"]) == 1 and body["next_after"] == v["id"]
    resp = await client.get(f"/api/v1/volunteers/{v['id']}")
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["balance"], body["earned"], body["redeemed"], body["hours"], body["history"]) \
        == (0.0, 0.0, 0.0, 0.0, [])
    resp = await client.get("/api/v1/volunteers/activities")
    kinds = {a["code"]: a["points_per_hour"] for a in (await resp.json())["items"]}
    assert kinds["meal"] == 2.0 and kinds["visit"] == 1.0 and kinds["escort"] == 1.5


async def test_bad_registrations_name_each_field_and_write_nothing(vworld, client, db) -> None:
    await client.login("op.wendeng")
    bad_id = make_id_number("371003", dt.date(1978, 4, 2), 17)[:-1] + "0"
    if bad_id == make_id_number("371003", dt.date(1978, 4, 2), 17):
        bad_id = bad_id[:-1] + "1"
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"name": "", "phone": "12345", "region_code": KUNYU}, {"name", "phone"}),
        ({"name": "张三", "phone": "13806310001", "region_code": "371003001"}, {"region_code"}),
        ({"name": "张三", "phone": "13806310001", "region_code": NINGJIN}, {"region_code"}),
        ({"name": "张三", "phone": "13806310001", "region_code": "999999999999"},
         {"region_code"}),
        ({"name": "张三", "phone": "13806310001", "region_code": KUNYU, "id_number": bad_id,
          "activities": ["meal", "juggling"], "joined_on": "2099-01-01", "active": "yes",
          "colour": "red"},
         {"id_number", "activities", "joined_on", "active", "colour"}),
        ({"phone": "13806310001"}, {"name", "region_code"}),
    ]
    for body, fields in cases:
        resp = await client.post("/api/v1/volunteers", json=body)
        out = await resp.json()
        assert resp.status == 422, out
        assert out["error"] == "validation" and set(out["fields"]) == fields, (body, out)
    resp = await client.post("/api/v1/volunteers", data=b"[1",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert await counts(db) == (0, 0, 0)
    await register(client)
    resp = await client.post("/api/v1/volunteers", json={
        "name": "另一人", "phone": "13806310099", "region_code": KUNYU})
    out = await resp.json()
    assert resp.status == 409 and set(out["fields"]) == {"phone"}, out
    assert (await counts(db))[0] == 1


async def test_change_and_deactivate(vworld, client, db) -> None:
    await client.login("op.wendeng")
    v = await register(client)
    url = f"/api/v1/volunteers/{v['id']}"
    for body, fields in (({"id_number": "x", "joined_on": "2025-01-01"},
                          {"id_number", "joined_on"}),
                         ({"name": None, "region_code": NINGJIN}, {"name", "region_code"}),
                         ({"active": "no", "activities": ["x"]}, {"active", "activities"})):
        resp = await client.patch(url, json=body)
        out = await resp.json()
        assert resp.status == 422 and set(out["fields"]) == fields, (body, out)
    resp = await client.patch(url, json={"active": False, "region_code": SECOND,
                                         "activities": ["haircut"]})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["active"], body["region"]["code"], body["activities"], body["name"]) == \
        (False, SECOND, ["haircut"], "刘海燕")
    resp = await client.post(f"{url}/hours", json={"activity": "haircut",
                                                   "started_at": ago(hours=3), "minutes": 30})
    out = await resp.json()
    assert resp.status == 409 and set(out["fields"]) == {"volunteer"}, out
    assert await counts(db) == (1, 0, 0)
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'volunteer.update'"
                             ) == 1


async def test_log_hours_earns_points_at_the_activity_rate(vworld, client, db) -> None:
    await client.login("op.wendeng")
    v = await register(client)
    url = f"/api/v1/volunteers/{v['id']}/hours"
    resp = await client.post(url, json={"activity": "meal", "started_at": ago(hours=3),
                                        "minutes": 45, "elder_id": vworld["elder_wendeng"],
                                        "note": "送午餐"})
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["hours"]["points"], body["hours"]["points_per_hour"], body["balance"],
            body["ledger"]["kind"], body["ledger"]["balance_after"]) == (1.5, 2.0, 1.5, "earn",
                                                                        1.5)
    # a local time without an offset is Shanghai time
    local = (dt.datetime.now(SH) - dt.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    resp = await client.post(url, json={"activity": "visit", "started_at": local,
                                        "minutes": 20})
    body = await resp.json()
    assert resp.status == 201, body
    assert body["hours"]["points"] == 0.3 and body["balance"] == 1.8
    started = await db.fetchval("SELECT started_at FROM volunteer_hours WHERE minutes = 20")
    assert started.astimezone(SH).strftime("%Y-%m-%dT%H:%M") == local
    resp = await client.get(f"/api/v1/volunteers/{v['id']}")
    body = await resp.json()
    assert (body["balance"], body["earned"], body["minutes"], body["hours"]) == \
        (1.8, 1.8, 65, 1.1)
    assert [(r["kind"], r["activity_code"], r["elder_name"]) for r in body["history"]] == \
        [("earn", "visit", None), ("earn", "meal", "王秀英")]


async def test_bad_hours_are_refused_and_write_nothing(vworld, app_client, db) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    v = await register(op)
    url = f"/api/v1/volunteers/{v['id']}/hours"
    ok = {"activity": "visit", "started_at": ago(hours=5), "minutes": 60}
    cases: list[tuple[dict[str, Any], int, set[str]]] = [
        ({**ok, "minutes": 0}, 422, {"minutes"}),
        ({**ok, "minutes": 721}, 422, {"minutes"}),
        ({**ok, "minutes": "lots"}, 422, {"minutes"}),
        ({**ok, "minutes": True}, 422, {"minutes"}),
        ({**ok, "started_at": ago(minutes=30)}, 422, {"started_at"}),   # ends in the future
        ({**ok, "started_at": ago(days=-1)}, 422, {"started_at"}),
        ({**ok, "started_at": "yesterday"}, 422, {"started_at"}),
        ({**ok, "started_at": "2025-02-28T10:00+08:00"}, 422, {"started_at"}),  # before joining
        ({**ok, "activity": "juggling"}, 422, {"activity"}),
        ({**ok, "elder_id": 999999}, 422, {"elder_id"}),
        ({**ok, "elder_id": "x", "extra": 1}, 422, {"elder_id", "extra"}),
        ({"note": "x" * 501}, 422, {"activity", "started_at", "minutes", "note"}),
    ]
    for body, status, fields in cases:
        resp = await op.post(url, json=body)
        out = await resp.json()
        assert resp.status == status and set(out["fields"]) == fields, (body, out)
    # an elder the operator can see, but living outside the volunteer's district
    city = await app_client()
    await city.login("op.city")
    resp = await city.post(url, json={**ok, "elder_id": vworld["elder_rongcheng"]})
    out = await resp.json()
    assert resp.status == 422 and set(out["fields"]) == {"elder_id"}, out
    assert "district" in out["fields"]["elder_id"]
    assert await counts(db) == (1, 0, 0)
    resp = await op.post(url, json=ok)
    assert resp.status == 201, await resp.text()
    resp = await op.post(url, json={**ok, "started_at": ago(hours=4, minutes=30)})  # overlaps
    out = await resp.json()
    assert resp.status == 409 and set(out["fields"]) == {"started_at"}, out
    assert await counts(db) == (1, 1, 1)


async def test_redemptions_never_overdraw(vworld, client, db) -> None:
    await client.login("op.wendeng")
    v = await register(client)
    await client.post(f"/api/v1/volunteers/{v['id']}/hours",
                      json={"activity": "meal", "started_at": ago(hours=3), "minutes": 60})
    url = f"/api/v1/volunteers/{v['id']}/redemptions"
    for body, status, fields in (({"points": 2.1, "reason": "理发"}, 409, {"points"}),
                                 ({"points": 0.05, "reason": "理发"}, 422, {"points"}),
                                 ({"points": -1, "reason": "理发"}, 422, {"points"}),
                                 ({"points": "NaN", "reason": "理发"}, 422, {"points"}),
                                 ({"points": 1}, 422, {"reason"}),
                                 ({"points": 1, "reason": "  "}, 422, {"reason"})):
        resp = await client.post(url, json=body)
        out = await resp.json()
        assert resp.status == status and set(out["fields"]) == fields, (body, out)
    assert await counts(db) == (1, 1, 1)
    resp = await client.post(url, json={"points": 1.5, "reason": "兑换理发（母亲）"})
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["balance"], body["ledger"]["points"], body["ledger"]["kind"]) == \
        (0.5, -1.5, "redeem")
    resp = await client.get(f"/api/v1/volunteers/{v['id']}")
    body = await resp.json()
    assert (body["balance"], body["earned"], body["redeemed"]) == (0.5, 2.0, 1.5)
    assert body["history"][0]["reason"] == "兑换理发（母亲）"
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'volunteer.redeem'"
                             ) == 1


async def test_two_redemptions_at_once_cannot_overdraw(vworld, app_client, db) -> None:
    a, b = await app_client(), await app_client()
    await a.login("op.wendeng")
    await b.login("sup.wendeng")
    v = await register(a)
    await a.post(f"/api/v1/volunteers/{v['id']}/hours",
                 json={"activity": "meal", "started_at": ago(hours=3), "minutes": 60})
    url = f"/api/v1/volunteers/{v['id']}/redemptions"
    answers = await asyncio.gather(*(c.post(url, json={"points": 1.5, "reason": "兑换"})
                                     for c in (a, b)))
    assert sorted(r.status for r in answers) == [201, 409]
    assert await db.fetchval("SELECT sum(points) FROM time_bank_ledger") == 0.5


async def test_the_database_refuses_an_overdraft_without_the_app(vworld, db, db_url) -> None:
    """Two transactions each redeem 1.5 of 2.0 directly in SQL: the ledger's trigger locks the
    volunteer, so the second sees the first and its row fails the balance CHECK."""
    vid = await db.fetchval("INSERT INTO volunteers (name, phone, region_code, joined_on)"
                            " VALUES ('赵敏', '+8613806310077', $1, '2025-01-01') RETURNING id",
                            KUNYU)
    hid = await db.fetchval(
        "INSERT INTO volunteer_hours (volunteer_id, activity_code, started_at, minutes,"
        " points_per_hour, points) VALUES ($1, 'meal', now() - interval '3 hours', 60, 2, 2)"
        " RETURNING id", vid)
    await db.execute("INSERT INTO time_bank_ledger (volunteer_id, kind, hours_id, points,"
                     " balance_after) VALUES ($1, 'earn', $2, 2, 0)", vid, hid)
    other = await asyncpg.connect(db_url)
    redeem = ("INSERT INTO time_bank_ledger (volunteer_id, kind, points, balance_after, reason)"
              " VALUES ($1, 'redeem', -1.5, 0, '兑换')")
    try:
        first = db.transaction()
        await first.start()
        await db.execute(redeem, vid)
        second = asyncio.create_task(other.execute(redeem, vid))
        await asyncio.sleep(0.2)
        assert not second.done()  # waiting for the volunteer's row
        await first.commit()
        with pytest.raises(asyncpg.CheckViolationError):
            await second
    finally:
        await other.close()
    assert await db.fetchval("SELECT sum(points) FROM time_bank_ledger") == 0.5
    assert await db.fetchval("SELECT balance_after FROM time_bank_ledger WHERE kind = 'redeem'"
                             ) == 0.5


async def test_the_logs_are_append_only(vworld, client, db) -> None:
    await client.login("op.wendeng")
    v = await register(client)
    await client.post(f"/api/v1/volunteers/{v['id']}/hours",
                      json={"activity": "visit", "started_at": ago(hours=3), "minutes": 60})
    for table in ("volunteer_hours", "time_bank_ledger"):
        for sql in (f"UPDATE {table} SET points = 99", f"DELETE FROM {table}",
                    f"TRUNCATE {table} CASCADE"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await db.execute(sql)
    assert await counts(db) == (1, 1, 1)
    with pytest.raises(asyncpg.CheckViolationError):  # a redemption without a reason
        await db.execute("INSERT INTO time_bank_ledger (volunteer_id, kind, points,"
                         " balance_after) VALUES ($1, 'redeem', -0.5, 0)", v["id"])


async def test_region_scoping(vworld, app_client, db) -> None:
    wendeng = await app_client()
    await wendeng.login("op.wendeng")
    v = await register(wendeng)
    rong = await app_client()
    await rong.login("op.rongcheng")
    await register(rong, name="孙丽", phone="13906310011", region_code=NINGJIN)
    resp = await rong.get("/api/v1/volunteers")
    assert [i["name"] for i in (await resp.json())["items"]] == ["孙丽"]
    for method, url, body in (("get", f"/api/v1/volunteers/{v['id']}", None),
                              ("post", f"/api/v1/volunteers/{v['id']}/hours",
                               {"activity": "visit", "started_at": ago(hours=3),
                                "minutes": 30}),
                              ("post", f"/api/v1/volunteers/{v['id']}/redemptions",
                               {"points": 1, "reason": "x"})):
        resp = await getattr(rong, method)(url, json=body) if body else await rong.get(url)
        assert resp.status == 404, await resp.text()
    for url in ("/api/v1/volunteers?region=371003", "/api/v1/volunteers/report?region=371003"):
        resp = await rong.get(url)
        assert resp.status == 403, await resp.text()
    pa = await app_client()
    await pa.login("pa.001")
    for url in ("/api/v1/volunteers", f"/api/v1/volunteers/{v['id']}", "/volunteers"):
        resp = await pa.get(url)
        assert resp.status == 403, await resp.text()
    city = await app_client()
    await city.login("op.city")
    resp = await city.get("/api/v1/volunteers")
    assert len((await resp.json())["items"]) == 2
    assert await counts(db) == (2, 0, 0)


async def _crafted_october(db: asyncpg.Connection, elders: dict[str, int]) -> dict[str, int]:
    """Three volunteers and their October 2026 (Shanghai), with rows just outside the month."""
    ids = {}
    for key, name, phone, region, joined, active in (
            ("a", "甲", "+8613806310001", KUNYU, "2026-01-01", True),
            ("b", "乙", "+8613806310002", KUNYU, "2026-10-15", True),
            ("c", "丙", "+8613806310003", SECOND, "2026-01-01", True),
            ("late", "丁", "+8613806310004", SECOND, "2026-11-02", True),     # joined after
            ("gone", "戊", "+8613806310005", SECOND, "2026-01-01", False)):   # inactive
        ids[key] = await db.fetchval(
            "INSERT INTO volunteers (name, phone, region_code, joined_on, active) VALUES ($1, $2,"
            " $3, $4, $5) RETURNING id", name, phone, region, dt.date.fromisoformat(joined),
            active)
    e1 = elders["elder_wendeng"]
    e2 = await factories.elder(db, "李桂兰", SECOND, 301)
    rows = [  # volunteer, elder, activity, Shanghai start, minutes, points
        ("a", e1, "meal", "2026-10-01 00:00", 60, "2.0"),
        ("a", e2, "visit", "2026-10-31 23:30", 30, "0.5"),     # last half hour of October
        ("b", e1, "visit", "2026-10-20 09:00", 45, "0.8"),
        ("c", e1, "haircut", "2026-10-05 15:00", 40, "0.7"),   # elder 1 again, other community
        ("c", None, "company", "2026-10-06 15:00", 120, "2.0"),
        ("a", e1, "meal", "2026-09-30 23:30", 60, "2.0"),      # September: outside
        ("c", e2, "visit", "2026-11-01 00:00", 60, "1.0"),     # November: outside
    ]
    for key, elder, activity, start, minutes, points in rows:
        at = dt.datetime.fromisoformat(start).replace(tzinfo=SH)
        hid = await db.fetchval(
            "INSERT INTO volunteer_hours (volunteer_id, elder_id, activity_code, started_at,"
            " minutes, points_per_hour, points) VALUES ($1, $2, $3, $4, $5, 1, $6::numeric)"
            " RETURNING id", ids[key], elder, activity, at, minutes, points)
        await db.execute("INSERT INTO time_bank_ledger (volunteer_id, kind, hours_id, points,"
                         " balance_after) VALUES ($1, 'earn', $2, $3::numeric, 0)",
                         ids[key], hid, points)
    for key, points, at in (("a", "1.5", "2026-10-10 12:00"), ("c", "0.5", "2026-10-31 23:59"),
                            ("a", "0.5", "2026-11-01 00:01")):
        await db.execute(
            "INSERT INTO time_bank_ledger (volunteer_id, kind, points, balance_after, reason,"
            " created_at) VALUES ($1, 'redeem', -$2::numeric, 0, '兑换', $3)", ids[key], points,
            dt.datetime.fromisoformat(at).replace(tzinfo=SH))
    return ids


async def test_the_monthly_report_on_a_crafted_month(vworld, client, db) -> None:
    await _crafted_october(db, vworld)
    await client.login("op.wendeng")
    resp = await client.get("/api/v1/volunteers/report?month=2026-10&region=371003")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["period"]["label"] == "2026-10" and body["region"]["code"] == "371003"
    per = {c["code"]: c for c in body["communities"]}
    assert list(per) == [KUNYU, SECOND]
    assert {k: per[KUNYU][k] for k in ("volunteers", "active_volunteers", "logs", "minutes",
                                       "hours", "points_earned", "points_redeemed",
                                       "elders_helped")} == {
        "volunteers": 2, "active_volunteers": 2, "logs": 3, "minutes": 135, "hours": 2.3,
        "points_earned": 3.3, "points_redeemed": 1.5, "elders_helped": 2}
    assert {k: per[SECOND][k] for k in ("volunteers", "active_volunteers", "logs", "minutes",
                                        "points_earned", "points_redeemed",
                                        "elders_helped")} == {
        "volunteers": 1, "active_volunteers": 1, "logs": 2, "minutes": 160,
        "points_earned": 2.7, "points_redeemed": 0.5, "elders_helped": 1}
    assert body["totals"] == {"volunteers": 3, "active_volunteers": 3, "logs": 5,
                              "minutes": 295, "hours": 4.9, "points_earned": 6.0,
                              "points_redeemed": 2.0, "elders_helped": 2}
    kinds = {a["code"]: (a["logs"], a["minutes"]) for a in body["by_activity"]}
    assert kinds == {"meal": (1, 60), "visit": (2, 75), "haircut": (1, 40),
                     "company": (1, 120)}
    # the town's report has the same communities; a month with nothing has zero rows
    resp = await client.get("/api/v1/volunteers/report?month=2026-08&region=371003001")
    body = await resp.json()
    assert resp.status == 200 and body["totals"]["logs"] == 0 and len(body["communities"]) == 2
    for bad, field in (("month=2026-13", "month"), ("month=2999-01", "month"),
                       ("format=pdf", "format"), ("region=12", "region")):
        resp = await client.get(f"/api/v1/volunteers/report?{bad}")
        out = await resp.json()
        assert resp.status == 422 and field in out["fields"], out


async def test_the_report_as_csv_and_xlsx(vworld, client, db) -> None:
    await _crafted_october(db, vworld)
    await client.login("op.wendeng")
    base = "/api/v1/volunteers/report?month=2026-10&region=371003"
    resp = await client.get(base + "&format=csv")
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "anxin-volunteers-371003-2026-10.csv" in resp.headers["Content-Disposition"]
    text = await resp.text()
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["文登区 志愿服务月报 2026-10"]
    assert rows[2] == ["各社区"]
    assert rows[3][:3] == ["社区/村", "代码", "在册志愿者"]
    assert rows[4] == ["昆嵛社区", KUNYU, "2", "2", "3", "2.3", "3.3", "1.5", "2"]
    assert rows[5] == ["峰山社区", SECOND, "1", "1", "2", "2.7", "2.7", "0.5", "1"]
    assert rows[6] == ["合计", "371003", "3", "3", "5", "4.9", "6.0", "2.0", "2"]
    resp = await client.get(base + "&format=xlsx&lang=en")
    assert resp.status == 200, await resp.text()
    book = load_workbook(io.BytesIO(await resp.read()))
    assert book.sheetnames == ["By community", "By activity"]
    sheet = [list(r) for r in book["By community"].iter_rows(values_only=True)]
    assert sheet[0][0] == "文登区 Volunteer monthly report 2026-10"  # the world has no name_en
    assert sheet[1][:3] == ["Community", "Code", "Volunteers"]
    assert sheet[-1] == ["Total", "371003", 3, 3, 5, 4.9, 6.0, 2.0, 2]
    kinds = {r[1]: r for r in book["By activity"].iter_rows(min_row=3, values_only=True)}
    assert kinds["company"] == ("Companionship", "company", 1.0, 1, 2.0, 2.0)


async def test_the_page_renders_for_staff(vworld, client) -> None:
    await client.login("sup.wendeng")
    resp = await client.get("/volunteers")
    text = await resp.text()
    assert resp.status == 200, text
    assert 'id="volunteers-config"' in text and "昆嵛社区" in text and "style=" not in text


async def test_the_demo_seed_writes_volunteers_with_months_of_help(db) -> None:
    await seed_city(db, elders=300, seed=7)
    n, communities = await db.fetchrow("SELECT count(*), count(DISTINCT region_code)"
                                       " FROM volunteers")
    assert n == 100 and communities > 20
    months = await db.fetchval(
        "SELECT count(DISTINCT date_trunc('month', started_at AT TIME ZONE 'Asia/Shanghai'))"
        " FROM volunteer_hours")
    assert months >= 3
    # every logged stretch has its earn row; no balance below zero; elders in the district
    assert await db.fetchval("SELECT count(*) FROM volunteer_hours") == await db.fetchval(
        "SELECT count(*) FROM time_bank_ledger WHERE kind = 'earn'")
    assert await db.fetchval("SELECT min(balance_after) FROM time_bank_ledger") >= 0
    assert await db.fetchval(
        "SELECT count(*) FROM volunteer_hours h JOIN volunteers v ON v.id = h.volunteer_id"
        " JOIN regions rv ON rv.code = v.region_code JOIN elders e ON e.id = h.elder_id"
        " JOIN regions re ON re.code = e.region_code"
        " WHERE split_part(rv.path, '.', 2) <> split_part(re.path, '.', 2)") == 0
    assert await db.fetchval("SELECT count(*) FROM time_bank_ledger WHERE kind = 'redeem'") > 0
