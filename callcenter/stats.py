"""The figures of a region over a period: calls, alarms, answer times, orders, staff on shift and
the daily trend. One module owns this SQL; the supervisor dashboard and the daily and monthly
reports call the same functions, so their numbers cannot disagree.

A record belongs to a region through its own region (alarms, orders), its elder's (calls; a
caller not identified belongs to the city) or its provider's (staff). An order belongs to the
day it is due (its window's start) or, without a window, the day it was created.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from typing import Any, TypeAlias

import asyncpg

from callcenter import alarm_views

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection

ALARM_KINDS = ("sos", "fall", "wander", "smoke", "gas", "water", "door", "inactivity",
               "missed_visit", "low_battery")
ALARM_OUTCOMES = ("false_alarm", "resolved_by_phone", "contact_attended", "provider_attended",
                  "ambulance", "police", "other", "open")
ORDER_STATES = ("created", "queued", "offered", "accepted", "en_route", "on_site", "completed",
                "reviewed", "no_candidate", "cancelled", "failed")
DONE_STATES = frozenset({"completed", "reviewed"})
TREND_DAYS = 30


@dataclasses.dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_en: str
    level: str
    path: str

    @property
    def like(self) -> str:
        return self.path + ".%"

    def public(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en,
                "level": self.level}


_REGION = "SELECT code, name, name_en, level, path FROM regions"


async def region(db: Db, code: str) -> Region | None:
    row = await db.fetchrow(_REGION + " WHERE code = $1", code)
    return None if row is None else Region(**dict(row))


async def children(db: Db, parent: Region) -> list[Region]:
    rows = await db.fetch(_REGION + " WHERE parent_code = $1 ORDER BY code", parent.code)
    return [Region(**dict(r)) for r in rows]


def day_bounds(day: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants a local day starts and ends (end exclusive)."""
    return (dt.datetime.combine(day, dt.time(), tz),
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz))


