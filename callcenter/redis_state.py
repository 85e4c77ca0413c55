"""What Redis holds besides the live stream: the open-alarm queue (a sorted set, most urgent and
oldest first) and operator presence (a hash). Both are copies: rebuilt from PostgreSQL when a
process starts and whenever the relay finds Redis back after an outage, and kept current by the
relay as it publishes each change."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from callcenter.keys import redis_key
from callcenter.settings import Settings

log = logging.getLogger("callcenter.redis_state")
QUEUE = "queue:open"
PRESENCE = "presence"
QUEUED_STATES = ("queued", "offered")


def queue_score(priority: int, created_at: dt.datetime) -> float:
    """Lower is more urgent: priority first, then age."""
    return priority * 1e11 + created_at.timestamp()


async def rebuild(db: asyncpg.Pool, r: aioredis.Redis, s: Settings) -> tuple[int, int]:
    """Replace the queue and presence copies with what PostgreSQL says now."""
    alarms = await db.fetch(
        "SELECT a.id, a.priority, a.created_at, a.region_code, r.path FROM alarms a"
        " JOIN regions r ON r.code = a.region_code WHERE a.state = ANY($1::text[])",
        list(QUEUED_STATES))
    presence = await db.fetch(
        "SELECT p.user_id, p.on_duty, p.available, u.region_code FROM operator_presence p"
        " JOIN users u ON u.id = p.user_id")
    queue_key, presence_key = redis_key(s, QUEUE), redis_key(s, PRESENCE)
    async with r.pipeline(transaction=True) as pipe:
        pipe.delete(queue_key, presence_key)
        if alarms:
            pipe.zadd(queue_key, {_member(a["id"], a["path"]): queue_score(
                a["priority"], a["created_at"]) for a in alarms})
        if presence:
            pipe.hset(presence_key, mapping={str(p["user_id"]): json.dumps(
                {"on_duty": p["on_duty"], "available": p["available"],
                 "region_code": p["region_code"]}) for p in presence})
        await pipe.execute()
    log.info("rebuilt Redis queue and presence from PostgreSQL alarms=%d operators=%d",
             len(alarms), len(presence))
    return len(alarms), len(presence)


def _member(alarm_id: int, path: str) -> str:
    return f"{alarm_id}|{path}"


def apply(pipe: Any, s: Settings, kind: str, path: str, payload: dict[str, Any]) -> None:
    """Keep the copies current from one published change (called by the relay)."""
    alarm = payload.get("alarm") if isinstance(payload, dict) else None
    if alarm and kind.startswith("alarm."):
        member = _member(alarm["id"], path)
        if alarm.get("state") in QUEUED_STATES:
            created = dt.datetime.fromisoformat(str(alarm["created_at"]))
            pipe.zadd(redis_key(s, QUEUE), {member: queue_score(alarm["priority"], created)})
        else:
            pipe.zrem(redis_key(s, QUEUE), member)
    elif kind == "operator.presence":
        pipe.hset(redis_key(s, PRESENCE), str(payload["user_id"]), json.dumps(
            {"on_duty": payload["on_duty"], "available": payload["available"],
             "region_code": payload.get("region_code")}))


async def queue_counts(r: aioredis.Redis, s: Settings, region_path: str) -> dict[str, int]:
    """Waiting alarms in the user's region, from the Redis copy (for big screens)."""
    members: Any = await r.zrange(redis_key(s, QUEUE), 0, -1)
    waiting = [m for m in members or [] if _covers(region_path, m.split("|", 1)[1])]
    return {"waiting": len(waiting)}


def _covers(scope: str, path: str) -> bool:
    return path == scope or path.startswith(scope + ".")
