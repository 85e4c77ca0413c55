"""Where provider staff are and whether they can take work: shifts in PostgreSQL, the live
picture in Redis (SPEC §5.2).

Redis holds, per staff member, a hash `staff:<id>` (provider, skills, capacity, load, rating,
last assignment, shift, last location and its time) that expires when the location goes stale,
and one GEO set per skill, `staff:geo:<skill>`, of the people on shift with that skill. A search
is one GEOSEARCH on the item's skill set, nearest first, and one Lua call returning a packed string per candidate: fast with
100,000 staff. The hash is a copy: rebuilt from PostgreSQL at the next location ping whenever it
is missing (Redis lost) or older than PROFILE_REFRESH_S (load drift bounded).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from callcenter.keys import redis_key
from callcenter.settings import Settings
from dispatch.matching import Staff
from dispatch.states import ASSIGNED_STATES

PROFILE_REFRESH_S = 60
FIELDS = ("provider_id", "skills", "on_shift", "located_at", "load", "capacity", "rating",
          "last_assigned_at")

PROFILE_SQL = """
SELECT s.id, s.provider_id, s.capacity, s.active AND p.active AS active,
       p.star_rating::float8 AS rating,
       coalesce(st.on_shift, false) AS on_shift, st.last_assigned_at,
       coalesce((SELECT array_agg(k.skill_code ORDER BY k.skill_code) FROM staff_skills k
                 WHERE k.staff_id = s.id), '{}') AS skills,
       (SELECT count(*) FROM orders o WHERE o.staff_id = s.id
          AND o.state = ANY($2::text[]))::int AS load
FROM staff s JOIN providers p ON p.id = s.provider_id
LEFT JOIN staff_status st ON st.staff_id = s.id
WHERE s.id = ANY($1::bigint[])
"""


_SCRIPTS: dict[tuple[int, str], tuple[aioredis.Redis, Any]] = {}


def _script(r: aioredis.Redis, source: str) -> Any:
    """The script registered once per client (EVALSHA from then on, reloaded if Redis lost it)."""
    key = (id(r), source)
    found = _SCRIPTS.get(key)
    if found is None or found[0] is not r:
        found = _SCRIPTS[key] = (r, r.register_script(source))
    return found[1]


def hash_key(s: Settings, staff_id: int | str) -> str:
    return redis_key(s, "staff", staff_id)


def geo_key(s: Settings, skill: str) -> str:
    return redis_key(s, "staff", "geo", skill)


def _epoch(t: dt.datetime | None) -> str:
    return "" if t is None else f"{t.timestamp():.3f}"


async def profiles(conn: asyncpg.Connection | asyncpg.Pool, staff_ids: list[int]
                   ) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch(PROFILE_SQL, staff_ids, list(ASSIGNED_STATES))
    return {row["id"]: row for row in rows}


async def record_location(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, staff_id: int,
                          lat: float, lon: float, now: dt.datetime) -> None:
    """A location ping: refresh the hash (reloading the profile when missing or old) and the
    person's place in the GEO sets of their skills while on shift."""
    key = hash_key(s, staff_id)
    skills_raw, on_shift, profile_at = await r.hmget(key, ["skills", "on_shift", "profile_at"])
    fresh = profile_at is not None and now.timestamp() - float(profile_at) < PROFILE_REFRESH_S
    mapping: dict[Any, Any] = {"lat": lat, "lon": lon, "located_at": _epoch(now)}
    if not fresh:
        row = (await profiles(db, [staff_id])).get(staff_id)
        if row is None:
            return
        skills = list(row["skills"])
        on = bool(row["on_shift"] and row["active"])
        mapping.update(_profile_fields(row, now))
    else:
        skills = [k for k in str(skills_raw or "").split(",") if k]
        on = on_shift == "1"
    async with r.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, s.location_fresh_s)
        for skill in skills:
            if on:
                pipe.geoadd(geo_key(s, skill), (lon, lat, str(staff_id)))
            else:
                pipe.zrem(geo_key(s, skill), str(staff_id))
        await pipe.execute()


