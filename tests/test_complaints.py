"""Complaints against real PostgreSQL: open → in_progress → resolved with a handler and a
required resolution, a working-day deadline and the overdue filter, every change appended to
complaint_events (which refuses UPDATE and DELETE), region and provider scoping."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from callcenter import rating_rules
from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_followup import completed_order


async def file(c: Any, elder_id: int, **extra: Any) -> dict[str, Any]:
    resp = await c.post("/api/v1/complaints", json={
        "category": "lateness", "elder_id": elder_id, "description": "师傅迟到一小时", **extra})
    body = await resp.json()
    assert resp.status == 201, body
    return body


async def test_lifecycle_with_events(dworld, db, app_client, settings) -> None:
    order_id = await completed_order(db, dworld, dt.datetime.now(dt.UTC))
    op = await app_client()
    await op.login("op.wendeng")
    c = await file(op, dworld["elder_wendeng"], order_id=order_id)
    assert (c["state"], c["provider"]["id"], c["order_id"], c["overdue"]) == \
        ("open", dworld["provider"], order_id, False)  # the provider comes from the order
    created = dt.datetime.fromisoformat(c["created_at"])
    assert dt.datetime.fromisoformat(c["deadline_at"]) == rating_rules.add_working_days(
        created, settings.complaint_days, settings.tz)
    sup = await app_client()
    await sup.login("sup.wendeng")
    resp = await sup.post(f"/api/v1/complaints/{c['id']}/assign",
                          json={"handler_id": dworld["op_wendeng"]})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["state"], body["handler"]["id"]) == ("in_progress", dworld["op_wendeng"])
    resp = await op.post(f"/api/v1/complaints/{c['id']}/resolve", json={"upheld": True})
    assert resp.status == 422 and "resolution" in (await resp.json())["fields"]
    resp = await op.post(f"/api/v1/complaints/{c['id']}/resolve",
                         json={"resolution": "   ", "upheld": True})
    assert resp.status == 422 and "resolution" in (await resp.json())["fields"]
    assert await db.fetchval("SELECT state FROM complaints WHERE id = $1", c["id"]) \
        == "in_progress"
    resp = await op.post(f"/api/v1/complaints/{c['id']}/resolve",
                         json={"resolution": "已约谈服务商，扣减当月评分", "upheld": True})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["state"], body["upheld"], body["overdue"]) == ("resolved", True, False)
    assert [(e["event"], e["from_state"], e["to_state"]) for e in body["events"]] == [
        ("create", None, "open"), ("assign", "open", "in_progress"),
        ("resolve", "in_progress", "resolved")]
    resp = await op.post(f"/api/v1/complaints/{c['id']}/resolve",
                         json={"resolution": "again", "upheld": False})
    assert resp.status == 409, await resp.text()
    with pytest.raises(asyncpg.PostgresError):
        await db.execute("UPDATE complaint_events SET event = 'create'")
    with pytest.raises(asyncpg.PostgresError):
        await db.execute("DELETE FROM complaint_events")


async def test_overdue_filter(dworld, db, client) -> None:
    await client.login("op.wendeng")
    late = await file(client, dworld["elder_wendeng"], provider_id=dworld["provider"])
    fresh = await file(client, dworld["elder_wendeng"], provider_id=dworld["provider2"],
                       category="attitude")
    await db.execute("UPDATE complaints SET deadline_at = now() - interval '1 hour'"
                     " WHERE id = $1", late["id"])
    resp = await client.get("/api/v1/complaints?overdue=true")
    body = await resp.json()
    assert resp.status == 200, body
    assert [(i["id"], i["overdue"]) for i in body["items"]] == [(late["id"], True)]
    every = (await (await client.get("/api/v1/complaints")).json())["items"]
    assert {i["id"] for i in every} == {late["id"], fresh["id"]}
    by_provider = (await (await client.get(
        f"/api/v1/complaints?provider_id={dworld['provider2']}")).json())["items"]
    assert [i["id"] for i in by_provider] == [fresh["id"]]
    resolved = (await (await client.get("/api/v1/complaints?state=resolved")).json())["items"]
    assert resolved == []
    assert (await client.get("/api/v1/complaints?state=closed")).status == 422


@pytest.mark.parametrize(("body", "field"), [
    ({"category": "noise", "elder_id": 1, "description": "x"}, "category"),
    ({"category": "quality", "description": "x"}, "elder_id"),
    ({"category": "quality", "elder_id": 1, "description": ""}, "description"),
    ({"category": "quality", "elder_id": 1, "description": "x", "mood": 1}, "mood"),
])
async def test_bad_complaints_are_422(dworld, db, client, body: dict[str, Any], field: str
                                      ) -> None:
    await client.login("op.wendeng")
    body = {**body, "elder_id": dworld["elder_wendeng"]} if "elder_id" in body else body
    resp = await client.post("/api/v1/complaints", json=body)
    out = await resp.json()
    assert resp.status == 422 and field in out["fields"], out
    assert await db.fetchval("SELECT count(*) FROM complaints") == 0


async def test_provider_needed_and_checked(dworld, db, client) -> None:
    await client.login("op.wendeng")
    resp = await client.post("/api/v1/complaints", json={
        "category": "quality", "elder_id": dworld["elder_wendeng"], "description": "x"})
    assert resp.status == 422 and "provider_id" in (await resp.json())["fields"]
    order_id = await completed_order(db, dworld, dt.datetime.now(dt.UTC))
    resp = await client.post("/api/v1/complaints", json={
        "category": "quality", "elder_id": dworld["elder_wendeng"], "description": "x",
        "order_id": order_id, "provider_id": dworld["provider2"]})
    assert resp.status == 422 and "provider_id" in (await resp.json())["fields"]


async def test_scoping(dworld, db, app_client) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    c = await file(op, dworld["elder_wendeng"], provider_id=dworld["provider"])
    other = await app_client()
    await other.login("op.rongcheng")
    assert (await (await other.get("/api/v1/complaints")).json())["items"] == []
    assert (await other.get(f"/api/v1/complaints/{c['id']}")).status == 404
    resp = await other.post(f"/api/v1/complaints/{c['id']}/resolve",
                            json={"resolution": "x", "upheld": False})
    assert resp.status == 404, await resp.text()
    resp = await other.post("/api/v1/complaints", json={
        "category": "quality", "elder_id": dworld["elder_wendeng"], "description": "x",
        "provider_id": dworld["provider"]})
    assert resp.status == 422 and "elder_id" in (await resp.json())["fields"]
    # a handler must cover the complaint's region
    resp = await op.post(f"/api/v1/complaints/{c['id']}/assign",
                         json={"handler_id": dworld["op_rongcheng"]})
    assert resp.status == 422 and "handler_id" in (await resp.json())["fields"]
    # the provider's admin sees complaints about their provider, read-only, and may respond
    pa = await app_client()
    await pa.login("pa.001")
    assert [i["id"] for i in (await (await pa.get("/api/v1/complaints")).json())["items"]] \
        == [c["id"]]
    resp = await pa.post(f"/api/v1/complaints/{c['id']}/resolve",
                         json={"resolution": "x", "upheld": False})
    assert resp.status == 403, await resp.text()
    resp = await pa.post(f"/api/v1/complaints/{c['id']}/response",
                         json={"note": "已对员工进行培训"})
    body = await resp.json()
    assert resp.status == 200, body
    assert (body["provider_note"], body["state"], body["events"][-1]["event"]) == \
        ("已对员工进行培训", "open", "respond")
    await db.execute("UPDATE users SET provider_id = $2 WHERE id = $1", dworld["pa"],
                     dworld["provider2"])
    pa2 = await app_client()
    await pa2.login("pa.001")
    assert (await pa2.get(f"/api/v1/complaints/{c['id']}")).status == 404
