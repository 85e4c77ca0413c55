"""Follow-up calls against real PostgreSQL and Redis: the check-out's transaction creates a task
for sampled orders; an operator's answer reviews the order; unreachable tries are retried, then
closed; the SMS/IVR gateway needs its bearer token; everything is region-scoped."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from callcenter import followup
from callcenter.settings import Settings
from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_subsidy import visit

TOKEN = "ivr-test-token-0123456789"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(followup_token=TOKEN)


async def completed_order(db: asyncpg.Connection, w: dict[str, Any], at: dt.datetime, *,
                          late_min: int | None = None, state: str = "completed",
                          staff: str = "staff", elder: str = "elder_wendeng") -> int:
    """An order as the dispatch path leaves it at `at`: accepted, checked in (on time, or
    `late_min` after the window's end) and out; or failed."""
    start, end = at - dt.timedelta(hours=3), at - dt.timedelta(hours=1)
    checked_in = None if state == "failed" else (
        start + dt.timedelta(minutes=20) if late_min is None
        else end + dt.timedelta(minutes=late_min))
    return await db.fetchval(
        "INSERT INTO orders (elder_id, item_code, kind, state, region_code, window_start,"
        " window_end, staff_id, provider_id, accepted_at, checked_in_at, checked_out_at,"
        " created_at, updated_at) SELECT e.id, 'BA001', 'service', $3, e.region_code, $4, $5,"
        " s.id, s.provider_id, $6, $7, $8, $6, $9 FROM elders e, staff s"
        " WHERE e.id = $1 AND s.id = $2 RETURNING id", w[elder], w[staff], state, start, end,
        start - dt.timedelta(hours=1), checked_in, None if state == "failed" else at, at)


async def task_for(db: asyncpg.Connection, w: dict[str, Any], at: dt.datetime) -> int:
    await db.execute("UPDATE providers SET followup_rate = 1 WHERE id = $1", w["provider"])
    order_id = await completed_order(db, w, at)
    async with db.transaction():
        task_id = await followup.on_completed(db, order_id, at)
    assert task_id is not None
    return task_id


async def test_check_out_creates_a_followup_for_sampled_orders(dworld, db, pool, rds, settings,
                                                               clock, worker) -> None:
    await db.execute("UPDATE providers SET followup_rate = 1 WHERE id = $1", dworld["provider"])
    picked = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=1800)
    row = await db.fetchrow("SELECT * FROM followups WHERE order_id = $1", picked)
    assert row is not None and (row["state"], row["attempts"]) == ("open", 0)
    assert row["provider_id"] == dworld["provider"] and row["elder_id"] == dworld["elder_wendeng"]
    out_at = await db.fetchval("SELECT checked_out_at FROM orders WHERE id = $1", picked)
    assert row["created_at"] == out_at  # written in the check-out's own transaction
    await db.execute("UPDATE providers SET followup_rate = 0 WHERE id = $1", dworld["provider"])
    skipped = await visit(dworld, pool, rds, settings, clock, worker, on_site_s=1800)
    assert await db.fetchval("SELECT count(*) FROM followups WHERE order_id = $1", skipped) == 0


async def test_operator_records_an_answer_and_the_order_is_reviewed(dworld, db, client) -> None:
    now = dt.datetime.now(dt.UTC)
    task_id = await task_for(db, dworld, now - dt.timedelta(minutes=5))
    await client.login("op.wendeng")
    resp = await client.get("/api/v1/followups")
    body = await resp.json()
    assert resp.status == 200, body
    [item] = body["items"]
    assert (item["id"], item["due"], item["elder"]["name"], item["staff_name"],
            item["item"]["code"]) == (task_id, True, "王秀英", "张师傅", "BA001")
    assert body["counts"]["open"] == 1 and body["counts"]["due"] == 1
    resp = await client.post(f"/api/v1/followups/{task_id}/record",
                             json={"satisfaction": 4, "comment": "师傅很细心"})
    out = await resp.json()
    assert resp.status == 200, out
    assert (out["state"], out["satisfaction"], out["order_state"], out["suggest_complaint"]) == \
        ("answered", 4, "reviewed", False)
    row = await db.fetchrow("SELECT * FROM followups WHERE id = $1", task_id)
    assert (row["channel"], row["comment"], row["attempts"]) == ("operator", "师傅很细心", 1)
    order_id = row["order_id"]
    assert await db.fetchval("SELECT state FROM orders WHERE id = $1", order_id) == "reviewed"
    ev = await db.fetchrow("SELECT * FROM events WHERE entity_type = 'order' AND entity_id = $1"
                           " ORDER BY id DESC LIMIT 1", order_id)
    assert (ev["from_state"], ev["to_state"]) == ("completed", "reviewed")
    resp = await client.post(f"/api/v1/followups/{task_id}/record", json={"satisfaction": 5})
    assert resp.status == 409, await resp.text()
    assert (await (await client.get("/api/v1/followups")).json())["items"] == []


async def test_low_satisfaction_suggests_a_complaint(dworld, db, client) -> None:
    task_id = await task_for(db, dworld, dt.datetime.now(dt.UTC))
    await client.login("op.wendeng")
    resp = await client.post(f"/api/v1/followups/{task_id}/record",
                             json={"satisfaction": 2, "comment": "迟到一小时"})
    out = await resp.json()
    assert resp.status == 200, out
    assert out["suggest_complaint"] is True