def month_bounds(first: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (dt.datetime.combine(first.replace(day=1), dt.time(), tz),
            dt.datetime.combine(nxt, dt.time(), tz))


# --- where each record lives and when it happened ($1 region path, $2 the paths below it) ---
_ROOT = "(SELECT code FROM regions WHERE parent_code IS NULL ORDER BY code LIMIT 1)"
_CALLS_FROM = (f" FROM calls c LEFT JOIN elders e ON e.id = c.elder_id"
               f" JOIN regions r ON r.code = coalesce(e.region_code, {_ROOT})")
_CALL_AT = "c.ringing_at"
_ALARMS_FROM = " FROM alarms a JOIN regions r ON r.code = a.region_code"
_ALARM_AT = "a.created_at"
_ORDERS_FROM = (" FROM orders o JOIN regions r ON r.code = o.region_code"
                " LEFT JOIN service_items i ON i.code = o.item_code")
_ORDER_AT = "coalesce(o.window_start, o.created_at)"
_SCOPE = "(r.path = $1 OR r.path LIKE $2)"


def _within(at: str) -> str:
    return f" WHERE {at} >= $3 AND {at} < $4 AND {_SCOPE}"


_CALLS = f"""
SELECT count(*) AS total,
       count(*) FILTER (WHERE c.direction = 'inbound') AS inbound,
       count(*) FILTER (WHERE c.direction = 'outbound') AS outbound,
       count(*) FILTER (WHERE c.answered_at IS NOT NULL) AS answered,
       count(*) FILTER (WHERE c.direction = 'inbound' AND c.answered_at IS NOT NULL)
         AS inbound_answered,
       count(*) FILTER (WHERE c.state = 'abandoned') AS abandoned,
       count(*) FILTER (WHERE c.state = 'ringing') AS ringing,
       count(*) FILTER (WHERE c.direction = 'inbound' AND c.elder_id IS NULL) AS unknown_caller,
       count(*) FILTER (WHERE c.alarm_id IS NOT NULL) AS with_alarm,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.answered_at
         - c.ringing_at)) FILTER (WHERE c.direction = 'inbound') AS ring_median_s
{_CALLS_FROM}{_within(_CALL_AT)}
"""

_ALARMS = f"""
SELECT a.kind, coalesce(a.outcome, 'open') AS outcome, count(*) AS n
{_ALARMS_FROM}{_within(_ALARM_AT)}
GROUP BY 1, 2
"""

_ORDERS = f"""
SELECT o.item_code, i.name_zh AS item_zh, i.name_en AS item_en,
       coalesce(i.category_code, '') AS category, o.state,
       CASE WHEN o.state = 'no_candidate' THEN o.reason ELSE '' END AS reason,
       count(*) AS n,
       count(*) FILTER (WHERE o.checked_in_at IS NOT NULL AND o.window_start IS NOT NULL
                        AND o.window_end IS NOT NULL) AS checked_in,
       count(*) FILTER (WHERE o.checked_in_at BETWEEN o.window_start AND o.window_end)
         AS punctual
{_ORDERS_FROM}{_within(_ORDER_AT)}
GROUP BY 1, 2, 3, 4, 5, 6
"""

_CATEGORIES = "SELECT code, name_zh, name_en FROM service_categories ORDER BY sort_order, code"

_STAFF = f"""
SELECT count(*) AS staff, count(*) FILTER (WHERE ss.on_shift) AS on_shift
FROM staff s JOIN providers pr ON pr.id = s.provider_id
JOIN regions r ON r.code = pr.region_code
LEFT JOIN staff_status ss ON ss.staff_id = s.id
WHERE s.active AND pr.active AND {_SCOPE}
"""


def _per_day(source: str, at: str) -> str:
    return f"SELECT ({at} AT TIME ZONE $5)::date AS day, count(*) AS n{source}{_within(at)}" \
           " GROUP BY 1"


_TREND = {"calls": _per_day(_CALLS_FROM, _CALL_AT),
          "alarms": _per_day(_ALARMS_FROM, _ALARM_AT),
          "orders": _per_day(_ORDERS_FROM, _ORDER_AT)}


def pct(part: int, whole: int) -> float | None:
    """A share in percent with one decimal; None when there is nothing to share."""
    return None if not whole else round(100.0 * part / whole, 1)


def call_figures(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(row[k]) for k in (
        "total", "inbound", "outbound", "answered", "inbound_answered", "abandoned", "ringing",
        "unknown_caller", "with_alarm")}
    median = row["ring_median_s"]
    out["ring_median_s"] = None if median is None else round(float(median), 1)
    out["answer_rate"] = pct(out["inbound_answered"], out["inbound"])
    return out


def alarm_figures(rows: list[Any]) -> dict[str, Any]:
    """Counts by kind and by outcome ('open' while there is none yet)."""
    by_kind = dict.fromkeys(ALARM_KINDS, 0)
    by_outcome = dict.fromkeys(ALARM_OUTCOMES, 0)
    for r in rows:
        by_kind[r["kind"]] = by_kind.get(r["kind"], 0) + int(r["n"])
        by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + int(r["n"])
    return {"total": sum(by_kind.values()), "by_kind": by_kind, "by_outcome": by_outcome}


def order_figures(rows: list[Any], categories: list[Any]) -> dict[str, Any]:
    """Counts by category, item, state; completion, punctuality and no-candidate reasons.

    completion_rate: completed or reviewed among the orders not cancelled. punctuality: checked
    in inside the order's window among the checked-in orders that have a window."""
    by_state = dict.fromkeys(ORDER_STATES, 0)
    by_category: dict[str, dict[str, Any]] = {
        c["code"]: {"code": c["code"], "name_zh": c["name_zh"], "name_en": c["name_en"], "n": 0}
        for c in categories}
    by_item: dict[str, dict[str, Any]] = {}
    reasons: dict[str, int] = {}
    checked_in = punctual = 0
    for r in rows:
        n = int(r["n"])
        by_state[r["state"]] = by_state.get(r["state"], 0) + n
        cat = by_category.setdefault(r["category"] or "", {
            "code": r["category"] or "", "name_zh": "未分类", "name_en": "Uncategorised", "n": 0})
        cat["n"] += n
        code = r["item_code"] or ""
        item = by_item.setdefault(code, {"code": code, "name_zh": r["item_zh"] or "—",
                                         "name_en": r["item_en"] or "—", "n": 0})
        item["n"] += n
        if r["state"] == "no_candidate":
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + n
        checked_in += int(r["checked_in"])
        punctual += int(r["punctual"])
    total = sum(by_state.values())
    completed = sum(by_state[s] for s in DONE_STATES)
    return {
        "total": total, "completed": completed, "cancelled": by_state["cancelled"],
        "no_candidate": by_state["no_candidate"],
        "completion_rate": pct(completed, total - by_state["cancelled"]),
        "checked_in": checked_in, "punctual": punctual, "punctuality": pct(punctual, checked_in),
        "by_state": by_state,
        "by_category": list(by_category.values()),
        "by_item": sorted(by_item.values(), key=lambda i: (-i["n"], i["code"])),
        "no_candidate_reasons": [{"reason": k, "n": v} for k, v in
                                 sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))],
    }


