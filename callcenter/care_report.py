"""Active care reads (SPEC §5.3): an operator's outbound work list, and the month's visit rate
per region with the elders not yet reached.

Visit rate: `due` = elders with a monthly visit task that month in the region; `visited` = those
reached that month by any visit whose outcome is not `unreachable` (any method, any task), or
whose home-visit order (the ladder's last step) was completed that month.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, TypeAlias

import asyncpg

from callcenter import care_rules as rules
from callcenter.subsidy_rules import SHANGHAI, month_bounds
from callcenter.validation import mask_id

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool
NOT_REACHED_LIMIT = 200

_SCOPE = "(r.path = $1 OR r.path LIKE $1 || '.%')"
# $2: the operator or NULL (everything in the region). An operator works their own tasks, the
# unassigned ones, and those of colleagues who are off duty (the plan spread the month over the
# operators on duty then; whoever is on duty now covers for whoever is not).
_MINE = ("($2::bigint IS NULL OR t.assigned_to = $2 OR t.assigned_to IS NULL"
         " OR NOT EXISTS (SELECT 1 FROM operator_presence op"
         " WHERE op.user_id = t.assigned_to AND op.on_duty))")

# The tasks are picked and ordered first (a district can have 30,000 open), then the few on the
# page get their elder, region and last visit.
_ORDER = """CASE WHEN $2::bigint IS NULL OR t.assigned_to = $2 THEN 0 ELSE 1 END,
         (t.next_attempt_at IS NULL OR t.next_attempt_at <= $3) DESC,
         array_position($5::text[], t.reason), coalesce(t.next_attempt_at, t.created_at),
         t.due_on, t.id"""
_WORKLIST = f"""
WITH page AS (
    SELECT t.id, t.kind, t.reason, t.step, t.attempts, t.due_on, t.next_attempt_at,
           t.assigned_to, t.state, t.alarm_id, t.created_at, t.elder_id
    FROM outreach_tasks t JOIN regions r ON r.code = t.region_code
    WHERE t.state = 'open' AND {_SCOPE} AND {_MINE}
    ORDER BY {_ORDER}
    LIMIT $4)
SELECT t.id, t.kind, t.reason, t.step, t.attempts, t.due_on, t.next_attempt_at, t.assigned_to,
       t.state, t.alarm_id, t.created_at,
       (t.next_attempt_at IS NULL OR t.next_attempt_at <= $3) AS due_now,
       e.id AS elder_id, e.name, e.birth_date, e.sex, e.phones, e.address, e.risk_groups,
       e.id_number, er.name AS region_name,
       lv.at AS last_at, lv.method AS last_method, lv.outcome AS last_outcome
FROM page t JOIN elders e ON e.id = t.elder_id JOIN regions er ON er.code = e.region_code
LEFT JOIN LATERAL (SELECT v.at, v.method, v.outcome FROM care_visits v
                   WHERE v.elder_id = t.elder_id ORDER BY v.at DESC, v.id DESC LIMIT 1) lv
       ON true
ORDER BY {_ORDER}
"""

_COUNTS = f"""
SELECT count(*) FILTER (WHERE t.state = 'open') AS open,
       count(*) FILTER (WHERE t.state = 'open'
                        AND (t.next_attempt_at IS NULL OR t.next_attempt_at <= $3)) AS due_now,
       count(*) FILTER (WHERE t.state IN ('done', 'home_visit') AND t.updated_at >= $4
                        AND ($2::bigint IS NULL OR t.assigned_to = $2)) AS done_today
