"""Complaints about providers (SPEC §5.5): open → in_progress (a handler) → resolved (with a
resolution and whether it was upheld), a deadline in working days, every change appended to
`complaint_events`. Staff see their region's; a provider admin sees those about their provider
and may add a response note."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import asyncpg

from callcenter import auth
from callcenter import rating_rules as rules
from callcenter.errors import Conflict, NotFound, Unprocessable
from callcenter.followup import iso, jsonb
from callcenter.routing import STAFF_ROLES

log = logging.getLogger("callcenter.complaints")
CATEGORIES = ("attitude", "quality", "lateness", "charges", "safety", "other")
STATES = ("open", "in_progress", "resolved")
MAX_DESCRIPTION = 2000
MAX_RESOLUTION = 2000
MAX_NOTE = 1000
_NOT_FOUND = "不存在或不在您的辖区内 (not found, or outside your region)"

_SELECT = """
SELECT c.*, e.name AS elder_name, p.name AS provider_name, h.display_name AS handler_name,
       r.name AS region_name
FROM complaints c
JOIN elders e ON e.id = c.elder_id
JOIN providers p ON p.id = c.provider_id
JOIN regions r ON r.code = c.region_code
LEFT JOIN users h ON h.id = c.handler_id
"""


def view(row: asyncpg.Record, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": row["id"], "category": row["category"], "state": row["state"],
        "elder": {"id": row["elder_id"], "name": row["elder_name"]},
        "order_id": row["order_id"], "followup_id": row["followup_id"],
        "provider": {"id": row["provider_id"], "name": row["provider_name"]},
        "region_name": row["region_name"], "description": row["description"],
        "handler": None if row["handler_id"] is None else {"id": row["handler_id"],
                                                             "name": row["handler_name"]},
        "deadline_at": iso(row["deadline_at"]),
        "overdue": rules.overdue(row["state"], row["deadline_at"], now),
        "resolution": row["resolution"], "upheld": row["upheld"],
        "resolved_at": iso(row["resolved_at"]), "provider_note": row["provider_note"],
        "created_at": iso(row["created_at"]),
    }


def _scope(p: auth.Principal, first: int) -> tuple[str, list[Any]]:
    """The SQL condition (and its arguments from `$first`) of the complaints a user may see."""
    if p.role in STAFF_ROLES:
        return auth.scope_sql(first), list(auth.scope_args(p))
    if p.role == "provider_admin" and p.provider_id is not None:
        return f"c.provider_id = ${first}", [p.provider_id]
    return "false", []


async def _event(conn: asyncpg.Connection, complaint_id: int, user_id: int | None, event: str,
                 before: str | None, after: str, payload: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO complaint_events (complaint_id, actor_user_id, event, from_state, to_state,"
        " payload) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)", complaint_id, user_id, event,
        before, after, json.dumps(payload, ensure_ascii=False, default=str))


def _text(data: dict[str, Any], key: str, limit: int, errors: dict[str, str], *,
          required: bool) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        errors[key] = f"不超过{limit}字 (at most {limit} characters)"
        return ""
    if required and not value.strip():
        errors[key] = "必填 (required)"
    return value.strip()


def _opt_id(data: dict[str, Any], key: str, errors: dict[str, str]) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        errors[key] = "应为编号 (an id)"
        return None
    return value


def parse_new(data: dict[str, Any]) -> dict[str, Any]:
    allowed = {"category", "elder_id", "order_id", "provider_id", "followup_id", "description"}
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - allowed)}
    if data.get("category") not in CATEGORIES:
        errors["category"] = f"应为 {' / '.join(CATEGORIES)} (one of {', '.join(CATEGORIES)})"
    out: dict[str, Any] = {k: _opt_id(data, k, errors) for k in ("elder_id", "order_id",
                                                                 "provider_id", "followup_id")}
    if out["elder_id"] is None and "elder_id" not in errors:
        errors["elder_id"] = "必填 (required)"
    out["description"] = _text(data, "description", MAX_DESCRIPTION, errors, required=True)
    if errors:
        raise Unprocessable(fields=errors)
    out["category"] = data["category"]
    return out


async def create(conn: asyncpg.Connection, p: auth.Principal, new: dict[str, Any],
                 now: dt.datetime, working_days: int, tz: dt.tzinfo) -> int:
    """A new complaint about an elder's provider (from the order, when one is named)."""
    elder = await conn.fetchrow(
        f"SELECT e.id, e.region_code FROM elders e JOIN regions r ON r.code = e.region_code"
        f" WHERE e.id = $1 AND {auth.scope_sql(2)}", new["elder_id"], *auth.scope_args(p))
    if elder is None:
        raise Unprocessable(fields={"elder_id": _NOT_FOUND})
    provider_id = new["provider_id"]
    if new["order_id"] is not None:
        order = await conn.fetchrow("SELECT elder_id, provider_id FROM orders WHERE id = $1",
                                    new["order_id"])
        if order is None or order["elder_id"] != elder["id"]:
            raise Unprocessable(fields={"order_id": "不是该老人的工单 (not this elder's order)"})
        provider_id = provider_id or order["provider_id"]
        if order["provider_id"] is not None and provider_id != order["provider_id"]:
            raise Unprocessable(fields={"provider_id": "与工单的服务商不符 (not the order's "
                                                       "provider)"})
    if provider_id is None or not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM providers WHERE id = $1)", provider_id):
        raise Unprocessable(fields={"provider_id": "请选择服务商 (choose the provider)"})
    if new["followup_id"] is not None and not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM followups WHERE id = $1 AND elder_id = $2)",
            new["followup_id"], elder["id"]):
        raise Unprocessable(fields={"followup_id": "不是该老人的回访 (not this elder's "
                                                   "follow-up)"})
    deadline = rules.add_working_days(now, working_days, tz)
    complaint_id: int = await conn.fetchval(
        "INSERT INTO complaints (category, elder_id, order_id, followup_id, provider_id,"
        " region_code, description, deadline_at, created_by, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
        new["category"], elder["id"], new["order_id"], new["followup_id"], provider_id,
        elder["region_code"], new["description"], deadline, p.user_id, now)
    await _event(conn, complaint_id, p.user_id, "create", None, "open",
                 {"category": new["category"], "provider_id": provider_id,
                  "deadline_at": deadline})
    return complaint_id


