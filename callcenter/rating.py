"""Provider star ratings (SPEC §5.5): every provider's facts over a rolling window, rated by
`rating_rules.rate`, appended to `provider_ratings`, written to providers.star_rating, and copied
into the Redis staff hashes so dispatch scores with it at once. Nightly from the worker (once per
Shanghai day, however many workers run) and on demand."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from callcenter import rating_rules as rules
from callcenter.followup import jsonb
from callcenter.settings import Settings
from dispatch import staff_index

log = logging.getLogger("callcenter.rating")
_LOCK_KEY = 0x7A7A_0009  # advisory lock: one nightly run at a time

_ORDER_FACTS = """
SELECT provider_id,
       count(*)::int AS orders,
       count(*) FILTER (WHERE state IN ('completed', 'reviewed'))::int AS completed,
       count(*) FILTER (WHERE state = 'failed')::int AS failed,
       count(*) FILTER (WHERE checked_in_at IS NOT NULL AND window_end IS NOT NULL
                          AND checked_in_at <= window_end)::int AS on_time,
       count(*) FILTER (WHERE checked_in_at IS NOT NULL AND window_end IS NOT NULL
                          AND checked_in_at > window_end)::int AS late,
       count(*) FILTER (WHERE missed_alarm_id IS NOT NULL)::int AS missed
FROM orders
WHERE provider_id IS NOT NULL AND accepted_at >= $1 AND accepted_at <= $2
GROUP BY provider_id
"""
_SATISFACTION = """
SELECT provider_id, sum(satisfaction)::int AS s, count(*)::int AS n FROM followups
WHERE state = 'answered' AND answered_at >= $1 AND answered_at <= $2 AND provider_id IS NOT NULL
GROUP BY provider_id
"""
_COMPLAINTS = """
SELECT provider_id, count(*)::int AS received, count(*) FILTER (WHERE upheld)::int AS upheld
FROM complaints WHERE created_at >= $1 AND created_at <= $2 GROUP BY provider_id
"""


async def all_facts(conn: asyncpg.Connection, since: dt.datetime, until: dt.datetime
                    ) -> dict[int, rules.Facts]:
    """Every provider's facts in [since, until]: orders accepted, follow-ups answered and
    complaints received in the window."""
    acc: dict[int, dict[str, int]] = {}
    for row in await conn.fetch(_ORDER_FACTS, since, until):
        acc.setdefault(row["provider_id"], {}).update(
            {k: row[k] for k in ("orders", "completed", "failed", "on_time", "late", "missed")})
    for row in await conn.fetch(_SATISFACTION, since, until):
        acc.setdefault(row["provider_id"], {}).update(satisfaction_sum=row["s"],
                                                      satisfaction_n=row["n"])
    for row in await conn.fetch(_COMPLAINTS, since, until):
        acc.setdefault(row["provider_id"], {}).update(complaints=row["received"],
                                                      upheld=row["upheld"])
    return {pid: rules.Facts(**values) for pid, values in acc.items()}


async def rate_all(conn: asyncpg.Connection, now: dt.datetime, tz: dt.tzinfo, *,
                   kind: str = "manual", provider_ids: list[int] | None = None
                   ) -> list[dict[str, Any]]:
    """Rate every active provider (or the given ones) over the window ending `now`, in the
    caller's transaction; returns one summary per provider rated. A nightly run writes nothing
    for a provider already rated that day."""
    day = now.astimezone(tz).date()
    since = now - dt.timedelta(days=rules.WINDOW_DAYS)
    out: list[dict[str, Any]] = []
    facts = await all_facts(conn, since, now)
    providers = await conn.fetch(
        "SELECT id, star_rating FROM providers WHERE active"
        " AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) ORDER BY id FOR UPDATE",
        provider_ids)
    for p in providers:
        rating = rules.rate(facts.get(p["id"], rules.Facts()), p["star_rating"])
        breakdown = {**rating.breakdown, "window_days": rules.WINDOW_DAYS,
                     "since": since.isoformat(), "until": now.isoformat()}
        inserted = await conn.fetchval(
            "INSERT INTO provider_ratings (provider_id, day, kind, stars, kept, breakdown,"
            " computed_at) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)"
            " ON CONFLICT (provider_id, day) WHERE kind = 'nightly' DO NOTHING RETURNING id",
            p["id"], day, kind, rating.stars, rating.kept,
            json.dumps(breakdown, ensure_ascii=False), now)
        if inserted is None:
            continue
        if rating.stars != p["star_rating"]:
            await conn.execute("UPDATE providers SET star_rating = $2, updated_at = $3"
                               " WHERE id = $1", p["id"], rating.stars, now)
        out.append({"provider_id": p["id"], "stars": float(rating.stars),
                    "previous": float(p["star_rating"]), "kept": rating.kept,
                    "breakdown": breakdown})
    log.info("ratings %s day=%s providers=%d", kind, day, len(out))
    return out


async def recompute(db: asyncpg.Pool, r: aioredis.Redis | None, s: Settings, now: dt.datetime,
                    *, kind: str = "manual", provider_ids: list[int] | None = None
                    ) -> list[dict[str, Any]]:
    """`rate_all` in its own transaction, then the new stars copied into the Redis staff
    hashes."""
    async with db.acquire() as conn, conn.transaction():
        out = await rate_all(conn, now, s.tz, kind=kind, provider_ids=provider_ids)
    if r is not None:
        for row in out:
            await refresh_staff(db, r, s, row["provider_id"], Decimal(str(row["stars"])))
    return out


# Only hashes that exist: a missing one is rebuilt from PostgreSQL at the next location ping,
# and an HSET here would create a hash without its expiry.
_SET_IF_PRESENT = """
local n = 0
for i, key in ipairs(KEYS) do
    if redis.call('EXISTS', key) == 1 then
        redis.call('HSET', key, 'rating', ARGV[1])
        n = n + 1
    end
