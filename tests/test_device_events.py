"""SPEC §4.1 device events: every failure answer, idempotency, rules, and 202 only after commit."""

import asyncio
import time

import asyncpg
import pytest

from tests import factories
from tests.factories import event_body, signed_headers

URL = "/api/v1/devices/{}/events"


@pytest.fixture
async def devices(world, db: asyncpg.Connection) -> dict[str, int]:
    return {
        "sos": await factories.device(db, "SOS-WD-0001", world["elder_wendeng"]),
        "bracelet": await factories.device(db, "BR-WD-0001", world["elder_wendeng"], "bracelet",
                                           fence=(37.19, 122.05, 500)),
    }


async def post(client, serial: str, body: bytes, headers: dict[str, str] | None = None):
    return await client.http.post(URL.format(serial), data=body,
                                  headers=signed_headers(body) if headers is None else headers)


async def test_sos_raises_an_alarm_committed_before_202(devices, client, db) -> None:
    resp = await post(client, "SOS-WD-0001", event_body("e-1"))
    out = await resp.json()
    assert resp.status == 202, out
    assert out["duplicate"] is False and out["alarm_id"]
    alarm = await db.fetchrow("SELECT kind, state, priority, elder_id FROM alarms WHERE id = $1",
                              out["alarm_id"])
    assert alarm["kind"] == "sos" and alarm["priority"] == 1
    assert alarm["state"] == "offered"  # no operator on duty: offered to the whole region
    states = [r["to_state"] for r in await db.fetch(
        "SELECT to_state FROM events WHERE entity_type = 'alarm' AND entity_id = $1 ORDER BY id",
        out["alarm_id"])]
    assert states == ["received", "queued", "offered"]
    assert await db.fetchval("SELECT count(*) FROM outbox WHERE kind = 'alarm.new'") == 1


async def test_repeat_is_200_duplicate_with_same_alarm(devices, client, db) -> None:
    first = await (await post(client, "SOS-WD-0001", event_body("e-dup"))).json()
    again = await post(client, "SOS-WD-0001", event_body("e-dup"))
    body = await again.json()
    assert again.status == 200 and body["duplicate"] is True
    assert body["alarm_id"] == first["alarm_id"]
    assert await db.fetchval("SELECT count(*) FROM alarms") == 1


async def test_concurrent_duplicates_make_one_alarm(devices, app_client, db) -> None:
    clients = [await app_client() for _ in range(8)]
    body = event_body("e-race")
    answers = await asyncio.gather(*(post(c, "SOS-WD-0001", body) for c in clients))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 7 + [202]
    ids = {(await a.json())["alarm_id"] for a in answers}
    assert len(ids) == 1
    assert await db.fetchval("SELECT count(*) FROM alarms") == 1
    assert await db.fetchval("SELECT count(*) FROM device_events") == 1


@pytest.mark.parametrize("case", ["missing", "wrong", "other_secret", "stale", "future",
                                  "not_a_number"])
async def test_bad_signature_or_time_is_401(devices, client, db, case: str) -> None:
    body = event_body("e-sig")
    now = int(time.time())
    headers = {
        "missing": {"Content-Type": "application/json"},
        "wrong": {**signed_headers(body), "X-Anxin-Signature": "00" * 32},
        "other_secret": signed_headers(body, secret="another-secret-123456"),
        "stale": signed_headers(body, ts=now - 301),
        "future": signed_headers(body, ts=now + 305),  # int() floors: leave room
        "not_a_number": {**signed_headers(body), "X-Anxin-Timestamp": "soon"},
    }[case]
    resp = await post(client, "SOS-WD-0001", body, headers)
    assert resp.status == 401, await resp.text()
    assert (await resp.json())["error"] == "unauthorized"
    assert await db.fetchval("SELECT count(*) FROM device_events") == 0


async def test_signature_is_over_the_raw_body(devices, client) -> None:
    body = event_body("e-raw")
    headers = signed_headers(body)
    tampered = body.replace(b'"sos"', b'"fall"')
    assert (await post(client, "SOS-WD-0001", tampered, headers)).status == 401


async def test_unknown_device_is_404(devices, client) -> None:
    resp = await post(client, "NOPE-0001", event_body("e-x"))
    assert resp.status == 404 and "serial" in (await resp.json())["fields"]


async def test_oversize_body_is_413(devices, client) -> None:
    body = event_body("e-big", extra={"blob": "x" * 70_000})
    resp = await post(client, "SOS-WD-0001", body)
    assert resp.status == 413


