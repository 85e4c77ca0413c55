"""Service orders in PostgreSQL: create, apply a transition, read cards and timelines.

Every change goes through `apply`, under the order's row lock, in the caller's transaction: the
pure `states.transition` decides, the row is updated, an `events` row records who did what, and
the outbox carries the live event (to consoles of the region and to the provider staff and
admins concerned) and, when the order is (back) in the queue, its dispatch entry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import asyncpg

from callcenter import outbox
from callcenter.validation import mask_id
from dispatch import states

DISPATCH_TOPIC = "dispatch"


class OrderRefused(Exception):
    """A step the order's state, the actor or the facts do not allow (HTTP 409/422)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class OrderNotFound(Exception):
    pass


CARD_SQL = """
SELECT o.id, o.elder_id, o.kind, o.state, o.priority, o.item_code, o.note, o.source, o.region_code,
       o.window_start, o.window_end, o.price_cents, o.subsidy_eligible, o.staff_id,
       o.provider_id, o.widened, o.reason, o.created_at, o.updated_at, o.accepted_at,
       o.en_route_at, o.checked_in_at, o.checkin_distance_m, o.checked_out_at, o.checkout_note,
       o.alarm_id, o.call_id, o.plan_id, o.missed_alarm_id, o.created_by,
       i.name_zh AS item_name, i.name_en AS item_name_en, i.duration_min, i.skill_code,
       e.name AS elder_name, e.id_number, e.address, e.phones, e.lat, e.lon, e.lat_gcj02,
       e.lon_gcj02, r.name AS region_name, r.path AS region_path,
       st.name AS staff_name, st.phone AS staff_phone, p.name AS provider_name
FROM orders o JOIN elders e ON e.id = o.elder_id JOIN regions r ON r.code = o.region_code
LEFT JOIN service_items i ON i.code = o.item_code
LEFT JOIN staff st ON st.id = o.staff_id LEFT JOIN providers p ON p.id = o.provider_id
"""


def card(row: Mapping[str, Any]) -> dict[str, Any]:
    """What consoles and provider pages show of an order (the elder's ID masked)."""
    d = dict(row)
    zh, en = states.LABELS[d["state"]]
    duration = None
    if d["checked_in_at"] and d["checked_out_at"]:
        duration = int((d["checked_out_at"] - d["checked_in_at"]).total_seconds())
    return {
        "id": d["id"], "kind": d["kind"], "state": d["state"], "state_label": zh,
        "state_label_en": en, "priority": d["priority"], "source": d["source"],
        "item": {"code": d["item_code"], "name": d["item_name"], "name_en": d["item_name_en"],
                 "duration_min": d["duration_min"], "skill": d["skill_code"]},
        "note": d["note"], "region_code": d["region_code"], "region_name": d["region_name"],
        "window_start": d["window_start"], "window_end": d["window_end"],
        "price_cents": d["price_cents"], "subsidy_eligible": d["subsidy_eligible"],
        "elder": {"id": d["elder_id"], "name": d["elder_name"],
                  "id_number": mask_id(d["id_number"]), "address": d["address"],
                  "phones": d["phones"],
                  "location": None if d["lat"] is None else {
                      "lat": d["lat"], "lon": d["lon"], "lat_gcj02": d["lat_gcj02"],
                      "lon_gcj02": d["lon_gcj02"]}},
        "staff": None if d["staff_id"] is None else {
            "id": d["staff_id"], "name": d["staff_name"], "phone": d["staff_phone"]},
        "provider": None if d["provider_id"] is None else {
            "id": d["provider_id"], "name": d["provider_name"]},
        "widened": d["widened"], "reason": d["reason"], "created_at": d["created_at"],
        "updated_at": d["updated_at"], "accepted_at": d["accepted_at"],
        "en_route_at": d["en_route_at"], "checked_in_at": d["checked_in_at"],
        "checkin_distance_m": d["checkin_distance_m"], "checked_out_at": d["checked_out_at"],
        "checkout_note": d["checkout_note"], "duration_s": duration, "alarm_id": d["alarm_id"],
        "call_id": d["call_id"], "plan_id": d["plan_id"], "missed_alarm_id": d["missed_alarm_id"],
    }


