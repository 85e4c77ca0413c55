"""The settlement and subsidy-approval API against real PostgreSQL and Redis: the over-budget 409
and its confirmation (plans not blocked), an operator's approval of extra minutes (bounds, scope,
audit, 409 once completed) used by the real check-out, the month's summary, a provider's statement
as JSON, XLSX (totals equal the JSON's) and printable HTML, scoping by region and provider, bad
months, and closing a month."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import asyncpg
import openpyxl

from callcenter import settlement_rules as srules
from callcenter import subsidy
from callcenter import subsidy_rules as rules
from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_settlement import check_out, completed
from tests.test_subsidy import grant

NOW = dt.datetime.now(dt.UTC)
THIS = rules.month_of(NOW)
LAST = srules.previous_month(THIS)


async def logged_in(app_client: Any, username: str) -> Any:
    c = await app_client()
    await c.login(username)
    return c


async def test_over_budget_asks_before_the_order_exists(app_client, dworld, db) -> None:
    elder = dworld["elder_wendeng"]
    await grant(db, elder)
    async with db.transaction():
        await subsidy.correct(db, elder, THIS, 1790, "补记本月服务", dworld["admin"])
    op = await logged_in(app_client, "op.wendeng")
    body = {"elder_id": elder, "item_code": "BA001"}
    resp = await op.post("/api/v1/orders", json=body)
    got = await resp.json()
    assert resp.status == 409, got
    assert {k: got[k] for k in ("error", "left_min", "needed_min", "self_paid_min",
                                "self_paid_cents")} == \
        {"error": "over_budget", "left_min": 10, "needed_min": 60, "self_paid_min": 50,
         "self_paid_cents": 6667}  # 50/60 of ¥80
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    resp = await op.post("/api/v1/orders", json={**body, "self_pay_confirmed": "yes"})
    assert resp.status == 422 and "self_pay_confirmed" in (await resp.json())["fields"]
    resp = await op.post("/api/v1/orders", json={**body, "self_pay_confirmed": True})
    card = await resp.json()
    assert resp.status == 201, card
    detail = await (await op.get(f"/api/v1/orders/{card['id']}")).json()
    [agreed] = [e for e in detail["timeline"] if e["event"] == "self_pay_confirmed"]
    assert agreed["detail"]["self_paid_min"] == 50 and agreed["actor_name"] == "op.wendeng"
    resp = await op.post("/api/v1/orders", json={"elder_id": elder, "item_code": "ME001"})
    got = await resp.json()
    assert resp.status == 409 and (got["self_paid_min"], got["self_paid_cents"]) == (10, 750)
    # EM001 is not subsidised: no question asked
    resp = await op.post("/api/v1/orders", json={"elder_id": elder, "item_code": "EM001"})
    assert resp.status == 201, await resp.text()
    # the elder in 荣成 has no programme: nothing to tell
    city = await logged_in(app_client, "op.city")
    resp = await city.post("/api/v1/orders", json={"elder_id": dworld["elder_rongcheng"],
                                                   "item_code": "BA001"})
    assert resp.status == 201, await resp.text()
    # a plan's orders are not blocked: the plan was agreed once, its visits come as scheduled
    resp = await op.post("/api/v1/plans", json={"elder_id": elder, "item_code": "BA001",
                                                "weekdays": [1, 2, 3, 4, 5, 6, 7],
                                                "start_time": "09:00", "end_time": "11:00"})
    plan = await resp.json()
    assert resp.status == 201 and plan["orders_created"] > 0, plan


async def test_approved_minutes(app_client, dworld, db, pool, rds, settings, clock,
                                worker) -> None:
    elder = dworld["elder_wendeng"]
    await grant(db, elder)
    op = await logged_in(app_client, "op.wendeng")
    resp = await op.post("/api/v1/orders", json={"elder_id": elder, "item_code": "BA001"})
    order_id = (await resp.json())["id"]
    url = f"/api/v1/orders/{order_id}/approved-minutes"
    for bad, fields in (({"minutes": 60, "reason": "久"}, {"minutes"}),
                        ({"minutes": 181, "reason": "久"}, {"minutes"}),
                        ({"minutes": 90}, {"reason"}),
                        ({"minutes": "90", "reason": " ", "x": 1}, {"minutes", "reason", "x"})):
        resp = await op.post(url, json=bad)
        got = await resp.json()
        assert resp.status == 422 and set(got["fields"]) == fields, (bad, got)
    other = await logged_in(app_client, "op.rongcheng")
    resp = await other.post(url, json={"minutes": 90, "reason": "老人行动不便"})
    assert resp.status == 404, await resp.text()
    pa = await logged_in(app_client, "pa.001")
    resp = await pa.post(url, json={"minutes": 90, "reason": "老人行动不便"})
    assert resp.status == 403, await resp.text()
    resp = await op.post(url, json={"minutes": 90, "reason": "老人行动不便，助浴需更长时间"})
    got = await resp.json()
    assert resp.status == 200 and got["approved_minutes"] == 90, got
    assert await db.fetchval("SELECT approved_minutes FROM orders WHERE id = $1", order_id) == 90
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                             " 'order.approve_minutes' AND entity_id = $1", str(order_id)) == 1
    detail = await (await op.get(f"/api/v1/orders/{order_id}")).json()
    [ev] = [e for e in detail["timeline"] if e["event"] == "approve_minutes"]
    assert ev["detail"]["reason"] == "老人行动不便，助浴需更长时间" and ev["detail"]["minutes"] == 90

    # the real check-out debits up to the approval
    await check_out(dworld, pool, rds, settings, clock, worker, order_id, 120 * 60)
    assert await db.fetchval("SELECT minutes FROM subsidy_ledger WHERE order_id = $1",
                             order_id) == 90
    resp = await op.post(url, json={"minutes": 120, "reason": "补批"})
    got = await resp.json()
    assert resp.status == 409 and "correct" in got["message"], got


async def last_month(db: asyncpg.Connection, dworld: dict[str, Any]) -> list[int]:
    """Four completed orders last month: three by provider 1 (one in 荣成), one by provider 2;
    each debited as its check-out would."""
    await grant(db, dworld["elder_wendeng"])
    await grant(db, dworld["elder_rongcheng"], "tekun")
    start, _ = rules.month_bounds(LAST)
    ids = [await completed(db, dworld, start + dt.timedelta(days=3, hours=2), on_site_min=45),
           await completed(db, dworld, start + dt.timedelta(days=9, hours=3), on_site_min=75,
                           staff="staff2"),
           await completed(db, dworld, start + dt.timedelta(days=5), on_site_min=30,
                           elder="elder_rongcheng"),
           await completed(db, dworld, start + dt.timedelta(days=6), on_site_min=50,
                           item="EM001", staff="staff3")]
    async with db.transaction():
        for order_id in ids:
            await subsidy.debit_order(db, order_id, NOW)
    return ids


async def test_summary_statement_xlsx_and_html(app_client, dworld, db) -> None:
    ids = await last_month(db, dworld)
    sup = await logged_in(app_client, "supervisor")
    resp = await sup.get("/api/v1/settlements")  # default: last month
    got = await resp.json()
    assert resp.status == 200, got
    assert (got["month"], got["closed"], got["can_close"]) == (LAST.strftime("%Y-%m"), False,
                                                               True)
    p1, p2 = got["providers"]
    assert (p1["provider_id"], p1["orders"], p1["checked_min"], p1["subsidised_min"],
            p1["self_paid_min"], p1["subsidised_cents"]) == \
        (dworld["provider"], 3, 135, 135, 0, 1875 + 2500 + 1250)  # 45 + 60 (capped) + 30
    assert (p2["orders"], p2["subsidised_min"], p2["self_paid_min"], p2["self_paid_cents"]) == \
        (1, 0, 50, 0)  # EM001: not subsidised, free of charge
    ledger = await db.fetchval("SELECT sum(amount_cents) FROM subsidy_ledger WHERE month = $1",
                               LAST)
    assert got["totals"]["subsidised_cents"] == ledger == 5625
    assert got["totals"]["orders"] == 4

    month = LAST.strftime("%Y-%m")
    resp = await sup.get(f"/api/v1/settlements/{dworld['provider']}?month={month}")
    st = await resp.json()
    assert resp.status == 200, st
    assert sorted(x["order_id"] for x in st["lines"]) == sorted(ids[:3])
    line = next(x for x in st["lines"] if x["order_id"] == ids[0])
    assert line["elder"]["id_number"].count("*") == 10 and line["staff_name"] == "张师傅"
    assert line["checkin_distance_m"] == 35 and line["programme"]["code"] == "dibao"
    assert {g["code"]: g["subsidised_cents"] for g in st["programmes"]} == \
        {"dibao": 4375, "tekun": 1250}
    assert st["totals"] == {k: p1[k] for k in srules.FIGURES}

    resp = await sup.get(f"/api/v1/settlements/{dworld['provider']}.xlsx?month={month}")
    assert resp.status == 200 and "spreadsheetml" in resp.headers["Content-Type"]
    wb = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    sheet = wb.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    total = rows[-1]
    assert total[0] == "合计" and len(rows) == 2 + 3 + 1
    assert total[10:15] == (135, 135, 0, 56.25, 0)
    by_prog = list(wb.worksheets[1].iter_rows(values_only=True))
    assert by_prog[-1][2:] == (3, 135, 135, 0, 56.25, 0)
    en = await sup.get(f"/api/v1/settlements/{dworld['provider']}.xlsx?month={month}&lang=en")
    assert openpyxl.load_workbook(io.BytesIO(await en.read())).worksheets[0].title == \
        "Statement"

    resp = await sup.get(f"/api/v1/settlements/{dworld['provider']}.html?month={month}")
    html = await resp.text()
    assert resp.status == 200 and "text/html" in resp.headers["Content-Type"]
    assert 'id="total-subsidised">56.25<' in html and 'id="total-orders">3<' in html
    assert "settlement_print.css" in html and "style=" not in html
    assert "民政部门审核" in html and "3710**********" in html


async def test_scoping_and_bad_months(app_client, dworld, db) -> None:
    await last_month(db, dworld)
    month = LAST.strftime("%Y-%m")
    pa = await logged_in(app_client, "pa.001")
    got = await (await pa.get(f"/api/v1/settlements?month={month}")).json()
    assert [p["provider_id"] for p in got["providers"]] == [dworld["provider"]]
    assert got["totals"]["orders"] == 3 and "corrections" not in got and not got["can_close"]
    for suffix in ("", ".xlsx", ".html"):
        resp = await pa.get(f"/api/v1/settlements/{dworld['provider2']}{suffix}?month={month}")
        assert resp.status == 404, (suffix, await resp.text())
    resp = await pa.get(f"/api/v1/settlements/{dworld['provider']}?month={month}")
    assert resp.status == 200
    assert (await pa.get(f"/settlement?month={month}")).status == 200
    page = await (await pa.get("/settlement?month=2026-13")).text()
    assert "month" in page
    # a district supervisor settles what was done in their district only
    sup = await logged_in(app_client, "sup.wendeng")
    got = await (await sup.get(f"/api/v1/settlements?month={month}")).json()
    assert (got["totals"]["orders"], got["totals"]["subsidised_cents"]) == (3, 1875 + 2500)
    assert not got["can_close"]  # the 荣成 visit is not theirs
    # the dashboard of a district asks for that district: the same figures, checked the same way
    admin = await logged_in(app_client, "admin")
    part = await (await admin.get(f"/api/v1/settlements?month={month}&region=371003")).json()
    assert part["totals"] == got["totals"]
    assert (await sup.get(f"/api/v1/settlements?month={month}&region=371082")).status == 403
    bad = await sup.get(f"/api/v1/settlements?month={month}&region=37x")
    assert bad.status == 422 and "region" in (await bad.json())["fields"]
    for who in ("op.wendeng", "ps.001"):
        c = await logged_in(app_client, who)
        assert (await c.get("/api/v1/settlements")).status == 403
        assert (await c.get(f"/api/v1/settlements/{dworld['provider']}")).status == 403
        assert (await c.get("/settlement")).status == 403
    nxt = srules.next_month(THIS).strftime("%Y-%m")
    for bad in ("2026-13", "26-11", "x", "", nxt):
        resp = await pa.get("/api/v1/settlements", params={"month": bad})
        body = await resp.json()
        assert resp.status == 422 and body["error"] == "validation" and "month" in \
            body["fields"], (bad, body)
        resp = await pa.get(f"/api/v1/settlements/{dworld['provider']}.xlsx",
                            params={"month": bad})
        assert resp.status == 422, bad
    assert (await pa.get("/api/v1/settlements/99999?month=" + month)).status == 404
    admin = await logged_in(app_client, "admin")
    assert (await admin.get("/api/v1/settlements/99999?month=" + month)).status == 404


async def test_closing_a_month(app_client, dworld, db) -> None:
    ids = await last_month(db, dworld)
    month = LAST.strftime("%Y-%m")
    for who in ("sup.wendeng", "op.city", "pa.001"):
        c = await logged_in(app_client, who)
        resp = await c.post("/api/v1/settlements/close", json={"month": month})
        assert resp.status == 403, (who, await resp.text())
    sup = await logged_in(app_client, "supervisor")
    for bad in ({"month": THIS.strftime("%Y-%m")}, {"month": "2026-13"}, {}, {"month": month,
                                                                              "x": 1}):
        resp = await sup.post("/api/v1/settlements/close", json=bad)
        assert resp.status == 422, (bad, await resp.text())
    resp = await sup.post("/api/v1/settlements/close", json={"month": month})
    got = await resp.json()
    assert resp.status == 201 and got["closed"], got
    resp = await sup.post("/api/v1/settlements/close", json={"month": month})
    assert resp.status == 409, await resp.text()
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                             " 'settlement.close'") == 1
    summary = await (await sup.get(f"/api/v1/settlements?month={month}")).json()
    assert summary["closed"] and summary["closed_by_name"] == "supervisor"
    # a correction to the closed month is booked to this month, saying so
    resp = await sup.post(f"/api/v1/elders/{dworld['elder_wendeng']}/subsidy/corrections",
                          json={"month": month, "minutes": 15, "reason": "漏记一刻钟"})
    body = await resp.json()
    assert resp.status == 201, body
    assert body["month"] == THIS.strftime("%Y-%m") and month in body["correction"]["reason"]
    # nothing of the closed month changed
    after = await (await sup.get(f"/api/v1/settlements?month={month}")).json()
    assert after["totals"] == summary["totals"] and len(ids) == 4