def _profile_fields(row: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    return {"provider_id": row["provider_id"], "skills": ",".join(row["skills"]),
            "on_shift": "1" if row["on_shift"] and row["active"] else "0",
            "load": row["load"], "capacity": row["capacity"], "rating": row["rating"],
            "last_assigned_at": _epoch(row["last_assigned_at"]), "profile_at": _epoch(now)}


async def set_shift(conn: asyncpg.Connection, staff_id: int, on: bool, now: dt.datetime) -> bool:
    """Record going on or off shift in PostgreSQL (the caller's transaction); returns whether it
    changed. Call `sync_shift` after commit."""
    before = await conn.fetchval(
        "SELECT on_shift FROM staff_status WHERE staff_id = $1 FOR UPDATE", staff_id)
    if before is None:
        await conn.execute("INSERT INTO staff_status (staff_id, on_shift, shift_changed_at)"
                           " VALUES ($1, $2, $3)", staff_id, on, now)
        return on
    if before == on:
        return False
    await conn.execute("UPDATE staff_status SET on_shift = $2, shift_changed_at = $3"
                       " WHERE staff_id = $1", staff_id, on, now)
    return True


async def sync_shift(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, staff_id: int,
                     on: bool) -> None:
    """Mirror a shift change into Redis: off shift leaves every GEO set at once; on shift joins
    them with the last known location (or at the next ping)."""
    key = hash_key(s, staff_id)
    skills = list((await profiles(db, [staff_id])).get(staff_id, {"skills": []})["skills"])
    lat, lon = await r.hmget(key, ["lat", "lon"])
    async with r.pipeline(transaction=True) as pipe:
        if await r.exists(key):
            pipe.hset(key, "on_shift", "1" if on else "0")
        for skill in skills:
            if on and lat is not None and lon is not None:
                pipe.geoadd(geo_key(s, skill), (float(lon), float(lat), str(staff_id)))
            elif not on:
                pipe.zrem(geo_key(s, skill), str(staff_id))
        await pipe.execute()


_ADJUST = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'load', ARGV[1])
    if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_assigned_at', ARGV[2]) end
    return 1
end
return 0
"""


async def adjust_load(r: aioredis.Redis, s: Settings, staff_id: int, delta: int,
                      assigned_at: dt.datetime | None = None) -> None:
    """Keep the copy's load current after an assignment starts or ends (only if the hash
    exists: a missing one is rebuilt from PostgreSQL at the next ping)."""
    await _script(r, _ADJUST)(keys=[hash_key(s, staff_id)], args=[delta, _epoch(assigned_at)])


# One round trip and one reply per search: GEOSEARCH, then each candidate's fields packed by
# the script into one string, "member|distance|" then FIELDS in order joined by "|" (just the
# member where the hash has gone): one short bulk string per candidate to read, not ten. The
# hash keys are built from the prefix in ARGV[5], so this assumes a single Redis (not a Cluster).
_SEARCH = """
local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[1], ARGV[2],
                         'BYRADIUS', ARGV[3], 'm', 'ASC', 'COUNT', ARGV[4], 'WITHDIST')
local out = {}
local parts = {}
for i = tonumber(ARGV[6]) + 1, #found do
    local hit = found[i]
    local v = redis.call('HMGET', ARGV[5] .. hit[1], 'provider_id', 'skills', 'on_shift',
                         'located_at', 'load', 'capacity', 'rating', 'last_assigned_at')
    if v[1] and v[1] ~= '' and v[4] and v[4] ~= '' then
        parts[1], parts[2] = hit[1], hit[2]
        for j = 1, 8 do parts[j + 2] = v[j] or '' end
        out[#out + 1] = table.concat(parts, '|')
    else
        out[#out + 1] = hit[1]
    end
end
return out
"""


async def search(r: aioredis.Redis, s: Settings, skill: str, lat: float, lon: float,
                 radius_m: float, count: int) -> list[Staff]:
    """On-shift staff with the skill within the radius, nearest first, as matching snapshots.
    Members whose hash has expired (stale location) are dropped from the GEO set here."""
    return (await search_from(r, s, skill, lat, lon, radius_m, count))[0]


async def search_from(r: aioredis.Redis, s: Settings, skill: str, lat: float, lon: float,
                      radius_m: float, count: int, skip: int = 0) -> tuple[list[Staff], int]:
    """`search` leaving out the nearest `skip` (a caller that already has them); also returns
    how many members of the GEO set were looked at (fewer than `count`: nobody else is in the
    circle)."""
    packed: Any = await _script(r, _SEARCH)(keys=[geo_key(s, skill)],
                                            args=[lon, lat, radius_m, count, hash_key(s, ""),
                                                  skip])
    pool: list[Staff] = []
    gone: list[str] = []
    for item in packed or ():
        v = item.split("|")
        if len(v) < 10:
            gone.append(item)
            continue
        member, dist, provider, skills, on, located, load, capacity, rating, last = v
        pool.append(Staff(
            staff_id=int(member), provider_id=int(provider), distance_m=float(dist),
            skills=frozenset(k for k in skills.split(",") if k),
            on_shift=on == "1", located_at=float(located), load=int(load or 0),
            capacity=int(capacity or 1), rating=float(rating or 0),
            last_assigned_at=float(last) if last else None))
    if gone:
        await r.zrem(geo_key(s, skill), *gone)
    return pool, skip + len(packed or ())