end
return n
"""


async def refresh_staff(db: asyncpg.Pool | asyncpg.Connection, r: aioredis.Redis, s: Settings,
                        provider_id: int, stars: Decimal) -> int:
    """Write the provider's new stars into its staff members' Redis hashes; returns how many."""
    ids = [row["id"] for row in await db.fetch("SELECT id FROM staff WHERE provider_id = $1",
                                                provider_id)]
    if not ids:
        return 0
    keys = [staff_index.hash_key(s, i) for i in ids]
    n: Any = await r.eval(_SET_IF_PRESENT, len(keys), *keys, float(stars))
    return int(n)


async def run_nightly(db: asyncpg.Pool, r: aioredis.Redis | None, s: Settings,
                      now: dt.datetime) -> list[dict[str, Any]] | None:
    """The worker's step: rate everyone once per Shanghai day. None when today's run is done or
    another worker holds the lock (the unique nightly row guards the rest)."""
    day = now.astimezone(s.tz).date()
    if await db.fetchval("SELECT exists(SELECT 1 FROM provider_ratings WHERE kind = 'nightly'"
                         " AND day = $1)", day):
        return None
    async with db.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
            return None
        try:
            return await recompute(db, r, s, now, kind="nightly")
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


def _row_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"stars": float(row["stars"]), "kept": row["kept"], "kind": row["kind"],
            "day": row["day"].isoformat(), "computed_at": row["computed_at"].isoformat(),
            "breakdown": jsonb(row["breakdown"])}


async def summaries(db: asyncpg.Pool | asyncpg.Connection, provider_ids: list[int]
                    ) -> list[dict[str, Any]]:
    """Each provider's current stars, follow-up rate, latest breakdown and open complaints."""
    rows = await db.fetch(
        "SELECT p.id, p.name, p.name_en, p.star_rating, p.followup_rate::float8 AS followup_rate,"
        " r.name AS region_name, lr.stars, lr.kept, lr.kind, lr.day, lr.computed_at,"
        " lr.breakdown, (SELECT count(*) FROM complaints c WHERE c.provider_id = p.id"
        "  AND c.state <> 'resolved')::int AS open_complaints"
        " FROM providers p JOIN regions r ON r.code = p.region_code"
        " LEFT JOIN LATERAL (SELECT * FROM provider_ratings x WHERE x.provider_id = p.id"
        "  ORDER BY x.id DESC LIMIT 1) lr ON true"
        " WHERE p.id = ANY($1::bigint[]) ORDER BY p.star_rating DESC, p.id", provider_ids)
    return [{"id": row["id"], "name": row["name"], "name_en": row["name_en"],
             "region_name": row["region_name"], "star_rating": float(row["star_rating"]),
             "followup_rate": row["followup_rate"], "open_complaints": row["open_complaints"],
             "latest": None if row["stars"] is None else _row_view(row)} for row in rows]


async def history(db: asyncpg.Pool | asyncpg.Connection, provider_id: int, limit: int = 90
                  ) -> list[dict[str, Any]]:
    """The provider's ratings, newest first."""
    rows = await db.fetch("SELECT * FROM provider_ratings WHERE provider_id = $1"
                          " ORDER BY id DESC LIMIT $2", provider_id, limit)
    return [_row_view(row) for row in rows]
