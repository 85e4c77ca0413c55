"""Device events (SPEC §4.1): signed, validated, stored once, turned into alarms — and answered
202 only after the commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from callcenter import alarm_rules as rules
from callcenter import alarms, geo, keys, outbox
from callcenter.errors import NotFound, PayloadTooLarge, Unauthorized, json_response
from callcenter.http import parse_object
from callcenter.routing import Routes
from callcenter.validation import ValidationError

routes = Routes("device-events", "设备事件接入 (device event intake, SPEC §4.1)")
MAX_BODY_BYTES = 64 * 1024
CLOCK_SKEW_S = 300

EVENT_BODY: dict[str, Any] = {
    "type": "object", "required": ["event_id", "type", "occurred_at"],
    "properties": {
        "event_id": {"type": "string", "maxLength": 100},
        "type": {"type": "string", "enum": list(rules.EVENT_TYPES)},
        "occurred_at": {"type": "string", "format": "date-time"},
        "location": {"type": "object", "required": ["lat", "lon"],
                     "properties": {"lat": {"type": "number"}, "lon": {"type": "number"},
                                    "crs": {"type": "string", "enum": ["wgs84", "gcj02"]},
                                    "accuracy_m": {"type": "number"}}},
        "battery": {"type": "integer", "minimum": 0, "maximum": 100},
        "extra": {"type": "object"},
    },
}


@dataclass(frozen=True)
class DeviceEvent:
    event_id: str
    type: str
    occurred_at: dt.datetime
    wgs84: tuple[float, float] | None
    gcj02: tuple[float, float] | None
    accuracy_m: float | None
    battery: int | None
    extra: dict[str, Any]


def signature_ok(secret: str, timestamp: str, signature: str, body: bytes, now_s: float) -> bool:
    """HMAC-SHA256 of `timestamp + "." + body`, hex; the timestamp within ±300 s of now."""
    if not timestamp.isdigit() or abs(now_s - int(timestamp)) > CLOCK_SKEW_S:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.lower())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature a device sends (used by the simulator, the bench and the tests)."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def parse_event(body: bytes) -> DeviceEvent:
    """Validate the JSON body; every wrong field is named."""
    data, errors = parse_object(body, EVENT_BODY["properties"])
    event_id = data.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= 100:
        errors["event_id"] = "应为1-100个字符的文本 (must be text of 1-100 characters)"
    kind = data.get("type")
    if kind not in rules.EVENT_TYPES:
        errors["type"] = f"应为以下之一 (must be one of): {', '.join(rules.EVENT_TYPES)}"
    occurred = _timestamp(data.get("occurred_at"), errors)
    wgs84 = gcj02 = None
    accuracy = None
    if "location" in data and data["location"] is not None:
        wgs84, gcj02, accuracy = _location(data["location"], errors)
    battery = data.get("battery")
    if battery is not None and (isinstance(battery, bool) or not isinstance(battery, int)
                                or not 0 <= battery <= 100):
        errors["battery"] = "应为0到100的整数 (must be a whole number 0-100)"
    extra = data.get("extra", {})
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        errors["extra"] = "应为 JSON 对象 (must be an object)"
    if kind == "location" and "location" not in errors and wgs84 is None:
        errors["location"] = "位置事件需要 location (a location event needs a location)"
    if errors:
        raise ValidationError(errors)
    assert occurred is not None
    return DeviceEvent(str(event_id), str(kind), occurred, wgs84, gcj02, accuracy, battery,
                       extra)


def _timestamp(value: Any, errors: dict[str, str]) -> dt.datetime | None:
    if not isinstance(value, str):
        errors["occurred_at"] = "应为 RFC 3339 时间 (must be an RFC 3339 time)"
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors["occurred_at"] = "应为 RFC 3339 时间 (must be an RFC 3339 time)"
        return None
    if parsed.tzinfo is None:
        errors["occurred_at"] = "需要时区 (needs a time zone offset, e.g. +08:00 or Z)"
        return None
    return parsed


def _location(value: Any, errors: dict[str, str]
              ) -> tuple[tuple[float, float] | None, tuple[float, float] | None, float | None]:
    if not isinstance(value, dict):
        errors["location"] = "应为 {lat, lon, crs, accuracy_m} (must be an object)"
        return None, None, None
    lat, lon = value.get("lat"), value.get("lon")
    crs = value.get("crs", "wgs84")
    accuracy = value.get("accuracy_m")
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                  for x in (lat, lon))
    if not numbers or not geo.in_china(float(lat), float(lon)):  # type: ignore[arg-type]
        errors["location"] = "lat/lon 应为中国境内的数字 (lat/lon must be numbers inside China)"
        return None, None, None
    if crs not in ("wgs84", "gcj02"):
        errors["location"] = "crs 应为 wgs84 或 gcj02 (crs must be wgs84 or gcj02)"
        return None, None, None
    if accuracy is not None and (not isinstance(accuracy, int | float) or isinstance(
            accuracy, bool) or not 0 <= accuracy <= 100000):
        errors["location"] = "accuracy_m 应为0到100000的数字 (accuracy_m must be 0-100000)"
        return None, None, None
    point = (float(lat), float(lon))  # type: ignore[arg-type]
    if crs == "wgs84":
        return point, geo.wgs84_to_gcj02(*point), accuracy
    return geo.gcj02_to_wgs84(*point), point, accuracy


_DEVICE = """
SELECT d.id, d.kind, d.secret, d.elder_id, d.status, d.geofence_lat, d.geofence_lon,
       d.geofence_radius_m, d.outside_geofence, e.region_code