async def fetch(db: asyncpg.Pool | asyncpg.Connection, p: auth.Principal, complaint_id: int,
                now: dt.datetime, *, events: bool = True) -> dict[str, Any]:
    cond, args = _scope(p, 2)
    row = await db.fetchrow(_SELECT + f" WHERE c.id = $1 AND {cond}", complaint_id, *args)
    if row is None:
        raise NotFound(fields={"id": _NOT_FOUND})
    out = view(row, now)
    if events:
        out["events"] = [
            {"event": e["event"], "from_state": e["from_state"], "to_state": e["to_state"],
             "actor": e["actor"], "payload": jsonb(e["payload"]),
             "at": iso(e["created_at"])}
            for e in await db.fetch(
                "SELECT ev.*, u.display_name AS actor FROM complaint_events ev"
                " LEFT JOIN users u ON u.id = ev.actor_user_id WHERE ev.complaint_id = $1"
                " ORDER BY ev.id", complaint_id)]
    return out


async def listing(db: asyncpg.Pool | asyncpg.Connection, p: auth.Principal, now: dt.datetime,
                  *, state: str | None = None, provider_id: int | None = None,
                  overdue: bool = False, limit: int = 200) -> list[dict[str, Any]]:
    cond, args = _scope(p, 1)
    where = [cond]
    if state is not None:
        args.append(state)
        where.append(f"c.state = ${len(args)}")
    if provider_id is not None:
        args.append(provider_id)
        where.append(f"c.provider_id = ${len(args)}")
    if overdue:
        args.append(now)
        where.append(f"c.state <> 'resolved' AND c.deadline_at < ${len(args)}")
    args.append(limit)
    rows = await db.fetch(_SELECT + " WHERE " + " AND ".join(where)
                          + f" ORDER BY c.state = 'resolved', c.deadline_at, c.id"
                            f" LIMIT ${len(args)}", *args)
    return [view(r, now) for r in rows]


