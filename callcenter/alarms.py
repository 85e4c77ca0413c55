"""Alarms: raise, offer to an operator (ACD), escalate, acknowledge, handle, resolve, close.

Every function takes the connection of the caller's transaction, so an alarm, its event rows and
the live events announcing it commit together or not at all. Decisions are in alarm_rules.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg

from callcenter import alarm_rules as rules
from callcenter import care, outbox
from callcenter.validation import mask_id
from dispatch import orders

log = logging.getLogger("callcenter.alarms")


class AlarmConflict(Exception):
    """The alarm is no longer in a state that allows the action (someone else has it)."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Timings:
    offer_s: int
    city_s: int


async def record_event(conn: asyncpg.Connection, alarm_id: int, from_state: str | None,
                       to_state: str, *, actor_user_id: int | None = None,
                       actor_kind: str = "system", payload: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO events (entity_type, entity_id, actor_user_id, actor_kind, from_state,"
        " to_state, payload) VALUES ('alarm', $1, $2, $3, $4, $5, $6::text::jsonb)",
        alarm_id, actor_user_id, actor_kind, from_state, to_state, _json(payload or {}))


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, default=str)


CARD_SQL = """
SELECT a.id, a.kind, a.priority, a.state, a.escalation_level, a.region_code, a.offered_to,
       a.acknowledged_by, a.created_at, a.acknowledged_at, a.outcome, a.source,
       a.lat, a.lon, a.lat_gcj02, a.lon_gcj02,
       e.id AS elder_id, e.name AS elder_name, e.birth_date, e.sex, e.risk_groups, e.address,
       e.phones, e.id_number, e.lat_gcj02 AS home_lat_gcj02, e.lon_gcj02 AS home_lon_gcj02,
       r.name AS region_name, r.path AS region_path,
       d.serial AS device_serial, d.kind AS device_kind,
       ou.display_name AS offered_to_name, au.display_name AS acknowledged_by_name
FROM alarms a JOIN regions r ON r.code = a.region_code
LEFT JOIN elders e ON e.id = a.elder_id LEFT JOIN devices d ON d.id = a.device_id
LEFT JOIN users ou ON ou.id = a.offered_to LEFT JOIN users au ON au.id = a.acknowledged_by
"""


def card(row: asyncpg.Record, today: dt.date) -> dict[str, Any]:
    """What a console shows of an alarm (the ID number masked; the record page shows it)."""
    birth = row["birth_date"]
    age = None if birth is None else today.year - birth.year - (
        (today.month, today.day) < (birth.month, birth.day))
    return {
        "id": row["id"], "kind": row["kind"], "priority": row["priority"], "state": row["state"],
        "escalation_level": row["escalation_level"], "region_code": row["region_code"],
        "region_name": row["region_name"], "created_at": row["created_at"],
        "acknowledged_at": row["acknowledged_at"], "outcome": row["outcome"],
        "offered_to": row["offered_to"], "offered_to_name": row["offered_to_name"],
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_by_name": row["acknowledged_by_name"], "source": row["source"],
        "location": None if row["lat"] is None else {
            "lat": row["lat"], "lon": row["lon"], "lat_gcj02": row["lat_gcj02"],
            "lon_gcj02": row["lon_gcj02"]},
        "elder": None if row["elder_id"] is None else {
            "id": row["elder_id"], "name": row["elder_name"], "age": age, "sex": row["sex"],
            "risk_groups": row["risk_groups"], "address": row["address"],
            "phones": row["phones"], "id_number": mask_id(row["id_number"]),
            "home": None if row["home_lat_gcj02"] is None else {
                "lat_gcj02": row["home_lat_gcj02"], "lon_gcj02": row["home_lon_gcj02"]}},
        "device": None if row["device_serial"] is None else {
            "serial": row["device_serial"], "kind": row["device_kind"]},
    }


async def load_card(conn: asyncpg.Connection | asyncpg.Pool, alarm_id: int, today: dt.date
                    ) -> dict[str, Any]:
    row = await conn.fetchrow(CARD_SQL + " WHERE a.id = $1", alarm_id)
    assert row is not None
    return card(row, today)


async def _announce(conn: asyncpg.Connection, kind: str, alarm_id: int, now: dt.datetime,
                    extra: dict[str, Any] | None = None) -> None:
    data = await load_card(conn, alarm_id, now.date())
    if extra:
        data.update(extra)
    await outbox.add(conn, kind, data["region_code"], {"alarm": data})