async def load_card(conn: asyncpg.Connection | asyncpg.Pool, order_id: int) -> dict[str, Any]:
    row = await conn.fetchrow(CARD_SQL + " WHERE o.id = $1", order_id)
    if row is None:
        raise OrderNotFound(order_id)
    return card(row)


async def record_event(conn: asyncpg.Connection, order_id: int, from_state: str | None,
                       to_state: str, event: str, actor: str, *, user_id: int | None = None,
                       payload: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO events (entity_type, entity_id, actor_user_id, actor_kind, from_state,"
        " to_state, payload) VALUES ('order', $1, $2, $3, $4, $5, $6::text::jsonb)",
        order_id, user_id, _actor_kind(actor), from_state, to_state,
        event_json(event, actor, payload))


def _actor_kind(actor: str) -> str:
    return "user" if actor in ("operator", "staff", "provider_admin") else actor


def event_json(event: str, actor: str, payload: dict[str, Any] | None) -> str:
    return json.dumps({"event": event, "actor": actor, **(payload or {})}, ensure_ascii=False,
                      default=str)


async def create(conn: asyncpg.Connection, *, elder_id: int, item_code: str, now: dt.datetime,
                 kind: str = "service", source: str = "console", note: str = "",
                 window: tuple[dt.datetime, dt.datetime] | None = None, priority: int = 3,
                 call_id: int | None = None, plan_id: int | None = None,
                 alarm_id: int | None = None, user_id: int | None = None) -> int | None:
    """Insert an order (price and subsidy flag from the catalogue) and queue it unless its window
    is still ahead. Returns None when a plan's visit already has its order."""
    start, end = window if window else (None, None)
    inserted = await conn.fetchrow(
        "INSERT INTO orders (elder_id, item_code, kind, state, priority, alarm_id, note,"
        " created_by, created_at, updated_at, region_code, call_id, plan_id, source,"
        " window_start, window_end, price_cents, subsidy_eligible)"
        " SELECT e.id, i.code, $3, 'created', $4, $5, $6, $7, $8, $8, e.region_code, $9, $10,"
        " $11, $12, $13, i.price_cents, i.subsidy_eligible"
        " FROM elders e, service_items i WHERE e.id = $1 AND i.code = $2"
        " ON CONFLICT (plan_id, window_start) WHERE plan_id IS NOT NULL DO NOTHING"
        f" RETURNING {LOCKED_COLUMNS}", elder_id, item_code, kind, priority, alarm_id, note,
        user_id, now, call_id, plan_id, source, start, end)
    if inserted is None:
        return None
    order_id = inserted["id"]
    actor = "operator" if user_id is not None else "system"
    await record_event(conn, order_id, None, "created", "create", actor, user_id=user_id,
                       payload={"source": source, "item_code": item_code})
    if call_id is not None:
        await conn.execute("UPDATE calls SET order_id = $2 WHERE id = $1 AND order_id IS NULL",
                           call_id, order_id)
    if start is None or start <= now:  # the new row is ours: no need to lock it again
        await apply(conn, order_id, "enqueue", "system", now=now, row=inserted)
    else:
        await announce(conn, order_id, "create", [], now)
    return int(order_id)


LOCKED_COLUMNS = "id, state, kind, region_code, staff_id, provider_id, elder_id, checked_in_at"


async def lock(conn: asyncpg.Connection, order_id: int) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {LOCKED_COLUMNS} FROM orders WHERE id = $1 FOR UPDATE", order_id)
    if row is None:
        raise OrderNotFound(order_id)
    return row


async def apply(conn: asyncpg.Connection, order_id: int, event: str, actor: str, *,
                now: dt.datetime, user_id: int | None = None,
                payload: dict[str, Any] | None = None, updates: dict[str, Any] | None = None,
                audience: list[int] | None = None, row: asyncpg.Record | None = None
                ) -> tuple[str, str]:
    """Take one step of the order's life; returns (from, to). Raises OrderRefused."""
    row = row or await lock(conn, order_id)
    before = row["state"]
    after = states.transition(before, event, actor)
    if isinstance(after, states.Refusal):
        raise OrderRefused(after.code, after.message, state=before)
    cols = {"state": after, "updated_at": now, **(updates or {})}
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(cols, start=2))
    n = len(cols) + 2  # the parameters after the id and the new values
    # one round trip: the update, its event row, and the card with its audience
    card_row = await conn.fetchrow(
        f"WITH upd AS (UPDATE orders SET {assignments} WHERE id = $1 RETURNING *),"
        " ev AS (INSERT INTO events (entity_type, entity_id, actor_user_id, actor_kind,"
        " from_state, to_state, payload) SELECT 'order', upd.id, "
        f"${n}::bigint, ${n + 1}::text, ${n + 2}::text, upd.state, ${n + 3}::text::jsonb"
        " FROM upd)\n" + _announce_sql("upd", n + 4, n + 5, ""),
        order_id, *cols.values(), user_id, _actor_kind(actor), before,
        event_json(event, actor, payload), audience or [], now)
    rows = [_live_row(event, card_row)]
    if after == "queued":
        rows.append((DISPATCH_TOPIC, "order.queued", row["region_code"],
                     {"order_id": order_id, "urgent": row["kind"] == "emergency_check"}))
    await outbox.add_many(conn, rows)
    return before, after