async def test_unreachable_is_retried_then_closed(dworld, db, client) -> None:
    task_id = await task_for(db, dworld, dt.datetime.now(dt.UTC))
    await client.login("op.wendeng")
    seen = []
    for _ in range(3):
        before = dt.datetime.now(dt.UTC)
        resp = await client.post(f"/api/v1/followups/{task_id}/record",
                                 json={"unreachable": True})
        out = await resp.json()
        assert resp.status == 200, out
        seen.append((out["state"], out["attempts"]))
        if out["state"] == "open":
            wait = dt.datetime.fromisoformat(out["next_attempt_at"]) - before
            assert dt.timedelta(hours=2 * out["attempts"]) <= wait \
                < dt.timedelta(hours=2 * out["attempts"], minutes=1)
            listed = (await (await client.get("/api/v1/followups")).json())["items"]
            assert [(i["id"], i["due"]) for i in listed] == [(task_id, False)]
    assert seen == [("open", 1), ("open", 2), ("unreachable", 3)]
    row = await db.fetchrow("SELECT f.state, o.state AS order_state FROM followups f"
                            " JOIN orders o ON o.id = f.order_id WHERE f.id = $1", task_id)
    assert (row["state"], row["order_state"]) == ("unreachable", "completed")
    resp = await client.post(f"/api/v1/followups/{task_id}/record", json={"unreachable": True})
    assert resp.status == 409, await resp.text()


async def test_ivr_gateway_needs_its_token(dworld, db, client) -> None:
    task_id = await task_for(db, dworld, dt.datetime.now(dt.UTC))
    url = f"/api/v1/followups/{task_id}/answer"
    resp = await client.http.post(url, json={"satisfaction": 5, "channel": "ivr"})
    assert resp.status == 401, await resp.text()
    resp = await client.http.post(url, json={"satisfaction": 5, "channel": "ivr"},
                                  headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401, await resp.text()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = await client.http.post(url, json={"satisfaction": 5, "channel": "operator"},
                                  headers=auth)
    assert resp.status == 422 and "channel" in (await resp.json())["fields"]
    resp = await client.http.post(url, json={"satisfaction": 5, "channel": "ivr"}, headers=auth)
    out = await resp.json()
    assert resp.status == 200, out
    assert (out["state"], out["order_state"]) == ("answered", "reviewed")
    row = await db.fetchrow("SELECT channel, answered_by FROM followups WHERE id = $1", task_id)
    assert (row["channel"], row["answered_by"]) == ("ivr", None)


@pytest.mark.parametrize(("body", "field"), [
    ({"satisfaction": 6}, "satisfaction"),
    ({"satisfaction": True}, "satisfaction"),
    ({}, "satisfaction"),
    ({"unreachable": True, "satisfaction": 3}, "satisfaction"),
    ({"satisfaction": 3, "comment": "长" * 501}, "comment"),
    ({"satisfaction": 3, "stars": 3}, "stars"),
])
async def test_bad_answers_are_422(dworld, db, client, body: dict[str, Any], field: str) -> None:
    task_id = await task_for(db, dworld, dt.datetime.now(dt.UTC))
    await client.login("op.wendeng")
    resp = await client.post(f"/api/v1/followups/{task_id}/record", json=body)
    out = await resp.json()
    assert resp.status == 422 and field in out["fields"], out
    assert await db.fetchval("SELECT attempts FROM followups WHERE id = $1", task_id) == 0


async def test_followups_are_region_scoped(dworld, db, app_client) -> None:
    task_id = await task_for(db, dworld, dt.datetime.now(dt.UTC))
    other = await app_client()
    await other.login("op.rongcheng")
    assert (await (await other.get("/api/v1/followups")).json())["items"] == []
    resp = await other.post(f"/api/v1/followups/{task_id}/record", json={"satisfaction": 5})
    assert resp.status == 404, await resp.text()
    pa = await app_client()
    await pa.login("pa.001")
    assert (await pa.get("/api/v1/followups")).status == 403


async def test_sample_rate_is_set_by_supervisors(dworld, db, app_client) -> None:
    url = f"/api/v1/providers/{dworld['provider']}/followup-rate"
    sup = await app_client()
    await sup.login("sup.wendeng")
    resp = await sup.patch(url, json={"rate": 0.5})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["followup_rate"] == 0.5
    resp = await sup.patch(url, json={"rate": 1.5})
    assert resp.status == 422, await resp.text()
    op = await app_client()
    await op.login("op.wendeng")
    assert (await op.patch(url, json={"rate": 0.1})).status == 403
    assert await db.fetchval("SELECT followup_rate::float8 FROM providers WHERE id = $1",
                             dworld["provider"]) == 0.5


def test_an_unset_gateway_token_refuses_and_names_its_setting() -> None:
    from callcenter import cti
    from callcenter.errors import Unauthorized

    with pytest.raises(Unauthorized) as refused:
        cti.authenticate("", "Bearer anything", "ANXIN_FOLLOWUP_TOKEN", "followup")
    assert "ANXIN_FOLLOWUP_TOKEN" in str(refused.value.message)
    assert refused.value.headers["WWW-Authenticate"] == 'Bearer realm="followup"'