@pytest.mark.parametrize("body, field", [
    (b"{not json", "body"),
    (b"[1, 2]", "body"),
    (event_body("e", kind="explode"), "type"),
    (event_body("", kind="sos"), "event_id"),
    (event_body("e", occurred_at="yesterday"), "occurred_at"),
    (event_body("e", occurred_at="2026-11-23T08:00:00"), "occurred_at"),  # no offset
    (event_body("e", battery=150), "battery"),
    (event_body("e", battery="full"), "battery"),
    (event_body("e", location={"lat": 51.5, "lon": -0.1}), "location"),
    (event_body("e", location={"lat": "a", "lon": 1}), "location"),
    (event_body("e", location={"lat": 37.2, "lon": 122.0, "crs": "bd09"}), "location"),
    (event_body("e", kind="location"), "location"),
    (event_body("e", extra=[1]), "extra"),
    (event_body("e", colour="red"), "colour"),
])
async def test_invalid_body_is_422_naming_the_field(devices, client, db, body: bytes,
                                                    field: str) -> None:
    resp = await post(client, "SOS-WD-0001", body)
    out = await resp.json()
    assert resp.status == 422, out
    assert field in out["fields"], out
    assert await db.fetchval("SELECT count(*) FROM device_events") == 0


async def test_heartbeat_updates_device_without_alarm(devices, client, db) -> None:
    resp = await post(client, "SOS-WD-0001", event_body("hb-1", kind="heartbeat", battery=64))
    assert resp.status == 202 and (await resp.json())["alarm_id"] is None
    row = await db.fetchrow("SELECT battery, last_heartbeat_at FROM devices WHERE id = $1",
                            devices["sos"])
    assert row["battery"] == 64 and row["last_heartbeat_at"] is not None


async def test_geofence_leave_raises_wander_once_per_excursion(devices, client, db) -> None:
    def loc(n: int, lat: float) -> bytes:
        return event_body(f"loc-{n}", kind="location", location={"lat": lat, "lon": 122.05})

    inside, outside = 37.1902, 37.23
    answers = []
    for n, lat in enumerate([inside, outside, outside, outside]):
        answers.append(await (await post(client, "BR-WD-0001", loc(n, lat))).json())
    alarm_ids = [a["alarm_id"] for a in answers]
    assert alarm_ids[0] is None and alarm_ids[1] is not None
    assert alarm_ids[2] is None and alarm_ids[3] is None  # same excursion: no new alarm
    wander = await db.fetchrow("SELECT kind, lat, lat_gcj02 FROM alarms WHERE id = $1",
                               alarm_ids[1])
    assert wander["kind"] == "wander" and wander["lat"] == outside
    assert wander["lat_gcj02"] != wander["lat"]  # GCJ-02 kept beside WGS-84
    # back home, then out again while the first wander alarm is still open: same alarm
    await post(client, "BR-WD-0001", loc(10, inside))
    again = await (await post(client, "BR-WD-0001", loc(11, outside))).json()
    assert again["alarm_id"] == alarm_ids[1]
    assert await db.fetchval("SELECT count(*) FROM alarms WHERE kind = 'wander'") == 1


async def test_low_battery_is_a_low_priority_notice(devices, client, db) -> None:
    out = await (await post(client, "BR-WD-0001",
                            event_body("lb-1", kind="low_battery", battery=8))).json()
    assert await db.fetchval("SELECT priority FROM alarms WHERE id = $1", out["alarm_id"]) == 5
    repeat = await (await post(client, "BR-WD-0001",
                               event_body("lb-2", kind="low_battery", battery=7))).json()
    assert repeat["alarm_id"] == out["alarm_id"]


async def test_demo_feed_sends_signed_events_through_http(world, db, settings) -> None:
    """The demo's pretend device goes through the real, signed HTTP path."""
    import asyncio

    from aiohttp import web

    from callcenter.app import create_app
    from callcenter.demo_feed import feed_ctx
    from callcenter.embedded import free_port

    await factories.device(db, "SOS-DEMO-1", world["elder_wendeng"])
    port = free_port()
    app = create_app(settings.replace(port=port, host="127.0.0.1"))
    app.cleanup_ctx.append(feed_ctx(0.05, seed=1))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        for _ in range(200):
            if await db.fetchval("SELECT count(*) FROM device_events") >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert await db.fetchval("SELECT count(*) FROM device_events") >= 3
