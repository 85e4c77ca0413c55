"""An order's whole life through the HTTP API and a worker driven step by step: created by an
operator, queued, matched and offered, accepted, travelled, checked in (refused at 250 m,
accepted at 150 m), checked out; every step on the timeline with its actor."""

from __future__ import annotations

from typing import Any

from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset


async def _order(client: Any, elder_id: int, item: str = "BA001", **extra: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/orders", json={"elder_id": elder_id, "item_code": item,
                                                     **extra})
    body = await resp.json()
    assert resp.status == 201, body
    return body


async def test_order_from_creation_to_check_out(app_client, dworld, pool, rds, settings, clock,
                                                worker) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    staff = await app_client()
    await staff.login("ps.001")
    resp = await staff.post("/api/v1/me/shift", json={"on_shift": True})
    assert resp.status == 200, await resp.json()
    near = offset(HOME, north_m=1000)
    resp = await staff.post("/api/v1/me/location", json={"lat": near[0], "lon": near[1]})
    assert resp.status == 200, await resp.json()

    order = await _order(op, dworld["elder_wendeng"], note="周二上午助浴")
    assert order["state"] == "queued" and order["price_cents"] == 8000
    assert order["subsidy_eligible"] is True
    clock.now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    assert await drain(worker) == 1

    offers = (await (await staff.get("/api/v1/me/offers")).json())["items"]
    assert [o["order"]["id"] for o in offers] == [order["id"]]
    offer_id = offers[0]["offer_id"]
    resp = await staff.post(f"/api/v1/offers/{offer_id}/accept", json={})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["state"] == "accepted" and body["staff"]["id"] == dworld["staff"]

    assert (await staff.post(f"/api/v1/jobs/{order['id']}/travel", json={})).status == 200
    far = offset(HOME, north_m=250)
    resp = await staff.post(f"/api/v1/jobs/{order['id']}/check_in",
                            json={"lat": far[0], "lon": far[1]})
    body = await resp.json()
    assert resp.status == 422, body
    assert body["distance_m"] == 250 and body["limit_m"] == 200
    assert "250" in body["message"]
    close = offset(HOME, north_m=150)
    resp = await staff.post(f"/api/v1/jobs/{order['id']}/check_in",
                            json={"lat": close[0], "lon": close[1]})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["state"] == "on_site" and body["checkin_distance_m"] == 150
    resp = await staff.post(f"/api/v1/jobs/{order['id']}/check_out",
                            json={"note": "洗浴顺利，老人精神好"})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["state"] == "completed" and body["checkout_note"] == "洗浴顺利，老人精神好"

    detail = await (await op.get(f"/api/v1/orders/{order['id']}")).json()
    steps = [(t["event"], t["to_state"]) for t in detail["timeline"]]
    assert steps == [("create", "created"), ("enqueue", "queued"), ("offer", "offered"),
                     ("accept", "accepted"), ("travel", "en_route"), ("check_in", "on_site"),
                     ("check_out", "completed")]
    assert detail["timeline"][3]["actor_name"] == "ps.001"
    assert detail["timeline"][2]["detail"]["candidates"][0]["staff_id"] == dworld["staff"]


async def test_staff_cannot_touch_another_persons_offer_or_job(app_client, dworld, pool, rds,
                                                               settings, clock, worker) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    a, b = await app_client(), await app_client()
    await a.login("ps.001")
    await b.login("ps.002")
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    order = await _order(op, dworld["elder_wendeng"])
    await drain(worker)
    offer_id = (await (await a.get("/api/v1/me/offers")).json())["items"][0]["offer_id"]
    assert (await (await b.get("/api/v1/me/offers")).json())["items"] == []
    for path in (f"/api/v1/offers/{offer_id}/accept", f"/api/v1/offers/{offer_id}/decline"):
        resp = await b.post(path, json={})
        assert resp.status == 404, await resp.json()
    assert (await a.post(f"/api/v1/offers/{offer_id}/accept", json={})).status == 200
    resp = await b.post(f"/api/v1/jobs/{order['id']}/travel", json={})
    assert resp.status == 404
    assert (await b.get(f"/api/v1/orders/{order['id']}")).status == 403
    jobs = (await (await b.get("/api/v1/me/jobs?when=today")).json())["items"]
    assert jobs == []
