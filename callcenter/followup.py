"""Follow-up calls (回访, SPEC §5.5): a sample of completed orders gets a task; an operator, or an
SMS/IVR gateway, records the elder's satisfaction 1-5 and comment, or that nobody answered
(tried again later, then closed as unreachable). An answer moves the order completed → reviewed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import asyncpg

from callcenter import auth
from callcenter import rating_rules as rules
from callcenter.errors import Conflict, NotFound, Unprocessable
from dispatch import orders

log = logging.getLogger("callcenter.followup")
CHANNELS = ("operator", "sms", "ivr")
MAX_COMMENT = 500
LOW_SATISFACTION = 2  # at or below: the operator is asked to open a complaint


async def on_completed(conn: asyncpg.Connection, order_id: int, now: dt.datetime) -> int | None:
    """Called in the check-out's transaction: a follow-up task if the provider's sample picks
    this order. Returns the task id, or None."""
    row = await conn.fetchrow(
        "SELECT o.elder_id, o.provider_id, e.region_code, coalesce(p.followup_rate, 0)::float8"
        " AS rate FROM orders o JOIN elders e ON e.id = o.elder_id"
        " LEFT JOIN providers p ON p.id = o.provider_id WHERE o.id = $1", order_id)
    if row is None or not rules.sampled(order_id, row["rate"]):
        return None
    return await conn.fetchval(
        "INSERT INTO followups (order_id, elder_id, provider_id, region_code, next_attempt_at,"
        " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $5)"
        " ON CONFLICT (order_id) DO NOTHING RETURNING id",
        order_id, row["elder_id"], row["provider_id"], row["region_code"], now)


_TASK_SQL = """
SELECT f.id, f.order_id, f.state, f.attempts, f.next_attempt_at, f.channel, f.satisfaction,
       f.comment, f.answered_at, f.created_at,
       e.id AS elder_id, e.name AS elder_name, e.phones, r.name AS region_name,
       o.item_code, i.name_zh AS item_name, i.name_en AS item_name_en, o.checked_out_at,
       p.id AS provider_id, p.name AS provider_name, s.name AS staff_name
