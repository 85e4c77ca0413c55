"""Match a queued order and offer it (SPEC §5.2): the step a dispatch worker takes per entry.

Idempotent: the decision is written by one conditional statement that changes the order only if
it is still `queued` and untouched since it was read, so an entry handled twice (a reclaimed
entry, a re-added one after Redis was lost) offers nothing the second time. Candidates come from
Redis; nobody eligible in the service circle widens it once (x2), then the order goes to the
operators' manual queue with the reason. An emergency check goes to the nearest three.

Three round trips to PostgreSQL per order: read the order with its card, count the candidates'
pending offers, and write the decision. The write is one statement (so one implicit transaction):
the order's conditional UPDATE, the offers, the events rows and the live outbox row commit
together or not at all; if the order changed in between, the order is read again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from callcenter.settings import Settings
from dispatch import matching, orders, staff_index, states

WIDEN_FACTOR = 2.0
SEARCH_COUNT = 50  # the nearest this many on shift with the skill are considered
FIRST_COUNT = 12  # ... looked at first: often enough to settle the choice (matching.settled)
ATTEMPTS = 3  # reads of an order that keeps changing under us before giving up on the entry

# The card (as consoles see it) and what matching needs, in one read. `seen` and `offers_n`
# let the write check that nothing changed since; `audience` is who already hears of this order
# (offers pending or answered at this very instant, as orders._announce_sql counts them).
_ORDER_SQL = orders.CARD_SQL.replace("FROM orders o", """\
     , coalesce(e.lat, er.center_lat) AS m_lat, coalesce(e.lon, er.center_lon) AS m_lon,
       er.service_radius_m, e.preferred_provider_id,
       ARRAY(SELECT f.staff_id FROM offers f WHERE f.order_id = o.id) AS offered,
       ARRAY(SELECT f.staff_id FROM offers f WHERE f.order_id = o.id
             AND (f.state = 'pending' OR f.answered_at = $2)) AS audience
FROM orders o""", 1) + " JOIN regions er ON er.code = e.region_code WHERE o.id = $1"

# The whole decision in one statement. It asks the outbox trigger not to NOTIFY (its commit would
# then wait for every other notifying commit's flush, sql/005): the worker wakes the relays with
# one NOTIFY for many decisions (`wake_relays`). The UPDATE's WHERE is the guard: still queued, the same
# updated_at and the same number of offers as when read (offers are never deleted); a concurrent
# writer holds the row lock until it commits and the condition is then re-checked on its version.
_DECIDE_SQL = """
WITH upd AS (
    UPDATE orders SET state = $2, updated_at = $3, widened = $4,
                      reason = CASE WHEN $2 = 'no_candidate' THEN $5 ELSE reason END
    WHERE id = $1 AND state = 'queued' AND updated_at = $6
      AND (SELECT count(*) FROM offers WHERE order_id = $1) = $7
    RETURNING id, region_code),
ins AS (
    INSERT INTO offers (order_id, staff_id, score, distance_m, offered_at, expires_at)
    SELECT upd.id, u.staff_id, u.score, u.distance_m, $3, $8
    FROM upd, unnest($9::bigint[], $10::float8[], $11::int[]) AS u(staff_id, score, distance_m)
    RETURNING 1),
ev AS (
    INSERT INTO events (entity_type, entity_id, actor_kind, from_state, to_state, payload)
    SELECT 'order', upd.id, 'worker', 'queued', x.to_state, x.payload::jsonb
    FROM upd, unnest($12::text[], $13::text[]) WITH ORDINALITY AS x(to_state, payload, n)
    ORDER BY x.n
    RETURNING 1),
ob AS (
    INSERT INTO outbox (topic, kind, region_code, payload)
    SELECT 'live', $14, upd.region_code, jsonb_set($15::text::jsonb, '{audience,providers}',
        coalesce((SELECT jsonb_agg(DISTINCT x.provider_id ORDER BY x.provider_id)
                  FROM staff x WHERE x.id = ANY($16::bigint[])), '[]'::jsonb))
    FROM upd
    RETURNING 1)
