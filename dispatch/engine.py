"""Match a queued order and offer it (SPEC §5.2): the step a dispatch worker takes per entry.

Idempotent: the order is locked and must still be `queued`, so an entry handled twice (a
reclaimed entry, a re-added one after Redis was lost) offers nothing the second time. Candidates
come from Redis; nobody eligible in the service circle widens it once (x2), then the order goes
to the operators' manual queue with the reason. An emergency check goes to the nearest three.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

from callcenter.settings import Settings
from dispatch import matching, orders, staff_index

WIDEN_FACTOR = 2.0
SEARCH_COUNT = 50

_ORDER_SQL = """
SELECT o.id, o.state, o.kind, o.region_code, o.widened, o.staff_id, o.provider_id, o.elder_id,
       o.checked_in_at, i.skill_code,
       coalesce(e.lat, r.center_lat) AS lat, coalesce(e.lon, r.center_lon) AS lon,
       r.service_radius_m, e.preferred_provider_id,
       ARRAY(SELECT f.staff_id FROM offers f WHERE f.order_id = o.id) AS offered
FROM orders o JOIN elders e ON e.id = o.elder_id JOIN regions r ON r.code = e.region_code
LEFT JOIN service_items i ON i.code = o.item_code
WHERE o.id = $1
"""


@dataclass(frozen=True)
class Outcome:
    order_id: int
    result: str  # offered | no_candidate | skipped
    staff_ids: tuple[int, ...] = ()
    reason: str = ""


async def handle(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, order_id: int,
                 now: dt.datetime) -> Outcome:
    """Read the order, search and rank without holding its lock (Redis round trips do not keep
    a transaction open), then lock it, check it is still queued, and write the decision."""
    row = await db.fetchrow(_ORDER_SQL, order_id)
    if row is None or row["state"] != "queued":
        return Outcome(order_id, "skipped")
    widen_note: dict[str, object] | None = None
    if row["lat"] is None or row["skill_code"] is None:
        ranked: list[matching.Scored] = []
        radius = 0.0
        reason = ("老人无登记位置，无法就近派单 (the elder has no location on record)"
                  if row["lat"] is None else "工单无服务项目 (the order has no service item)")
        widened = bool(row["widened"])
    else:
        exclude = frozenset(row["offered"])
        radius = float(row["service_radius_m"]) * (WIDEN_FACTOR if row["widened"] else 1.0)
        ranked, rejected, searched = await _rank(db, r, s, row, radius, exclude, now)
        widened = bool(row["widened"])
        if not ranked and not widened:
            widened = True
            widen_note = {"radius_m": round(radius * WIDEN_FACTOR),
                          "why": matching.why_none(rejected, radius, searched)}
            radius *= WIDEN_FACTOR
            ranked, rejected, searched = await _rank(db, r, s, row, radius, exclude, now)
        reason = "" if ranked else matching.why_none(rejected, radius, searched)
    async with db.acquire() as conn, conn.transaction():
        locked = await orders.lock(conn, order_id)
        if locked["state"] != "queued":
            return Outcome(order_id, "skipped")  # another worker decided it meanwhile
        if widen_note:
            await orders.record_event(conn, order_id, "queued", "queued", "widen", "worker",
                                      payload=widen_note)
        if not ranked:
            await orders.apply(conn, order_id, "no_candidate", "worker", now=now, row=locked,
                               updates={"reason": reason, "widened": widened},
                               payload={"reason": reason, "radius_m": round(radius)})
            return Outcome(order_id, "no_candidate", reason=reason)
        chosen = matching.choose(ranked, row["kind"] == "emergency_check")
        expires = now + dt.timedelta(seconds=s.offer_s)
        await conn.executemany(
            "INSERT INTO offers (order_id, staff_id, score, distance_m, offered_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(order_id, c.staff.staff_id, c.score, round(c.staff.distance_m), now, expires)
             for c in chosen])
        ids = [c.staff.staff_id for c in chosen]
        await orders.apply(conn, order_id, "offer", "worker", now=now, row=locked,
                           updates={"widened": widened},
                           payload={"offered_to": ids, "expires_at": expires,
                                    "radius_m": round(radius), "candidates": matching.top(ranked)},
                           audience=ids)
        return Outcome(order_id, "offered", tuple(ids))


async def _rank(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, row: asyncpg.Record,
                radius: float, exclude: frozenset[int], now: dt.datetime
                ) -> tuple[list[matching.Scored], Counter[str], int]:
    found = await staff_index.search(r, s, row["skill_code"], row["lat"], row["lon"], radius,
                                     SEARCH_COUNT + len(exclude))
    # offers waiting for an answer count against capacity, like jobs in hand
    pending = dict(await db.fetch(
        "SELECT staff_id, count(*)::int FROM offers WHERE state = 'pending'"
        " AND staff_id = ANY($1::bigint[]) GROUP BY staff_id",
        [p.staff_id for p in found])) if found else {}
    pool = [dataclasses.replace(p, load=p.load + pending[p.staff_id])
            if p.staff_id in pending else p for p in found]
    need = matching.Need(skill=row["skill_code"], radius_m=radius, now=now.timestamp(),
                         fresh_s=s.location_fresh_s,
                         preferred_provider_id=row["preferred_provider_id"], exclude=exclude)
    ranked, rejected = matching.rank(pool, need)
    return ranked, rejected, len(pool)