# One statement raises an alarm and offers it (SPEC §5.1): the most local free operator with the
# emergency skill (locked and skipped, so two alarms never pick one operator at once), else the
# whole region at once; the alarm row, its three event rows (received → queued → offered) and the
# card come back together. $12/$13: the next escalation for an operator's offer / a region's.
_RAISE_SQL = """
WITH op AS (
    SELECT p.user_id FROM operator_presence p
    JOIN users u ON u.id = p.user_id JOIN regions r ON r.code = u.region_code
    CROSS JOIN (SELECT path FROM regions WHERE code = $3) target
    WHERE u.role = 'operator' AND u.active AND p.on_duty AND p.available
      AND 'emergency' = ANY (u.skills)
      AND (target.path = r.path OR target.path LIKE r.path || '.%')
    ORDER BY length(r.path) DESC, p.last_offered_at NULLS FIRST, p.user_id
    LIMIT 1 FOR UPDATE OF p SKIP LOCKED),
presence AS (
    UPDATE operator_presence p SET last_offered_at = $11 FROM op WHERE p.user_id = op.user_id),
ins AS (
    INSERT INTO alarms (elder_id, device_id, region_code, kind, priority, state, source, lat, lon,
                        lat_gcj02, lon_gcj02, created_at, offered_to, offered_at,
                        escalation_level, next_escalation_at)
    SELECT $1, $2, $3, $4, $5, 'offered', $6, $7, $8, $9, $10, $11, op.user_id, $11,
           CASE WHEN op.user_id IS NULL THEN 1 ELSE 0 END,
           CASE WHEN op.user_id IS NULL THEN $13::timestamptz ELSE $12::timestamptz END
    FROM (SELECT 1) one LEFT JOIN op ON true
    RETURNING *),
ev AS (
    INSERT INTO events (entity_type, entity_id, actor_kind, from_state, to_state, payload)
    SELECT 'alarm', ins.id, x.actor, x.from_state, x.to_state, x.payload
    FROM ins CROSS JOIN LATERAL (VALUES
        (1, $6::text, NULL::text, 'received'::text, jsonb_build_object('kind', $4::text)),
        (2, 'system', 'received', 'queued', '{}'::jsonb),
        (3, 'system', 'queued', 'offered', jsonb_build_object(
            'offered_to', ins.offered_to, 'level', ins.escalation_level,
            'reason', CASE WHEN ins.offered_to IS NULL THEN 'no free operator: whole region'
                           ELSE 'free operator' END))
    ) AS x(n, actor, from_state, to_state, payload) ORDER BY x.n)
""" + CARD_SQL.replace("FROM alarms a", "FROM ins a", 1)


async def raise_alarm(conn: asyncpg.Connection, *, kind: str, region_code: str,
                      elder_id: int | None, device_id: int | None, now: dt.datetime,
                      timings: Timings, source: str = "device",
                      location: tuple[float, float, float, float] | None = None,
                      quiet: bool = False) -> int:
    """Create an alarm and offer it: to the most local free operator with the emergency skill,
    or, when none is free, at once to every operator of the region. Two round trips: the
    statement above and its live event (`quiet`: see outbox.add)."""
    lat, lon, glat, glon = location or (None, None, None, None)
    to_one = rules.escalation_after(0, now, offer_s=timings.offer_s, city_s=timings.city_s)
    to_region = rules.escalation_after(1, now, offer_s=timings.offer_s, city_s=timings.city_s)
    row = await conn.fetchrow(_RAISE_SQL, elder_id, device_id, region_code, kind,
                              rules.PRIORITY[kind], source, lat, lon, glat, glon, now,
                              to_one.deadline, to_region.deadline)
    if row is None:
        raise ValueError(f"unknown region {region_code}")
    await outbox.add(conn, "alarm.new", region_code, {"alarm": card(row, now.date())},
                     quiet=quiet)
    return int(row["id"])