FROM devices d LEFT JOIN elders e ON e.id = d.elder_id WHERE d.serial = $1
"""


# One statement stores the event once and applies it to the device: the device row is locked
# first (NO KEY UPDATE does not conflict with the KEY SHARE lock the device_events foreign key
# takes, so two events of one device queue here instead of deadlocking), the event inserted
# unless its (device, event_id) is known, and the device's heartbeat, battery, position and
# geofence state ($12, NULL: unchanged) updated only for a new event. Returns the device's
# geofence state before this event and the new row's id (NULL: a duplicate).
_STORE = """
WITH dev AS (SELECT outside_geofence FROM devices WHERE id = $1 FOR NO KEY UPDATE),
ins AS (
    INSERT INTO device_events (device_id, event_id, type, occurred_at, lat, lon, lat_gcj02,
                               lon_gcj02, accuracy_m, battery, extra)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::jsonb)
    ON CONFLICT (device_id, event_id) DO NOTHING RETURNING id),
upd AS (
    UPDATE devices SET last_heartbeat_at = greatest(last_heartbeat_at, $13),
        battery = coalesce($10, battery), last_lat = coalesce($5, last_lat),
        last_lon = coalesce($6, last_lon),
        last_location_at = CASE WHEN $5::float8 IS NULL THEN last_location_at ELSE $13 END,
        outside_geofence = coalesce($12, outside_geofence), updated_at = now()
    WHERE id = $1 AND EXISTS (SELECT 1 FROM ins))
SELECT (SELECT outside_geofence FROM dev) AS was_outside, (SELECT id FROM ins) AS inserted
"""


async def ingest(conn: asyncpg.Connection, device: asyncpg.Record, event: DeviceEvent,
                 now: dt.datetime, timings: alarms.Timings) -> tuple[int | None, bool]:
    """Store the event once and apply its rules; returns (alarm id, duplicate?). A heartbeat or
    a position inside the fence is one statement; an event that may raise an alarm is a
    transaction: the device's state is read under its lock, then the alarm raised or joined."""
    fence = None if device["geofence_lat"] is None else rules.Geofence(
        device["geofence_lat"], device["geofence_lon"], device["geofence_radius_m"])
    outside_now = rules.fence_state(fence, event.wgs84)
    args = (device["id"], event.event_id, event.type, event.occurred_at,
            *(event.wgs84 or (None, None)), *(event.gcj02 or (None, None)), event.accuracy_m,
            event.battery, json.dumps(event.extra, ensure_ascii=False), outside_now, now)
    if device["elder_id"] is None or not rules.may_raise(event.type, outside_now):
        stored = await conn.fetchrow(_STORE, *args)
        if stored["inserted"] is None:
            return await _earlier(conn, device["id"], event.event_id), True
        return None, False
    async with conn.transaction():
        stored = await conn.fetchrow(_STORE, *args)
        if stored["inserted"] is None:
            return await _earlier(conn, device["id"], event.event_id), True
        decision = rules.decide(event.type, fence=fence, was_outside=stored["was_outside"],
                                position=event.wgs84)
        if decision.raise_kind is None:
            return None, False
        alarm_id = await _alarm_for(conn, device, event, decision.raise_kind, now, timings)
        # the event points at its alarm; an SOS phone's call may have rung first: link it too
        await conn.execute(
            "WITH ev AS (UPDATE device_events SET alarm_id = $2 WHERE id = $1)"
            " UPDATE calls SET alarm_id = $2 WHERE $3 AND alarm_id IS NULL AND elder_id = $4"
            " AND ringing_at >= $5", stored["inserted"], alarm_id,
            decision.raise_kind == "sos", device["elder_id"], now - rules.SOS_MERGE_WINDOW)
        return alarm_id, False