async def period_figures(db: Db, where: Region, start: dt.datetime, end: dt.datetime,
                         now: dt.datetime, categories: list[Any] | None = None
                         ) -> dict[str, Any]:
    """Everything counted for one region over [start, end)."""
    args = (where.path, where.like, start, end)
    if categories is None:
        categories = await db.fetch(_CATEGORIES)
    calls = await db.fetchrow(_CALLS, *args)
    alarms = await db.fetch(_ALARMS, *args)
    # the console's own answer figures (60 s / 180 s shares, median, p95): one definition
    answer = await db.fetchrow(alarm_views.ANSWER_METRICS_SQL, *args, now)
    orders = await db.fetch(_ORDERS, *args)
    assert calls is not None and answer is not None
    return {"calls": call_figures(calls), "alarms": alarm_figures(alarms),
            "answer": alarm_views.answer_figures(answer),
            "orders": order_figures(orders, categories)}


async def region_report(db: Db, where: Region, start: dt.datetime, end: dt.datetime,
                        now: dt.datetime) -> dict[str, Any]:
    """The region's figures and each child region's, over [start, end)."""
    categories = await db.fetch(_CATEGORIES)
    figures = await period_figures(db, where, start, end, now, categories)
    kids = []
    for child in await children(db, where):
        kids.append({**child.public(),
                     "figures": await period_figures(db, child, start, end, now, categories)})
    return {"region": where.public(), "start": start.isoformat(), "end": end.isoformat(),
            "figures": figures, "children": kids}


async def staff_figures(db: Db, where: Region) -> dict[str, int]:
    """Provider staff of the region's providers, and how many are on shift now."""
    row = await db.fetchrow(_STAFF, where.path, where.like)
    assert row is not None
    return {"staff": int(row["staff"]), "on_shift": int(row["on_shift"])}


async def trend(db: Db, where: Region, last_day: dt.date, tz: zoneinfo.ZoneInfo,
                days: int = TREND_DAYS) -> list[dict[str, Any]]:
    """Calls, alarms and orders per local day for the `days` days ending with last_day."""
    first = last_day - dt.timedelta(days=days - 1)
    start, _ = day_bounds(first, tz)
    _, end = day_bounds(last_day, tz)
    out = {first + dt.timedelta(days=i): {"calls": 0, "alarms": 0, "orders": 0}
           for i in range(days)}
    for name, sql in _TREND.items():
        for r in await db.fetch(sql, where.path, where.like, start, end, str(tz)):
            if r["day"] in out:
                out[r["day"]][name] = int(r["n"])
    return [{"day": d.isoformat(), **v} for d, v in sorted(out.items())]