async def escalate_due(conn: asyncpg.Connection, now: dt.datetime, timings: Timings,
                       limit: int = 200) -> list[int]:
    """Escalate unacknowledged alarms whose deadline has passed; safe in several processes
    (rows are locked and skipped, so each step happens once)."""
    rows = await conn.fetch(
        "SELECT id, created_at, escalation_level, state FROM alarms"
        " WHERE next_escalation_at <= $1 AND state IN ('queued', 'offered')"
        " ORDER BY next_escalation_at LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)
    done: list[int] = []
    for row in rows:
        level = max(row["escalation_level"] + 1, rules.level_due(
            row["created_at"], now, offer_s=timings.offer_s, city_s=timings.city_s))
        step = rules.escalation_after(min(level, 2), row["created_at"], offer_s=timings.offer_s,
                                      city_s=timings.city_s)
        await conn.execute(
            "UPDATE alarms SET state = 'offered', offered_to = NULL, escalation_level = $2,"
            " next_escalation_at = $3 WHERE id = $1", row["id"], step.level, step.deadline)
        await record_event(conn, row["id"], row["state"], "offered",
                           payload={"escalated_to_level": step.level})
        await _announce(conn, "alarm.escalated", row["id"], now, {"level": step.level})
        done.append(row["id"])
    return done


async def acknowledge(conn: asyncpg.Connection, alarm_id: int, user_id: int, now: dt.datetime
                      ) -> None:
    """Take the alarm; of two operators clicking at once exactly one wins."""
    row = await conn.fetchrow(
        "WITH before AS (SELECT id, state FROM alarms WHERE id = $1 FOR UPDATE)"
        " UPDATE alarms a SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3,"
        " next_escalation_at = NULL FROM before WHERE a.id = before.id"
        " AND before.state IN ('queued', 'offered') RETURNING before.state", alarm_id, user_id,
        now)
    if row is None:
        holder = await conn.fetchrow(
            "SELECT a.state, u.display_name FROM alarms a LEFT JOIN users u"
            " ON u.id = a.acknowledged_by WHERE a.id = $1", alarm_id)
        name = holder["display_name"] if holder else None
        raise AlarmConflict(f"已由{name}受理 (already taken by {name})" if name
                            else "该警情不可受理 (this alarm cannot be acknowledged)", name)
    await record_event(conn, alarm_id, row["state"], "acknowledged", actor_user_id=user_id,
                       actor_kind="user")
    await _announce(conn, "alarm.acknowledged", alarm_id, now)


EMERGENCY_ITEM = "EM001"  # 紧急上门查看 Emergency on-site check
ACTIONS = ("note", "call_elder", "call_contact", "emergency_call", "onsite_check")


async def act(conn: asyncpg.Connection, alarm_id: int, user_id: int, action: str,
              payload: dict[str, Any], now: dt.datetime) -> int | None:
    """A handling step; the first one moves the alarm to in_progress. Returns an order id for
    an on-site check."""
    state = await _lock_state(conn, alarm_id, user_id)
    new_state = _step(state, "handle")
    order_id = None
    if action == "onsite_check":
        elder_id = await conn.fetchval("SELECT elder_id FROM alarms WHERE id = $1", alarm_id)
        if elder_id is None:
            raise AlarmConflict("无老人信息，无法派单 (no elder on this alarm to send anyone to)")
        order_id = await orders.create(
            conn, elder_id=elder_id, item_code=EMERGENCY_ITEM, kind="emergency_check",
            source="alarm", note=payload.get("note", ""), priority=1, alarm_id=alarm_id,
            user_id=user_id, now=now)
        if order_id is None:
            raise AlarmConflict("服务目录中没有紧急上门查看项目 (the catalogue has no emergency"
                                f" on-site check item {EMERGENCY_ITEM})")
        payload = {**payload, "order_id": order_id}
    await conn.execute("UPDATE alarms SET state = $2 WHERE id = $1", alarm_id, new_state)
    await record_event(conn, alarm_id, state, new_state, actor_user_id=user_id,
                       actor_kind="user", payload={"action": action, **payload})
    await _announce(conn, "alarm.updated", alarm_id, now, {"action": action})
    return order_id


async def resolve(conn: asyncpg.Connection, alarm_id: int, user_id: int, outcome: str,
                  note: str, now: dt.datetime) -> None:
    state = await _lock_state(conn, alarm_id, user_id)
    new_state = _step(state, "resolve")
    await conn.execute("UPDATE alarms SET state = $2, outcome = $3, outcome_note = $4,"
                       " resolved_at = $5 WHERE id = $1", alarm_id, new_state, outcome, note, now)
    await record_event(conn, alarm_id, state, new_state, actor_user_id=user_id,
                       actor_kind="user", payload={"outcome": outcome, "note": note})
    await _announce(conn, "alarm.resolved", alarm_id, now)
    await care.after_alarm(conn, alarm_id, user_id, now)  # the follow-up call (active care)


async def close(conn: asyncpg.Connection, alarm_id: int, user_id: int, now: dt.datetime) -> None:
    state = await _lock_state(conn, alarm_id, user_id)
    new_state = _step(state, "close")
    await conn.execute("UPDATE alarms SET state = $2, closed_at = $3 WHERE id = $1",
                       alarm_id, new_state, now)
    await record_event(conn, alarm_id, state, new_state, actor_user_id=user_id,
                       actor_kind="user")
    await _announce(conn, "alarm.closed", alarm_id, now)


async def _lock_state(conn: asyncpg.Connection, alarm_id: int, user_id: int) -> str:
    """Lock the alarm; only the operator who acknowledged it (or an admin) may handle it."""
    row = await conn.fetchrow(
        "SELECT a.state, a.acknowledged_by, h.display_name AS holder,"
        " (SELECT role FROM users WHERE id = $2) AS role FROM alarms a"
        " LEFT JOIN users h ON h.id = a.acknowledged_by WHERE a.id = $1 FOR UPDATE OF a",
        alarm_id, user_id)
    if row is None:
        raise AlarmConflict("警情不存在 (no such alarm)")
    if row["acknowledged_by"] not in (None, user_id) and row["role"] != "admin":
        raise AlarmConflict(f"该警情由{row['holder']}处置 (handled by {row['holder']})",
                            row["holder"])
    return str(row["state"])


def _step(state: str, action: str) -> str:
    try:
        return rules.transition(state, action)
    except rules.TransitionError:
        raise AlarmConflict(f"当前状态为{state}，不能执行该操作 (not allowed while {state})") \
            from None
