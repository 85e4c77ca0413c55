"""The operator side of the order API, as the console uses it: validation errors with their
fields, the region scope (an operator of 荣成市 neither sees nor creates orders for an elder of
文登区), cancel only with a reason, manual dispatch of a no_candidate order, requeue, release,
review, the board's filters and the timeline with its actors."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset

SHANGHAI = ZoneInfo("Asia/Shanghai")
CONSOLE = {"X-Requested-With": "console"}


async def _create(client: Any, body: dict[str, Any], status: int = 201,
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
    resp = await client.post("/api/v1/orders", json=body, headers=headers or CONSOLE)
    out = await resp.json()
    assert resp.status == status, out
    return out


async def _step(client: Any, order_id: int, act: str, body: dict[str, Any] | None = None,
                status: int = 200) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/orders/{order_id}/{act}", json=body or {})
    out = await resp.json()
    assert resp.status == status, out
    return out


async def _get(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    out = await resp.json()
    assert resp.status == status, out
    return out


async def _operator(app_client: Any, username: str = "op.wendeng") -> Any:
    op = await app_client()
    await op.login(username)
    return op


async def _no_candidate(op: Any, dworld: dict[str, Any], worker: Any, clock: Any
                        ) -> dict[str, Any]:
    """An order nobody can take (nobody on shift): the worker widens, then gives up."""
    order = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"})
    assert order["state"] == "queued"
    clock.now = dt.datetime.now(dt.UTC)
    assert await drain(worker) == 1
    card = await _get(op, f"/api/v1/orders/{order['id']}")
    assert card["state"] == "no_candidate", card
    return card


@pytest.mark.parametrize(("body", "fields"), [
    ({}, {"elder_id", "item_code"}),
    ({"elder_id": "x", "item_code": "BA001"}, {"elder_id"}),
    ({"elder_id": 0, "item_code": "BA001"}, {"elder_id"}),
    ({"item_code": "NO999"}, {"item_code"}),
    ({"item_code": "BA001", "priority": 9}, {"priority"}),
    ({"item_code": "BA001", "colour": "red"}, {"colour"}),
    ({"item_code": "BA001", "note": "长" * 501}, {"note"}),
    ({"item_code": "BA001", "window_start": "2030-01-02T09:00+08:00"}, {"window_end"}),
    ({"item_code": "BA001", "window_end": "2030-01-02T09:00+08:00"}, {"window_start"}),
    ({"item_code": "BA001", "window_start": "tomorrow", "window_end": "later"},
     {"window_start", "window_end"}),
    ({"item_code": "BA001", "window_start": "2030-01-02T10:00+08:00",
      "window_end": "2030-01-02T09:00+08:00"}, {"window_end"}),
    ({"item_code": "BA001", "window_start": "2020-01-02T09:00+08:00",
      "window_end": "2020-01-02T10:00+08:00"}, {"window_end"}),
    ({"item_code": "BA001", "window_start": "2099-01-02T09:00+08:00",
      "window_end": "2099-01-02T10:00+08:00"}, {"window_start"}),
    ({"item_code": "BA001", "call_id": 999999}, {"call_id"}),
])
async def test_create_refuses_bad_input_with_the_fields(app_client, dworld, body, fields
                                                        ) -> None:
    op = await _operator(app_client)
    if "elder_id" not in body and "elder_id" not in fields:
        body = {"elder_id": dworld["elder_wendeng"], **body}
    out = await _create(op, body, status=422)
    assert out["error"] == "validation"
    assert set(out["fields"]) == fields, out
    for reason in out["fields"].values():
        assert reason and "(" in reason  # Chinese first, English in brackets


async def test_an_operator_of_another_district_neither_creates_nor_sees(app_client, dworld
                                                                       ) -> None:
    wendeng = await _operator(app_client)
    rongcheng = await _operator(app_client, "op.rongcheng")
    out = await _create(rongcheng, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"},
                        status=422)
    assert set(out["fields"]) == {"elder_id"}
    assert "辖区" in out["fields"]["elder_id"]

    order = await _create(wendeng, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"})
    for url in (f"/api/v1/orders/{order['id']}", f"/api/v1/orders/{order['id']}/candidates"):
        out = await _get(rongcheng, url, status=404)
        assert "id" in out["fields"]
    for act, body in (("cancel", {"reason": "x"}), ("assign", {"staff_id": dworld["staff"]}),
                      ("requeue", {})):
        await _step(rongcheng, order["id"], act, body, status=404)
    assert (await _get(rongcheng, "/api/v1/orders?state=all"))["items"] == []
    # the city's operator sees the whole city
    city = await _operator(app_client, "op.city")
    assert [o["id"] for o in (await _get(city, "/api/v1/orders"))["items"]] == [order["id"]]
    # a supervisor may look but not act
    sup = await _operator(app_client, "sup.wendeng")
    await _get(sup, f"/api/v1/orders/{order['id']}")
    await _step(sup, order["id"], "cancel", {"reason": "x"}, status=403)
    await _create(sup, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"}, status=403)


async def test_the_card_records_source_call_and_window(app_client, dworld, db) -> None:
    op = await _operator(app_client)
    call_id = await db.fetchval(
        "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at)"
        " VALUES ('c-1', 'inbound', '+8613806310001', '12349', $1, 'answered', now())"
        " RETURNING id",
        dworld["elder_wendeng"])
    card = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001",
                              "call_id": call_id, "note": "来电要求助浴", "priority": 2})
    assert card["source"] == "console" and card["call_id"] == call_id
    assert card["priority"] == 2 and card["note"] == "来电要求助浴"
    assert card["item"]["name"] == "上门助浴（可自理）" and card["price_cents"] == 8000
    assert card["elder"]["name"] == "王秀英" and "*" in card["elder"]["id_number"]
    assert await db.fetchval("SELECT order_id FROM calls WHERE id = $1", call_id) == card["id"]

    plain = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "ME001"},
                          headers={"X-Other": "1"})
    assert plain["source"] == "api"

    tomorrow = dt.datetime.now(SHANGHAI).date() + dt.timedelta(days=1)
    start = dt.datetime.combine(tomorrow, dt.time(9), SHANGHAI)
    later = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001",
                               "window_start": start.isoformat(),
                               "window_end": (start + dt.timedelta(hours=1)).isoformat()})
    assert later["state"] == "created"  # scheduled: dispatched when the window opens
    assert dt.datetime.fromisoformat(later["window_start"]) == start
    # a window without an offset is read in Asia/Shanghai
    naive = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001",
                               "window_start": f"{tomorrow}T14:00",
                               "window_end": f"{tomorrow}T15:00"})
    assert dt.datetime.fromisoformat(naive["window_start"]) == dt.datetime.combine(
        tomorrow, dt.time(14), SHANGHAI)


async def test_cancel_needs_a_reason_and_is_final(app_client, dworld) -> None:
    op = await _operator(app_client)
    order = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"})
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        out = await _step(op, order["id"], "cancel", body, status=422)
        assert set(out["fields"]) == {"reason"}, out
    out = await _step(op, order["id"], "cancel", {"reason": "x" * 501}, status=422)
    assert set(out["fields"]) == {"reason"}
    card = await _step(op, order["id"], "cancel", {"reason": "家属已自行安排"})
    assert card["state"] == "cancelled" and card["reason"] == "家属已自行安排"
    out = await _step(op, order["id"], "cancel", {"reason": "again"}, status=409)
    assert "不能再变更" in out["message"]
    for act, body in (("requeue", {}), ("assign", {"staff_id": dworld["staff"]}),
                      ("release", {"reason": "x"})):
        await _step(op, order["id"], act, body, status=409)
    detail = await _get(op, f"/api/v1/orders/{order['id']}")
    last = detail["timeline"][-1]
    assert (last["event"], last["to_state"], last["actor"]) == ("cancel", "cancelled", "operator")
    assert last["actor_name"] == "op.wendeng" and last["detail"]["reason"] == "家属已自行安排"


async def test_no_candidate_shows_why_and_is_assigned_by_hand(app_client, dworld, worker,
                                                              clock) -> None:
    op = await _operator(app_client)
    card = await _no_candidate(op, dworld, worker, clock)
    assert "公里内没有在班且有该技能的服务人员" in card["reason"] and card["widened"] is True
    events = [(e["event"], e["to_state"]) for e in card["timeline"]]
    assert events == [("create", "created"), ("enqueue", "queued"), ("widen", "queued"),
                      ("no_candidate", "no_candidate")]
    widen, gave_up = card["timeline"][2], card["timeline"][3]
    assert widen["actor"] == "worker" and widen["detail"]["radius_m"] == 6000
    assert widen["detail"]["why"]
    assert gave_up["detail"]["reason"] == card["reason"]
    assert card["offers"] == []

    # the board's no_candidate filter
    listed = await _get(op, "/api/v1/orders?state=no_candidate")
    assert [o["id"] for o in listed["items"]] == [card["id"]]
    assert listed["items"][0]["reason"] == card["reason"]

    # candidates: active staff with the skill (赵大姐 has no bathing), nearest home first
    cands = (await _get(op, f"/api/v1/orders/{card['id']}/candidates"))["items"]
    assert {c["name"] for c in cands} == {"张师傅", "李阿姨"}
    assert all(c["on_shift"] is False and c["load"] == 0 and c["capacity"] == 3 for c in cands)
    assert set(cands[0]) >= {"id", "name", "phone", "capacity", "provider_name", "on_shift",
                             "load", "home_distance_m"}

    # assign needs a staff member who exists and has room
    out = await _step(op, card["id"], "assign", {}, status=422)
    assert set(out["fields"]) == {"staff_id"}
    out = await _step(op, card["id"], "assign", {"staff_id": 999999}, status=422)
    assert set(out["fields"]) == {"staff_id"}
    done = await _step(op, card["id"], "assign",
                       {"staff_id": dworld["staff"], "reason": "电话确认张师傅下午有空"})
    assert done["state"] == "accepted" and done["staff"]["name"] == "张师傅"
    assert done["provider"]["id"] == dworld["provider"] and done["reason"] == ""
    detail = await _get(op, f"/api/v1/orders/{card['id']}")
    last = detail["timeline"][-1]
    assert (last["event"], last["from_state"], last["to_state"]) == (
        "assign", "no_candidate", "accepted")
    assert last["actor_name"] == "op.wendeng"
    assert last["detail"] == {"staff_id": dworld["staff"], "reason": "电话确认张师傅下午有空"}
    assert [(f["staff_name"], f["state"], f["reason"]) for f in detail["offers"]] == [
        ("张师傅", "accepted", "manual")]
    assert (await _get(op, "/api/v1/orders?state=no_candidate"))["items"] == []
    cands = (await _get(op, f"/api/v1/orders/{card['id']}/candidates"))["items"]
    assert {c["name"]: c["load"] for c in cands} == {"张师傅": 1, "李阿姨": 0}

    # the staff member sees the job; the operator takes it back (with a reason), then cancels
    staff = await app_client()
    await staff.login("ps.001")
    jobs = (await _get(staff, "/api/v1/me/jobs"))["items"]
    assert [j["id"] for j in jobs] == [card["id"]]
    await _step(op, card["id"], "release", {}, status=422)
    back = await _step(op, card["id"], "release", {"reason": "老人改期"})
    assert back["state"] == "queued" and back["staff"] is None
    assert (await _get(staff, "/api/v1/me/jobs"))["items"] == []


async def test_requeue_sends_it_back_to_dispatch(app_client, dworld, pool, rds, settings,
                                                 worker, clock) -> None:
    op = await _operator(app_client)
    card = await _no_candidate(op, dworld, worker, clock)
    # requeue is only for no_candidate orders
    fresh = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "ME001"})
    await _step(op, fresh["id"], "requeue", {}, status=409)

    await on_shift(pool, rds, settings, dworld["staff2"], offset(HOME, north_m=300), clock.now)
    back = await _step(op, card["id"], "requeue", {"reason": "李阿姨已上班"})
    assert back["state"] == "queued"
    await drain(worker)
    detail = await _get(op, f"/api/v1/orders/{card['id']}")
    assert detail["state"] == "offered"
    steps = [e["event"] for e in detail["timeline"]]
    assert steps[-2:] == ["requeue", "offer"]
    requeue, offer = detail["timeline"][-2], detail["timeline"][-1]
    assert requeue["actor_name"] == "op.wendeng" and requeue["detail"]["reason"] == "李阿姨已上班"
    assert offer["actor"] == "worker" and offer["actor_name"] is None
    assert offer["detail"]["offered_to"] == [dworld["staff2"]]
    top = offer["detail"]["candidates"][0]
    assert top["staff_id"] == dworld["staff2"] and top["distance_m"] == 300
    assert set(top["parts"]) == {"distance", "rating", "fairness", "preferred"}
    assert [(f["staff_name"], f["state"], f["distance_m"]) for f in detail["offers"]] == [
        ("李阿姨", "pending", 300)]
    # an offered order may also be assigned by hand: the pending offer is withdrawn
    done = await _step(op, card["id"], "assign", {"staff_id": dworld["staff"]})
    assert done["state"] == "accepted" and done["staff"]["id"] == dworld["staff"]
    detail = await _get(op, f"/api/v1/orders/{card['id']}")
    assert {f["staff_name"]: f["state"] for f in detail["offers"]} == {
        "李阿姨": "withdrawn", "张师傅": "accepted"}


async def test_review_after_the_visit(app_client, dworld, worker, clock) -> None:
    op = await _operator(app_client)
    card = await _no_candidate(op, dworld, worker, clock)
    await _step(op, card["id"], "review", {}, status=409)  # not done yet
    await _step(op, card["id"], "assign", {"staff_id": dworld["staff"]})
    staff = await app_client()
    await staff.login("ps.001")
    here = offset(HOME, north_m=50)
    for act, body in (("travel", {}), ("check_in", {"lat": here[0], "lon": here[1]}),
                      ("check_out", {"note": "顺利"})):
        resp = await staff.post(f"/api/v1/jobs/{card['id']}/{act}", json=body)
        assert resp.status == 200, await resp.json()
    await _step(op, card["id"], "fail", {"reason": "x"}, status=409)
    done = await _step(op, card["id"], "review", {"reason": "老人满意"})
    assert done["state"] == "reviewed"
    detail = await _get(op, f"/api/v1/orders/{card['id']}")
    assert [e["event"] for e in detail["timeline"]][-5:] == [
        "assign", "travel", "check_in", "check_out", "review"]
    check_in = detail["timeline"][-3]
    assert check_in["actor"] == "staff" and check_in["actor_name"] == "ps.001"
    assert check_in["detail"]["distance_m"] == 50
    assert detail["checkout_note"] == "顺利" and detail["duration_s"] is not None


async def test_the_board_filters(app_client, dworld, worker, clock) -> None:
    op = await _operator(app_client)
    nc = await _no_candidate(op, dworld, worker, clock)
    queued = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "ME001"})
    gone = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"})
    await _step(op, gone["id"], "cancel", {"reason": "重复下单"})
    other = await _operator(app_client, "op.rongcheng")
    theirs = await _create(other, {"elder_id": dworld["elder_rongcheng"], "item_code": "ME001"})

    async def ids(query: str, client: Any = op) -> list[int]:
        return [o["id"] for o in (await _get(client, f"/api/v1/orders{query}"))["items"]]

    assert await ids("") == [queued["id"], nc["id"]]  # active by default, newest first
    assert await ids("?state=active") == [queued["id"], nc["id"]]
    assert await ids("?state=all") == [gone["id"], queued["id"], nc["id"]]
    assert await ids("?state=cancelled") == [gone["id"]]
    assert await ids("?state=queued") == [queued["id"]]
    assert await ids("?state=completed") == []
    assert await ids("?state=all&limit=1") == [gone["id"]]
    assert await ids(f"?state=all&elder_id={dworld['elder_wendeng']}") == [
        gone["id"], queued["id"], nc["id"]]
    assert await ids(f"?state=all&elder_id={dworld['elder_rongcheng']}") == []
    assert await ids("?state=all", other) == [theirs["id"]]
    for query, field in (("?state=open", "state"), ("?limit=0", "limit"), ("?limit=501", "limit"),
                         ("?limit=x", "limit"), ("?elder_id=abc", "elder_id")):
        out = await _get(op, f"/api/v1/orders{query}", status=422)
        assert set(out["fields"]) == {field}, (query, out)


async def test_manual_assign_refuses_staff_without_the_skill(app_client, dworld, worker,
                                                             clock) -> None:
    op = await _operator(app_client)
    card = await _no_candidate(op, dworld, worker, clock)
    # 赵大姐 (staff3) does emergency checks only; the candidates list leaves her out
    out = await _step(op, card["id"], "assign", {"staff_id": dworld["staff3"]}, status=422)
    assert set(out["fields"]) == {"staff_id"}


async def test_a_withdrawn_offer_reaches_its_staff_member_live(app_client, dworld, pool, rds,
                                                               settings, worker, clock, db
                                                               ) -> None:
    """Cancel or manual assign of an offered order: the staff member whose offer is withdrawn
    is told live (the event's audience), so their page drops the offer."""
    import json

    op = await _operator(app_client)
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, north_m=100), clock.now)
    for act, body in (("cancel", {"reason": "家属已自行安排"}),
                      ("assign", {"staff_id": dworld["staff2"]})):
        order = await _create(op, {"elder_id": dworld["elder_wendeng"], "item_code": "BA001"})
        clock.now = dt.datetime.now(dt.UTC)
        await drain(worker)
        assert (await _get(op, f"/api/v1/orders/{order['id']}"))["state"] == "offered"
        await _step(op, order["id"], act, body)
        payload = await db.fetchval("SELECT payload::text FROM outbox WHERE kind = $1"
                                    " ORDER BY id DESC LIMIT 1", f"order.{act}")
        assert dworld["staff"] in json.loads(payload)["audience"]["staff"], (act, payload)
