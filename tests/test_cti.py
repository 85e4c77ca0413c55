"""SPEC §4.2 telephony webhook: bearer token, every validation failure named, the screen pop
(outbox row and Redis stream entry), call states, and an SOS phone's call and device event
merged into one alarm in either order (and when they arrive together)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from callcenter import outbox
from callcenter.app import create_app
from callcenter.keys import redis_key
from callcenter.settings import Settings
from tests import factories
from tests.factories import event_body, signed_headers

URL = "/api/v1/cti/events"
TOKEN = "test-cti-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LANDLINE = "+866315201234"


def now_iso(delta_s: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delta_s)).astimezone(
        dt.timezone(dt.timedelta(hours=8))).isoformat()


def cti(call_id: str, event: str = "ringing", ani: str = "0631-5201234", **extra: Any
        ) -> dict[str, Any]:
    return {"call_id": call_id, "event": event, "ani": ani, "dnis": "12349", "at": now_iso(),
            **extra}


@pytest.fixture
async def cti_settings(settings: Settings) -> Settings:
    # no background relay: the tests look at outbox rows before relaying them by hand
    return settings.replace(cti_token=TOKEN, background_tasks=False)


async def close(client: TestClient) -> None:
    """Stop the app. Work-around: on Python 3.11 a cancel that lands as redis-py's blocking
    XREAD (live.py) or outbox's wait_for completes is dropped, and that loop runs on, so the
    shutdown would wait for ever (about 1 in 100 shutdowns); cancel such a loop again."""
    closing = asyncio.ensure_future(client.close())
    while not (await asyncio.wait([closing], timeout=0.5))[0]:
        for task in asyncio.all_tasks():
            if task.get_name() in ("live-reader", "outbox-relay") and task.cancelling():
                task.cancel()
    closing.result()


@pytest.fixture
async def http(cti_settings: Settings) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_app(cti_settings)))
    await client.start_server()
    yield client
    await close(client)


@pytest.fixture
async def caller(world: dict[str, int], db: asyncpg.Connection) -> int:
    """An elder reachable on a landline, with two contacts, an SOS phone and an old alarm."""
    elder_id = await factories.elder(db, "刘桂兰", "371003001001", 305, [LANDLINE, "+8613706310003"],
                                     risk_groups=["独居", "高龄"])
    await db.execute(
        "INSERT INTO elder_contacts (elder_id, position, name, phone, relation) VALUES"
        " ($1, 2, '刘强', '+8613906319999', '儿子'), ($1, 1, '刘梅', '+8613806318888', '女儿')",
        elder_id)
    await factories.device(db, "SOS-LGL-0001", elder_id)
    await db.execute(
        "INSERT INTO alarms (elder_id, region_code, kind, priority, state, outcome, created_at)"
        " VALUES ($1, '371003001001', 'fall', 1, 'closed', 'false_alarm', now() - interval '9 d')",
        elder_id)
    return elder_id


async def post(http: TestClient, body: Any, headers: dict[str, str] | None = None) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(URL, data=data, headers={"Content-Type": "application/json",
                                                    **(AUTH if headers is None else headers)})


async def ok(http: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = await post(http, body)
    out = await resp.json()
    assert resp.status == 200, out
    return out


async def outbox_rows(db: asyncpg.Connection, kind: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT region_code, payload FROM outbox WHERE kind = $1 ORDER BY id",
                          kind)
    return [{"region": r["region_code"], **json.loads(r["payload"])} for r in rows]


# --- authentication ---------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"},
                                     {"Authorization": TOKEN},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": "Bearer "}])
async def test_missing_or_bad_token_is_401(world, http, db, headers) -> None:
    resp = await post(http, cti("c-auth"), headers)
    body = await resp.json()
    assert resp.status == 401, body
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert await db.fetchval("SELECT count(*) FROM calls") == 0


async def test_unconfigured_token_refuses_everything(world, settings, db) -> None:
    client = TestClient(TestServer(create_app(settings.replace(cti_token=""))))
    await client.start_server()
    try:
        for headers in ({}, {"Authorization": "Bearer "}, AUTH):
            resp = await post(client, cti("c-unconf"), headers)
            body = await resp.json()
            assert resp.status == 401, body
            assert "not configured" in body["message"]
    finally:
        await close(client)
    assert await db.fetchval("SELECT count(*) FROM calls") == 0


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    (b"{", "body"),
    (b"\xff\xfe", "body"),
    (b"[1, 2]", "body"),
    ({k: v for k, v in cti("c").items() if k != "call_id"}, "call_id"),
    (cti(""), "call_id"),
    (cti("x" * 101), "call_id"),
    (cti(17), "call_id"),  # type: ignore[arg-type]
    (cti("c\u0000"), "call_id"),
    (cti("c", event="transfer"), "event"),
    (cti("c", event=None), "event"),
    (cti("c", ani=None), "ani"),
    (cti("c", ani=13806310001), "ani"),
    (cti("c", ani="1" * 41), "ani"),
    ({**cti("c"), "dnis": "hotline"}, "dnis"),
    ({**cti("c"), "dnis": ""}, "dnis"),
    ({**cti("c"), "at": "2026-11-23 08:00:00"}, "at"),
    ({**cti("c"), "at": "yesterday"}, "at"),
    ({**cti("c"), "at": 1764000000}, "at"),
    ({**cti("c"), "at": now_iso(3 * 3600)}, "at"),
    (cti("c", event="answered"), "agent"),
    (cti("c", event="answered", agent="Op Wendeng!"), "agent"),
    (cti("c", agent=7), "agent"),
    ({**cti("c"), "caller_name": "x"}, "caller_name"),
])
async def test_invalid_body_is_422_naming_the_field(world, http, db, body, field) -> None:
    resp = await post(http, body)
    out = await resp.json()
    assert resp.status == 422, out
    assert field in out["fields"], out
    assert await db.fetchval("SELECT count(*) FROM calls") == 0
    assert await db.fetchval("SELECT count(*) FROM outbox") == 0


async def test_oversize_body_is_413(world, http) -> None:
    resp = await post(http, {**cti("c-big"), "ani": "1" * 20000})
    assert resp.status == 413


# --- the screen pop ---------------------------------------------------------------------------

async def test_ringing_pops_the_elder_by_a_differently_written_number(
        caller, http, db, cti_settings) -> None:
    out = await ok(http, cti("c-pop", ani="0631-520 1234"))
    assert out["call_id"] == "c-pop" and out["state"] == "ringing"
    assert out["elder_id"] == caller and out["alarm_id"] is None
    call = await db.fetchrow("SELECT * FROM calls WHERE id = $1", out["id"])
    assert call["ani"] == LANDLINE and call["direction"] == "inbound"
    assert call["elder_id"] == caller and call["ringing_at"] is not None

    [event] = await db.fetch("SELECT * FROM events WHERE entity_type = 'call'")
    assert event["entity_id"] == out["id"] and event["to_state"] == "ringing"
    assert event["actor_kind"] == "cti" and event["from_state"] is None
    payload = json.loads(event["payload"])  # an object, not a JSON string inside jsonb
    assert payload["match"] == "elder" and payload["ani"] == LANDLINE

    [pop] = await outbox_rows(db, "call.ringing")
    assert pop["region"] == "371003001001" and pop["match"] == "elder"
    assert pop["call"]["id"] == out["id"] and pop["call"]["ani"] == LANDLINE
    assert pop["call"]["state"] == "ringing" and pop["call"]["alarm_id"] is None
    elder = pop["elder"]
    assert elder["id"] == caller and elder["name"] == "刘桂兰"
    assert elder["risk_groups"] == ["独居", "高龄"] and elder["region_name"] == "昆嵛社区"
    assert elder["phones"] == [LANDLINE, "+8613706310003"]
    assert elder["id_number"].startswith("3710") and "**********" in elder["id_number"]
    assert 79 <= elder["age"] <= 82
    assert [c["name"] for c in elder["contacts"]] == ["刘梅", "刘强"]  # in call order
    assert elder["devices"] == [{"kind": "sos_phone", "serial": "SOS-LGL-0001"}]
    [old] = elder["recent_alarms"]
    assert old["kind"] == "fall" and old["outcome"] == "false_alarm"

    # the relay carries it to the live stream, region and path attached for the console filter
    pool = await asyncpg.create_pool(cti_settings.database_url, min_size=1, max_size=2)
    r = aioredis.from_url(cti_settings.redis_url, decode_responses=True)
    try:
        assert await outbox.relay_until_empty(pool, r, cti_settings) == 1
        entries = await r.xrange(redis_key(cti_settings, outbox.LIVE_STREAM))
    finally:
        await pool.close()
        await r.aclose()
    [(_, fields)] = entries
    assert fields["type"] == "call.ringing" and fields["region"] == "371003001001"
    assert fields["path"] == "371000.371003.371003001.371003001001"
    data = json.loads(fields["data"])
    assert data["elder"]["id"] == caller and data["call"]["external_id"] == "c-pop"


async def test_mobile_number_with_country_code_pops_the_elder(world, http) -> None:
    out = await ok(http, cti("c-mob", ani="86 138 0631 0001"))
    assert out["elder_id"] == world["elder_wendeng"]


@pytest.mark.parametrize("ani", ["0631-5209999", "anonymous", "12349", "+44 20 7946 0000"])
async def test_unknown_caller_pops_no_elder(world, http, db, ani) -> None:
    out = await ok(http, cti("c-unknown", ani=ani))
    assert out["elder_id"] is None
    [pop] = await outbox_rows(db, "call.ringing")
    assert pop["elder"] is None and pop["match"] == "unknown" and pop["candidates"] == []
    assert pop["region"] == "371000"  # the city: every console above the districts
    stored = await db.fetchval("SELECT ani FROM calls")
    assert stored == {"0631-5209999": "+866315209999", "anonymous": "anonymous",
                      "12349": "12349", "+44 20 7946 0000": "+442079460000"}[ani]


async def test_shared_number_is_ambiguous_with_candidates(world, http, db) -> None:
    await factories.elder(db, "王建军", "371003001001", 107, ["+8613806310001"])
    out = await ok(http, cti("c-shared", ani="13806310001"))
    assert out["elder_id"] is None
    [pop] = await outbox_rows(db, "call.ringing")
    assert pop["match"] == "ambiguous" and pop["elder"] is None
    assert [c["name"] for c in pop["candidates"]] == ["王秀英", "王建军"]


async def test_deceased_elder_is_not_popped(world, http, db) -> None:
    await db.execute("UPDATE elders SET status = 'deceased' WHERE id = $1",
                     world["elder_wendeng"])
    out = await ok(http, cti("c-dead", ani="13806310001"))
    assert out["elder_id"] is None


async def test_repeated_ringing_is_idempotent(caller, http, db) -> None:
    first = await ok(http, cti("c-rep"))
    again = await ok(http, cti("c-rep", ani="06315201234"))  # same number, written otherwise
    assert again == first
    assert await db.fetchval("SELECT count(*) FROM calls") == 1
    assert await db.fetchval("SELECT count(*) FROM events") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1
    resp = await post(http, cti("c-rep", ani="13906310002"))  # the id reused for another call
    assert resp.status == 409, await resp.text()


async def test_concurrent_duplicate_ringing_makes_one_call(caller, http, db) -> None:
    answers = await asyncio.gather(*(post(http, cti("c-race")) for _ in range(6)))
    assert [a.status for a in answers] == [200] * 6
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM calls") == 1
    assert await db.fetchval("SELECT count(*) FROM outbox") == 1


# --- answered, hangup, abandoned ---------------------------------------------------------------

async def test_answered_binds_the_operator_and_hangup_ends_the_call(caller, world, http, db
                                                                    ) -> None:
    ring = await ok(http, cti("c-life"))
    answered = await ok(http, cti("c-life", "answered", agent="op.wendeng"))
    assert answered == {**ring, "state": "answered"}
    call = await db.fetchrow("SELECT * FROM calls WHERE id = $1", ring["id"])
    assert call["operator_id"] == world["op_wendeng"] and call["answered_at"] is not None
    again = await ok(http, cti("c-life", "answered", agent="op.wendeng"))  # a retry
    assert again["state"] == "answered"
    taken = await post(http, cti("c-life", "answered", agent="op.city"))
    assert taken.status == 409 and "op.city" not in (await taken.json())["message"]

    ended = await ok(http, cti("c-life", "hangup"))
    assert ended["state"] == "ended"
    call = await db.fetchrow("SELECT * FROM calls WHERE id = $1", ring["id"])
    assert call["ended_at"] >= call["answered_at"] >= call["ringing_at"]
    assert (await ok(http, cti("c-life", "hangup")))["state"] == "ended"  # a retry

    events = await db.fetch("SELECT from_state, to_state, actor_user_id FROM events"
                            " WHERE entity_type = 'call' AND entity_id = $1 ORDER BY id", ring["id"])
    assert [(e["from_state"], e["to_state"]) for e in events] == [
        (None, "ringing"), ("ringing", "answered"), ("answered", "ended")]
    assert events[1]["actor_user_id"] == world["op_wendeng"]
    [ans] = await outbox_rows(db, "call.answered")
    assert ans["region"] == "371003001001"
    assert ans["call"]["operator_id"] == world["op_wendeng"] and ans["call"]["state"] == "answered"
    [end] = await outbox_rows(db, "call.ended")
    assert end["call"]["state"] == "ended" and end["call"]["ended_at"]

    late = await post(http, cti("c-life", "answered", agent="op.wendeng"))
    assert late.status == 409, await late.text()
    assert (await post(http, cti("c-life", "abandoned"))).status == 409


async def test_unknown_or_wrong_role_agent_is_422(caller, http, db) -> None:
    await ok(http, cti("c-agent"))
    for agent in ("nobody", "supervisor", "ps.001"):
        resp = await post(http, cti("c-agent", "answered", agent=agent))
        body = await resp.json()
        assert resp.status == 422 and "agent" in body["fields"], body
    assert await db.fetchval("SELECT state FROM calls") == "ringing"


async def test_unanswered_call_is_abandoned(caller, http, db) -> None:
    await ok(http, cti("c-ab1"))
    assert (await ok(http, cti("c-ab1", "abandoned")))["state"] == "abandoned"
    assert (await ok(http, cti("c-ab1", "abandoned")))["state"] == "abandoned"  # a retry
    await ok(http, cti("c-ab2"))
    # a hangup before anyone answered: the caller gave up
    assert (await ok(http, cti("c-ab2", "hangup")))["state"] == "abandoned"
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'call.ended'") == 2
    assert await db.fetchval("SELECT count(*) FROM calls WHERE ended_at IS NULL") == 0


@pytest.mark.parametrize("event, agent", [("answered", "op.wendeng"), ("hangup", None),
                                          ("abandoned", None)])
async def test_event_for_unknown_call_is_404(world, http, db, event, agent) -> None:
    body = cti("c-never", event, **({"agent": agent} if agent else {}))
    resp = await post(http, body)
    out = await resp.json()
    assert resp.status == 404 and "call_id" in out["fields"], out
    assert await db.fetchval("SELECT count(*) FROM calls") == 0


async def test_step_before_the_ring_is_422(caller, http) -> None:
    await ok(http, cti("c-early"))
    resp = await post(http, {**cti("c-early", "hangup"), "at": now_iso(-600)})
    out = await resp.json()
    assert resp.status == 422 and "at" in out["fields"], out


# --- SOS phone: one alarm for the call and the device event -----------------------------------

async def sos(http: TestClient, serial: str, event_id: str) -> int:
    body = event_body(event_id)
    resp = await http.post(f"/api/v1/devices/{serial}/events", data=body,
                           headers=signed_headers(body))
    out = await resp.json()
    assert resp.status == 202, out
    return int(out["alarm_id"])


async def test_sos_event_first_then_call_is_one_alarm(caller, http, db) -> None:
    alarm_id = await sos(http, "SOS-LGL-0001", "sos-1")
    out = await ok(http, cti("c-sos1"))
    assert out["alarm_id"] == alarm_id and out["elder_id"] == caller
    assert await db.fetchval("SELECT alarm_id FROM calls WHERE external_id = 'c-sos1'") == alarm_id
    assert await db.fetchval("SELECT count(*) FROM alarms WHERE kind = 'sos'") == 1
    [pop] = await outbox_rows(db, "call.ringing")
    assert pop["call"]["alarm_id"] == alarm_id
    assert pop["elder"]["recent_alarms"][0]["id"] == alarm_id


async def test_call_first_then_sos_event_is_one_alarm(caller, http, db) -> None:
    out = await ok(http, cti("c-sos2"))
    assert out["alarm_id"] is None
    alarm_id = await sos(http, "SOS-LGL-0001", "sos-2")
    assert await db.fetchval("SELECT alarm_id FROM calls WHERE external_id = 'c-sos2'") == alarm_id
    assert await db.fetchval("SELECT count(*) FROM alarms WHERE kind = 'sos'") == 1


async def test_old_or_closed_sos_alarm_is_not_linked(caller, http, db) -> None:
    alarm_id = await sos(http, "SOS-LGL-0001", "sos-old")
    await db.execute("UPDATE alarms SET created_at = now() - interval '3 minutes' WHERE id = $1",
                     alarm_id)
    assert (await ok(http, cti("c-late")))["alarm_id"] is None
    await db.execute("UPDATE alarms SET created_at = now(), state = 'resolved',"
                     " outcome = 'false_alarm' WHERE id = $1", alarm_id)
    assert (await ok(http, cti("c-after")))["alarm_id"] is None


async def test_shared_number_resolved_by_the_sos_alarm(caller, http, db) -> None:
    spouse = await factories.elder(db, "张德福", "371003001001", 309, [LANDLINE])
    alarm_id = await sos(http, "SOS-LGL-0001", "sos-shared")
    out = await ok(http, cti("c-shared-sos"))
    assert out["elder_id"] == caller != spouse and out["alarm_id"] == alarm_id


async def test_call_and_sos_event_together_are_always_one_alarm(world, db, http) -> None:
    """Twenty SOS phones each ring the hotline and send their event at the same moment."""
    elders = []
    for n in range(20):
        number = f"+86631520{n:04d}"
        elder_id = await factories.elder(db, "并发老人", "371003001001", 400 + n, [number])
        await factories.device(db, f"SOS-RACE-{n:04d}", elder_id)
        elders.append((elder_id, number))
    jobs = []
    for n, (_, number) in enumerate(elders):
        jobs.append(post(http, cti(f"c-race-{n}", ani=number)))
        jobs.append(sos(http, f"SOS-RACE-{n:04d}", f"race-{n}"))
    await asyncio.gather(*jobs)
    rows = await db.fetch("SELECT c.elder_id, c.alarm_id, a.elder_id AS alarm_elder FROM calls c"
                          " LEFT JOIN alarms a ON a.id = c.alarm_id")
    assert len(rows) == 20
    assert all(r["alarm_id"] is not None and r["alarm_elder"] == r["elder_id"] for r in rows)
    assert await db.fetchval("SELECT count(*) FROM alarms") == 20