FROM outreach_tasks t JOIN regions r ON r.code = t.region_code
WHERE {_SCOPE} AND {_MINE} AND (t.state = 'open' OR t.updated_at >= $4)
"""


def iso(value: dt.datetime | dt.date | None) -> str | None:
    """ISO 8601, or None."""
    return None if value is None else value.isoformat()


async def worklist(db: Db, *, region_path: str, operator_id: int | None, now: dt.datetime,
                   limit: int = 50, tz: zoneinfo.ZoneInfo = SHANGHAI) -> dict[str, Any]:
    """Open tasks of the region: for an operator (`operator_id`) their own first, then the
    unassigned ones and those of colleagues off duty; due now before later retries; the most
    urgent reason first."""
    rows = await db.fetch(_WORKLIST, region_path, operator_id, now, limit, list(rules.REASONS))
    elder_ids = sorted({r["elder_id"] for r in rows})
    contacts: dict[int, list[dict[str, str]]] = {}
    for c in await db.fetch("SELECT elder_id, name, phone, relation FROM elder_contacts"
                            " WHERE elder_id = ANY($1::bigint[]) ORDER BY elder_id, position",
                            elder_ids):
        contacts.setdefault(c["elder_id"], []).append(
            {"name": c["name"], "phone": c["phone"], "relation": c["relation"]})
    local = now.astimezone(tz)
    day_start = dt.datetime.combine(local.date(), dt.time(), tz)
    counts = await db.fetchrow(_COUNTS, region_path, operator_id, now, day_start)
    items = [{
        "task_id": r["id"], "kind": r["kind"], "reason": r["reason"], "step": r["step"],
        "attempts": r["attempts"], "due_on": iso(r["due_on"]),
        "next_attempt_at": iso(r["next_attempt_at"]), "assigned_to": r["assigned_to"],
        "state": r["state"], "due_now": r["due_now"], "alarm_id": r["alarm_id"],
        "elder": {"id": r["elder_id"], "name": r["name"],
                  "age": rules.age_on(r["birth_date"], local.date()),
                  "sex": r["sex"], "phones": list(r["phones"]), "address": r["address"],
                  "region_name": r["region_name"], "risk_groups": list(r["risk_groups"]),
                  "id_number_masked": mask_id(r["id_number"])},
        "contacts": contacts.get(r["elder_id"], []),
        "last_visit": None if r["last_at"] is None else {
            "at": iso(r["last_at"]), "method": r["last_method"], "outcome": r["last_outcome"]},
    } for r in rows]
    return {"now": now.isoformat(), "items": items,
            "counts": {"open": counts["open"], "due_now": counts["due_now"],
                       "done_today": counts["done_today"]}}


# The elders reached in the month ($3/$4: its bounds): a visit whose outcome is not
# `unreachable`, or a completed home-visit order. One set, joined once (not a subquery per task:
# a city has 130,000 elders due a month).
_REACHED = """
reached AS (
    SELECT v.elder_id FROM care_visits v
    WHERE v.at >= $3 AND v.at < $4 AND v.outcome <> 'unreachable'
    UNION
    SELECT h.elder_id FROM outreach_tasks h JOIN orders o ON o.id = h.order_id
    WHERE h.state = 'home_visit' AND o.state IN ('completed', 'reviewed')
      AND o.checked_out_at >= $3 AND o.checked_out_at < $4)
"""

# The month's due elders of the region ($1 its path, $2 the month) with a `visited` flag.
_DUE = f"""
{_REACHED}, due AS (
    SELECT t.id AS task_id, t.elder_id, t.state, t.step, t.attempts, t.assigned_to, r.path,
           r.name AS region_name, (rc.elder_id IS NOT NULL) AS visited
    FROM outreach_tasks t JOIN regions r ON r.code = t.region_code
    LEFT JOIN reached rc ON rc.elder_id = t.elder_id
    WHERE t.month = $2 AND t.reason = 'monthly' AND (r.path = $1 OR r.path LIKE $1 || '.%'))
"""

# Per child region of the requested one ('' for elders registered at the region itself).
_BY_CHILD = f"""
WITH {_DUE}
SELECT split_part(substr(d.path, length($1) + 2), '.', 1) AS child, count(*) AS due,
       count(*) FILTER (WHERE d.visited) AS visited
FROM due d GROUP BY 1
"""

_NOT_REACHED = f"""
WITH {_DUE}
SELECT d.elder_id, e.name, d.region_name, d.task_id, d.state, d.step, d.attempts,
       u.display_name AS assigned_to_name
FROM due d JOIN elders e ON e.id = d.elder_id LEFT JOIN users u ON u.id = d.assigned_to
WHERE NOT d.visited ORDER BY d.path, d.elder_id LIMIT $5
"""


def _rate(due: int, visited: int) -> float | None:
    return None if due == 0 else round(visited / due, 4)


async def visit_rate(db: Db, month: dt.date, region_code: str,
                     tz: zoneinfo.ZoneInfo = SHANGHAI) -> dict[str, Any]:
    """The month's visit rate of the region and of each child region, with up to 200 elders
    not yet reached. ValueError for an unknown region."""
    region = await db.fetchrow("SELECT code, path FROM regions WHERE code = $1", region_code)
    if region is None:
        raise ValueError(f"unknown region {region_code}")
    first = month.replace(day=1)
    start, end = month_bounds(first, tz)
    path = region["path"]
    counts = {r["child"]: (r["due"], r["visited"])
              for r in await db.fetch(_BY_CHILD, path, first, start, end)}
    due = sum(c[0] for c in counts.values())
    visited = sum(c[1] for c in counts.values())
    children = await db.fetch("SELECT code, name, name_en FROM regions WHERE parent_code = $1"
                              " ORDER BY code", region_code)
    regions = []
    for child in children:
        d, v = counts.get(child["code"], (0, 0))
        regions.append({"code": child["code"], "name": child["name"],
                        "name_en": child["name_en"], "due": d, "visited": v,
                        "rate": _rate(d, v)})
    return {"month": first.strftime("%Y-%m"), "region_code": region_code, "due": due,
            "visited": visited, "rate": _rate(due, visited), "regions": regions,
            "not_reached": await not_reached(db, first, path, tz=tz)}


async def not_reached(db: Db, month: dt.date, region_path: str, limit: int = NOT_REACHED_LIMIT,
                      tz: zoneinfo.ZoneInfo = SHANGHAI) -> list[dict[str, Any]]:
    """The month's due elders of the region not yet reached, by region then elder."""
    first = month.replace(day=1)
    start, end = month_bounds(first, tz)
    rows = await db.fetch(_NOT_REACHED, region_path, first, start, end, limit)
    return [dict(r) for r in rows]
