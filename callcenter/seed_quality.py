"""Demo quality data: follow-ups answered on the demo city's completed orders (each provider with
its own usual level of satisfaction), a few complaints, one open and overdue, then the ratings
computed, so the providers' stars differ from the first minute. Does nothing without completed
orders (the stars stay at their default) or when follow-ups already exist."""

from __future__ import annotations

import datetime as dt
import logging
import random
import zoneinfo

import asyncpg

from callcenter import rating, rating_rules
from dispatch.orders import record_event

log = logging.getLogger("callcenter.seed_quality")
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
# each provider's typical follow-up scores, in turn: a very good one, good ones, a poor one
_PROFILES = ((5, 5, 5, 4), (5, 4, 4, 4), (4, 4, 3, 5), (3, 4, 3, 2), (2, 3, 1, 3), (4, 5, 4, 3))
_COMMENTS = {5: "师傅很细心，满意", 4: "服务不错", 3: "一般", 2: "来晚了，态度一般", 1: "很不满意"}
ANSWERED_SHARE = 0.6


async def seed_quality(conn: asyncpg.Connection, *, now: dt.datetime | None = None,
                       seed: int = 12349, tz: zoneinfo.ZoneInfo = SHANGHAI) -> int:
    """Write the follow-ups and complaints and rate every provider; returns the follow-ups."""
    now = now or dt.datetime.now(dt.UTC)
    if await conn.fetchval("SELECT exists(SELECT 1 FROM followups)"):
        return 0
    rows = await conn.fetch(
        "SELECT id, elder_id, provider_id, region_code, checked_out_at FROM orders"
        " WHERE state = 'completed' AND provider_id IS NOT NULL AND checked_out_at >= $1"
        " ORDER BY provider_id, id", now - dt.timedelta(days=rating_rules.WINDOW_DAYS))
    rng = random.Random(seed)
    handler = await conn.fetchval("SELECT id FROM users WHERE role IN ('supervisor', 'admin')"
                                  " AND active ORDER BY role = 'supervisor' DESC, id LIMIT 1")
    providers = sorted({r["provider_id"] for r in rows})
    written = 0
    async with conn.transaction():
        for order in rows:
            if rng.random() >= ANSWERED_SHARE:
                continue
            profile = _PROFILES[providers.index(order["provider_id"]) % len(_PROFILES)]
            score = rng.choice(profile)
            at = order["checked_out_at"] + dt.timedelta(hours=rng.randint(20, 30))
            followup_id = await conn.fetchval(
                "INSERT INTO followups (order_id, elder_id, provider_id, region_code, state,"
                " attempts, next_attempt_at, channel, satisfaction, comment, answered_at,"
                " created_at, updated_at) VALUES ($1, $2, $3, $4, 'answered', 1, $5,"
                " 'operator', $6, $7, $5, $8, $5) RETURNING id", order["id"],
                order["elder_id"], order["provider_id"], order["region_code"], at, score,
                _COMMENTS[score], order["checked_out_at"])
            await conn.execute("UPDATE orders SET state = 'reviewed', updated_at = $2"
                               " WHERE id = $1", order["id"], at)
            await record_event(conn, order["id"], "completed", "reviewed", "review", "system",
                               payload={"followup_id": followup_id, "satisfaction": score})
            written += 1
            if score <= 2 and handler is not None:
                await _complaint(conn, order, followup_id, at, handler, upheld=score == 1,
                                 tz=tz, now=now)
        await rating.rate_all(conn, now, tz, kind="manual")
    log.info("seeded quality followups=%d providers=%d", written, len(providers))
    return written


async def _complaint(conn: asyncpg.Connection, order: asyncpg.Record, followup_id: int,
                     at: dt.datetime, handler: int, *, upheld: bool, tz: zoneinfo.ZoneInfo,
                     now: dt.datetime) -> None:
    """A complaint from a low follow-up: an upheld one resolved; otherwise left open (overdue
    by now, for the quality page to show)."""
    deadline = rating_rules.add_working_days(at, 3, tz)
    resolved = min(at + dt.timedelta(days=1), now) if upheld else None
    complaint_id = await conn.fetchval(
        "INSERT INTO complaints (category, elder_id, order_id, followup_id, provider_id,"
        " region_code, description, state, handler_id, deadline_at, resolution, upheld,"
        " resolved_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
        " $9, $10, $11, $12, $13, $14, $15) RETURNING id",
        "lateness" if upheld else "attitude", order["elder_id"], order["id"], followup_id,
        order["provider_id"], order["region_code"],
        "服务人员迟到近一小时，未提前告知" if upheld else "服务人员态度生硬",
        "resolved" if upheld else "in_progress", handler, deadline,
        "已约谈服务商，当事员工书面检讨" if upheld else "", True if upheld else None, resolved,
        at, resolved or at)
    events: list[tuple[str, str | None, str, dt.datetime | None]] = [
        ("create", None, "open", at), ("assign", "open", "in_progress", at)]
    if upheld:
        events.append(("resolve", "in_progress", "resolved", resolved))
    await conn.executemany(
        "INSERT INTO complaint_events (complaint_id, event, from_state, to_state, created_at)"
        " VALUES ($1, $2, $3, $4, $5)", [(complaint_id, *e) for e in events])