async def _lock(conn: asyncpg.Connection, p: auth.Principal, complaint_id: int
                ) -> asyncpg.Record:
    cond, args = _scope(p, 2)
    row = await conn.fetchrow(
        f"SELECT c.* FROM complaints c JOIN regions r ON r.code = c.region_code"
        f" WHERE c.id = $1 AND {cond} FOR UPDATE OF c", complaint_id, *args)
    if row is None:
        raise NotFound(fields={"id": _NOT_FOUND})
    return row


async def assign(conn: asyncpg.Connection, p: auth.Principal, complaint_id: int,
                 handler_id: int, now: dt.datetime) -> None:
    """Give the complaint to a handler (a staff user whose region covers it): open or
    in_progress → in_progress."""
    row = await _lock(conn, p, complaint_id)
    if row["state"] == "resolved":
        raise Conflict("投诉已办结 (the complaint is resolved)")
    ok = await conn.fetchval(
        "SELECT exists(SELECT 1 FROM users u JOIN regions ur ON ur.code = u.region_code,"
        " regions cr WHERE u.id = $1 AND u.active AND u.role = ANY($2::text[])"
        " AND cr.code = $3 AND (cr.path = ur.path OR cr.path LIKE ur.path || '.%'))",
        handler_id, sorted(STAFF_ROLES), row["region_code"])
    if not ok:
        raise Unprocessable(fields={"handler_id": "应为负责该辖区的坐席或管理人员 (a staff user "
                                                  "whose region covers the complaint)"})
    await conn.execute("UPDATE complaints SET handler_id = $2, state = 'in_progress',"
                       " updated_at = $3 WHERE id = $1", complaint_id, handler_id, now)
    await _event(conn, complaint_id, p.user_id, "assign", row["state"], "in_progress",
                 {"handler_id": handler_id})


def parse_resolution(data: dict[str, Any]) -> tuple[str, bool]:
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - {"resolution",
                                                                       "upheld"})}
    text = _text(data, "resolution", MAX_RESOLUTION, errors, required=True)
    if not isinstance(data.get("upheld"), bool):
        errors["upheld"] = "应说明投诉是否属实 (say whether the complaint was upheld: true or " \
                           "false)"
    if errors:
        raise Unprocessable(fields=errors)
    return text, bool(data["upheld"])


async def resolve(conn: asyncpg.Connection, p: auth.Principal, complaint_id: int,
                  resolution: str, upheld: bool, now: dt.datetime) -> None:
    """in_progress → resolved; an open complaint is taken by the resolver on the way."""
    row = await _lock(conn, p, complaint_id)
    if row["state"] == "resolved":
        raise Conflict("投诉已办结 (the complaint is resolved)")
    handler = row["handler_id"] or p.user_id
    await conn.execute(
        "UPDATE complaints SET state = 'resolved', resolution = $2, upheld = $3,"
        " resolved_at = $4, handler_id = $5, updated_at = $4 WHERE id = $1",
        complaint_id, resolution, upheld, now, handler)
    await _event(conn, complaint_id, p.user_id, "resolve", row["state"], "resolved",
                 {"resolution": resolution, "upheld": upheld, "late": now > row["deadline_at"]})


async def respond(conn: asyncpg.Connection, p: auth.Principal, complaint_id: int, note: str,
                  now: dt.datetime) -> None:
    """The provider's side of the story, by its admin (the state does not change)."""
    row = await _lock(conn, p, complaint_id)
    await conn.execute("UPDATE complaints SET provider_note = $2, updated_at = $3 WHERE id = $1",
                       complaint_id, note, now)
    await _event(conn, complaint_id, p.user_id, "respond", row["state"], row["state"],
                 {"note": note})


def parse_note(data: dict[str, Any]) -> str:
    errors = {k: "未知字段 (unknown field)" for k in sorted(set(data) - {"note"})}
    note = _text(data, "note", MAX_NOTE, errors, required=True)
    if errors:
        raise Unprocessable(fields=errors)
    return note