async def _earlier(conn: asyncpg.Connection, device_id: int, event_id: str) -> int | None:
    """A repeated event answers with the alarm its first copy raised."""
    value = await conn.fetchval(
        "SELECT alarm_id FROM device_events WHERE device_id = $1 AND event_id = $2",
        device_id, event_id)
    return None if value is None else int(value)


async def _alarm_for(conn: asyncpg.Connection, device: asyncpg.Record, event: DeviceEvent,
                     kind: str, now: dt.datetime, timings: alarms.Timings) -> int:
    """The alarm this event belongs to: an open one it repeats (same condition, or an SOS call
    from the same elder in the last two minutes), else a new one."""
    if kind in ("wander", "inactivity", "low_battery"):
        open_id = await conn.fetchval(
            "SELECT id FROM alarms WHERE device_id = $1 AND kind = $2 AND state NOT IN"
            " ('resolved', 'closed')", device["id"], kind)
        if open_id is not None:
            return int(open_id)
    if kind == "sos":
        merged = await conn.fetchval(
            "SELECT id FROM alarms WHERE elder_id = $1 AND kind = 'sos' AND created_at >= $2"
            " AND state NOT IN ('resolved', 'closed') ORDER BY id DESC LIMIT 1",
            device["elder_id"], now - rules.SOS_MERGE_WINDOW)
        if merged is not None:
            return int(merged)
    location = None
    if event.wgs84 and event.gcj02:
        location = (*event.wgs84, *event.gcj02)
    # quiet: the device's answer waits for this commit, which must not queue behind every
    # other notifying commit's flush; the handler wakes the relays after it
    return await alarms.raise_alarm(
        conn, kind=kind, region_code=device["region_code"], elder_id=device["elder_id"],
        device_id=device["id"], now=now, timings=timings, location=location, quiet=True)


def timings_of(app: web.Application) -> alarms.Timings:
    s = app[keys.SETTINGS]
    return alarms.Timings(s.alarm_offer_s, s.alarm_city_s)


@routes.post("/api/v1/devices/{serial}/events", name="device_event", roles=None,
             body=EVENT_BODY, status=202,
             summary="设备事件：HMAC 签名，提交后才答 202 (a device event, HMAC-signed with the "
                     "device secret over `timestamp.body`; 202 only after commit, 200 duplicate)")
async def device_event(request: web.Request) -> web.Response:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(fields={"body": "超过64 KiB (larger than 64 KiB)"})
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(fields={"body": "超过64 KiB (larger than 64 KiB)"})
    serial = request.match_info["serial"]
    db = request.app[keys.DB]
    device = await db.fetchrow(_DEVICE, serial) if len(serial) <= 64 else None
    if device is None or device["status"] != "active":
        raise NotFound(fields={"serial": "未知设备 (unknown device)"})
    timestamp = request.headers.get("X-Anxin-Timestamp", "")
    signature = request.headers.get("X-Anxin-Signature", "")
    if not signature_ok(device["secret"], timestamp, signature, body, time.time()):
        raise Unauthorized("签名无效或时间戳偏差超过300秒 (bad or missing signature, or the "
                           "timestamp is more than 300 s off)",
                           fields={"X-Anxin-Signature": "无效 (invalid)"})
    event = parse_event(body)
    now = dt.datetime.now(dt.UTC)
    async with db.acquire() as conn:
        alarm_id, duplicate = await ingest(conn, device, event, now, timings_of(request.app))
    if alarm_id is not None and not duplicate:
        request.app[outbox.WAKER].poke()
    return json_response({"event_id": event.event_id, "alarm_id": alarm_id,
                          "duplicate": duplicate}, status=200 if duplicate else 202)