async def announce(conn: asyncpg.Connection, order_id: int, event: str, offered_to: list[int],
                   now: dt.datetime | None = None) -> None:
    """The live event: consoles of the region see it; so do the staff concerned (the order's
    assignee, those with a pending offer, those whose offer this step answered, withdrew or
    expired) and their providers' admins (the `audience`)."""
    row = await conn.fetchrow(_ANNOUNCE_SQL, order_id, offered_to, now)
    if row is None:
        raise OrderNotFound(order_id)
    await outbox.add_many(conn, [_live_row(event, row)])


def _live_row(event: str, row: asyncpg.Record) -> tuple[str, str, str, dict[str, Any]]:
    return (outbox.LIVE_STREAM, f"order.{event}", row["region_code"], {
        "order": card(row), "event": event,
        "audience": {"staff": sorted(row["audience_staff"]),
                     "providers": sorted(row["audience_providers"])}})


def _announce_sql(source: str, offered: int, now: int, where: str) -> str:
    """The card and everyone concerned (index lookups only: no OR over staff), read from
    `source` (the orders table, or the CTE of an update in the same statement)."""
    return CARD_SQL.replace(
        "FROM orders o", ", aud.ids AS audience_staff, ARRAY(SELECT DISTINCT x.provider_id"
        " FROM staff x WHERE x.id = ANY(aud.ids)) AS audience_providers"
        f"\nFROM {source} o", 1) + f"""\
CROSS JOIN LATERAL (SELECT ARRAY(
    SELECT DISTINCT c.id FROM (
        SELECT o.staff_id AS id UNION ALL SELECT unnest(${offered}::bigint[])
        UNION ALL SELECT f.staff_id FROM offers f
        WHERE f.order_id = o.id AND (f.state = 'pending' OR f.answered_at = ${now})) c
    WHERE c.id IS NOT NULL) AS ids) aud
{where}"""


_ANNOUNCE_SQL = _announce_sql("orders", 2, 3, "WHERE o.id = $1")


async def timeline(conn: asyncpg.Connection | asyncpg.Pool, order_id: int
                   ) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT ev.id, ev.at, ev.actor_kind, ev.from_state, ev.to_state, ev.payload,"
        " coalesce(u.display_name, st.name) AS actor_name, u.role AS actor_role FROM events ev"
        " LEFT JOIN users u ON u.id = ev.actor_user_id"
        " LEFT JOIN staff st ON ev.payload->>'actor' = 'staff'"
        "  AND st.id = (ev.payload->>'staff_id')::bigint"
        " WHERE ev.entity_type = 'order' AND ev.entity_id = $1 ORDER BY ev.id", order_id)
    out = []
    for row in rows:
        d = dict(row)
        payload = d["payload"] if isinstance(d["payload"], dict) else json.loads(d["payload"])
        out.append({"id": d["id"], "at": d["at"], "event": payload.get("event"),
                    "actor": payload.get("actor"), "actor_name": d["actor_name"],
                    "from_state": d["from_state"], "to_state": d["to_state"],
                    "detail": {k: v for k, v in payload.items() if k not in ("event", "actor")}})
    return out