SELECT count(*) FROM upd, (SELECT set_config('anxin.outbox_quiet', 'on', true)) quiet
"""


async def wake_relays(db: asyncpg.Pool | asyncpg.Connection) -> None:
    """Tell the outbox relays that rows are waiting (after decisions committed quietly)."""
    await db.execute("SELECT pg_notify('anxin_outbox', '')")


@dataclass(frozen=True)
class Outcome:
    order_id: int
    result: str  # offered | no_candidate | skipped
    staff_ids: tuple[int, ...] = ()
    reason: str = ""


async def handle(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, order_id: int,
                 now: dt.datetime) -> Outcome:
    """Read the order, search and rank without holding its lock (Redis round trips do not keep
    a transaction open), then write the decision if the order is still as read."""
    async with db.acquire() as conn:  # one connection for the reads and the write
        for _ in range(ATTEMPTS):
            outcome = await _attempt(conn, r, s, order_id, now)
            if outcome is not None:
                return outcome
    # it kept changing under us: whoever changed it re-queued it with its own entry if needed
    return Outcome(order_id, "skipped")


async def _attempt(db: asyncpg.Connection, r: aioredis.Redis, s: Settings, order_id: int,
                   now: dt.datetime) -> Outcome | None:
    """One read-decide-write; None when the order changed between the read and the write."""
    row = await db.fetchrow(_ORDER_SQL, order_id, now)
    if row is None or row["state"] != "queued":
        return Outcome(order_id, "skipped")
    widen_note: dict[str, object] | None = None
    widened = bool(row["widened"])
    if row["m_lat"] is None or row["skill_code"] is None:
        ranked: list[matching.Scored] = []
        radius = 0.0
        reason = ("老人无登记位置，无法就近派单 (the elder has no location on record)"
                  if row["m_lat"] is None else "工单无服务项目 (the order has no service item)")
    else:
        exclude = frozenset(row["offered"])
        radius = float(row["service_radius_m"]) * (WIDEN_FACTOR if widened else 1.0)
        ranked, rejected, searched = await _rank(db, r, s, row, radius, exclude, now)
        if not ranked and not widened:
            widened = True
            widen_note = {"radius_m": round(radius * WIDEN_FACTOR),
                          "why": matching.why_none(rejected, radius, searched)}
            radius *= WIDEN_FACTOR
            ranked, rejected, searched = await _rank(db, r, s, row, radius, exclude, now)
        reason = "" if ranked else matching.why_none(rejected, radius, searched)
    event = "offer" if ranked else "no_candidate"
    after = states.transition("queued", event, "worker")
    assert isinstance(after, str), after  # queued → offered / no_candidate by the worker
    chosen = matching.choose(ranked, row["kind"] == "emergency_check") if ranked else []
    ids = [c.staff.staff_id for c in chosen]
    expires = now + dt.timedelta(seconds=s.offer_s)
    if ranked:
        payload: dict[str, Any] = {"offered_to": ids, "expires_at": expires,
                                   "radius_m": round(radius), "candidates": matching.top(ranked)}
    else:
        payload = {"reason": reason, "radius_m": round(radius)}
    steps = [("queued", orders.event_json("widen", "worker", widen_note))] if widen_note else []
    steps.append((after, orders.event_json(event, "worker", payload)))
    audience = sorted({*row["audience"], row["staff_id"], *ids} - {None})
    card = dict(row)
    card.update(state=after, updated_at=now, widened=widened)
    if not ranked:
        card["reason"] = reason
    live = {"order": orders.card(card), "event": event,
            "audience": {"staff": audience, "providers": []}}  # providers: filled in by SQL
    try:
        done = await db.fetchval(
            _DECIDE_SQL, order_id, after, now, widened, reason, row["updated_at"],
            len(row["offered"]), expires, ids, [c.score for c in chosen],
            [round(c.staff.distance_m) for c in chosen], [st for st, _ in steps],
            [p for _, p in steps], f"order.{event}",
            json.dumps(live, ensure_ascii=False, default=str), audience)
    except asyncpg.UniqueViolationError:
        return None  # someone offered this person the order meanwhile: read it again
    if not done:
        return None
    if ranked:
        return Outcome(order_id, "offered", tuple(ids))
    return Outcome(order_id, "no_candidate", reason=reason)


async def _rank(db: asyncpg.Connection, r: aioredis.Redis, s: Settings, row: asyncpg.Record,
                radius: float, exclude: frozenset[int], now: dt.datetime
                ) -> tuple[list[matching.Scored], Counter[str], int]:
    """The eligible among the nearest SEARCH_COUNT, best first. The nearest FIRST_COUNT are
    looked at first; the rest only when someone farther could still change the choice."""
    need = matching.Need(skill=row["skill_code"], radius_m=radius, now=now.timestamp(),
                         fresh_s=s.location_fresh_s,
                         preferred_provider_id=row["preferred_provider_id"], exclude=exclude)
    emergency = row["kind"] == "emergency_check"
    pool: list[matching.Staff] = []
    for count in (FIRST_COUNT + len(exclude), SEARCH_COUNT + len(exclude)):
        # the second look skips the people the first one already has
        found, looked_at = await staff_index.search_from(
            r, s, row["skill_code"], row["m_lat"], row["m_lon"], radius, count, skip=len(pool))
        seen = {p.staff_id for p in pool}
        found = [p for p in found if p.staff_id not in seen]
        # offers waiting for an answer count against capacity, like jobs in hand
        pending = dict(await db.fetch(
            "SELECT staff_id, count(*)::int FROM offers WHERE state = 'pending'"
            " AND staff_id = ANY($1::bigint[]) GROUP BY staff_id",
            [p.staff_id for p in found])) if found else {}
        pool += [dataclasses.replace(p, load=p.load + pending[p.staff_id])
                 if p.staff_id in pending else p for p in found]
        ranked, rejected = matching.rank(pool, need)
        if looked_at < count or ranked and matching.settled(ranked, pool[-1].distance_m, need,
                                                            emergency):
            break  # everyone in the circle seen, or nobody farther can win
    return ranked, rejected, len(pool)