FROM followups f
JOIN elders e ON e.id = f.elder_id
JOIN regions r ON r.code = f.region_code
JOIN orders o ON o.id = f.order_id
JOIN service_items i ON i.code = o.item_code
LEFT JOIN providers p ON p.id = f.provider_id
LEFT JOIN staff s ON s.id = o.staff_id
"""


def iso(t: dt.datetime | None) -> str | None:
    """A time as ISO 8601 for the JSON answers (None stays None)."""
    return None if t is None else t.isoformat()


def jsonb(value: Any) -> Any:
    """A jsonb value, whether or not the connection decodes jsonb itself."""
    return json.loads(value) if isinstance(value, str) else value


def task_view(row: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    """A follow-up task as the console shows it."""
    return {
        "id": row["id"], "order_id": row["order_id"], "state": row["state"],
        "attempts": row["attempts"], "max_tries": rules.MAX_TRIES,
        "next_attempt_at": iso(row["next_attempt_at"]),
        "due": row["state"] == "open" and row["next_attempt_at"] <= now,
        "channel": row["channel"], "satisfaction": row["satisfaction"],
        "comment": row["comment"], "answered_at": iso(row["answered_at"]),
        "elder": {"id": row["elder_id"], "name": row["elder_name"], "phones": row["phones"],
                  "region_name": row["region_name"]},
        "item": {"code": row["item_code"], "name": row["item_name"],
                 "name_en": row["item_name_en"]},
        "provider": {"id": row["provider_id"], "name": row["provider_name"]},
        "staff_name": row["staff_name"],
        "completed_at": iso(row["checked_out_at"]),
    }


async def worklist(db: asyncpg.Pool | asyncpg.Connection, p: auth.Principal, now: dt.datetime,
                   limit: int = 50) -> dict[str, Any]:
    """Open tasks in the user's region, due ones first, and today's counts."""
    rows = await db.fetch(
        _TASK_SQL + f" WHERE f.state = 'open' AND {auth.scope_sql(1)}"
        " ORDER BY f.next_attempt_at <= $3 DESC, f.next_attempt_at, f.id LIMIT $4",
        *auth.scope_args(p), now, limit)
    counts = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE f.state = 'open') AS open,"
        " count(*) FILTER (WHERE f.state = 'open' AND f.next_attempt_at <= $3) AS due,"
        " count(*) FILTER (WHERE f.state = 'answered' AND f.answered_at >= $4) AS answered_today"
        f" FROM followups f JOIN regions r ON r.code = f.region_code WHERE {auth.scope_sql(1)}",
        *auth.scope_args(p), now, now - dt.timedelta(hours=24))
    return {"items": [task_view(r, now) for r in rows],
            "counts": {k: int(v) for k, v in counts.items()}}


async def fetch(db: asyncpg.Pool | asyncpg.Connection, followup_id: int, now: dt.datetime,
                p: auth.Principal | None = None) -> dict[str, Any]:
    """One task; with a user, only inside their region (404 otherwise)."""
    if p is None:
        row = await db.fetchrow(_TASK_SQL + " WHERE f.id = $1", followup_id)
    else:
        row = await db.fetchrow(_TASK_SQL + f" WHERE f.id = $1 AND {auth.scope_sql(2)}",
                                followup_id, *auth.scope_args(p))
    if row is None:
        raise NotFound(fields={"id": "不存在或不在您的辖区内 (not found, or outside your region)"})
    return task_view(row, now)


def parse_answer(data: dict[str, Any], channels: tuple[str, ...]) -> dict[str, Any]:
    """{satisfaction 1-5, comment} or {unreachable: true}, and the channel; 422 naming fields."""
    allowed = {"satisfaction", "comment", "unreachable", "channel"}
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - allowed)}
    unreachable = data.get("unreachable", False)
    if not isinstance(unreachable, bool):
        errors["unreachable"] = "应为 true 或 false (true or false)"
    sat = data.get("satisfaction")
    if unreachable is True:
        if sat is not None:
            errors["satisfaction"] = "未接通时不能评分 (no score when unreachable)"
    elif isinstance(sat, bool) or not isinstance(sat, int) or not 1 <= sat <= 5:
        errors["satisfaction"] = "应为1到5的整数 (a whole number from 1 to 5)"
    comment = data.get("comment", "")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        errors["comment"] = f"不超过{MAX_COMMENT}字 (at most {MAX_COMMENT} characters)"
    channel = data.get("channel", channels[0])
    if channel not in channels:
        errors["channel"] = f"应为 {' / '.join(channels)} (one of {', '.join(channels)})"
    if errors:
        raise Unprocessable(fields=errors)
    return {"satisfaction": None if unreachable else sat, "unreachable": unreachable,
            "comment": comment.strip() if isinstance(comment, str) else "", "channel": channel}


async def record(conn: asyncpg.Connection, followup_id: int, answer: dict[str, Any], *,
                 user_id: int | None, now: dt.datetime) -> dict[str, Any]:
    """Record one try (the caller's transaction). An answer closes the task and reviews the
    order; an unanswered try schedules the next or, after MAX_TRIES, closes it unreachable."""
    task = await conn.fetchrow("SELECT id, order_id, state, attempts FROM followups"
                               " WHERE id = $1 FOR UPDATE", followup_id)
    if task is None:
        raise NotFound(fields={"id": "不存在 (no such follow-up)"})
    if task["state"] != "open":
        raise Conflict("该回访已结束 (this follow-up is already closed)")
    attempts = task["attempts"] + 1
    out: dict[str, Any] = {"id": followup_id, "order_id": task["order_id"]}
    if answer["unreachable"]:
        again = rules.after_unreachable(attempts, now)
        state = "open" if again is not None else "unreachable"
        await conn.execute(
            "UPDATE followups SET attempts = $2, state = $3, next_attempt_at = $4,"
            " channel = $5, comment = $6, updated_at = $7 WHERE id = $1", followup_id,
            attempts, state, again or now, answer["channel"], answer["comment"], now)
        out.update(state=state, attempts=attempts, next_attempt_at=iso(again),
                   suggest_complaint=False, order_state=None)
        return out
    await conn.execute(
        "UPDATE followups SET attempts = $2, state = 'answered', satisfaction = $3,"
        " comment = $4, channel = $5, answered_by = $6, answered_at = $7, updated_at = $7"
        " WHERE id = $1", followup_id, attempts, answer["satisfaction"], answer["comment"],
        answer["channel"], user_id, now)
    order_state = await conn.fetchval("SELECT state FROM orders WHERE id = $1",
                                      task["order_id"])
    if order_state == "completed":
        actor = "operator" if answer["channel"] == "operator" else "system"
        _, order_state = await orders.apply(
            conn, task["order_id"], "review", actor, now=now, user_id=user_id,
            payload={"followup_id": followup_id, "satisfaction": answer["satisfaction"],
                     "channel": answer["channel"]})
    log.info("follow-up answered id=%s satisfaction=%s channel=%s", followup_id,
             answer["satisfaction"], answer["channel"])
    out.update(state="answered", attempts=attempts, satisfaction=answer["satisfaction"],
               suggest_complaint=answer["satisfaction"] <= LOW_SATISFACTION,
               order_state=order_state)
    return out


async def set_rate(conn: asyncpg.Connection | asyncpg.Pool, provider_id: int, rate: float
                   ) -> float:
    """Change a provider's follow-up sample rate (0-1)."""
    done = await conn.fetchval("UPDATE providers SET followup_rate = $2, updated_at = now()"
                               " WHERE id = $1 RETURNING followup_rate::float8",
                               provider_id, rate)
    if done is None:
        raise NotFound(fields={"id": "不存在 (no such provider)"})
    return float(done)
