"""Settlement (SPEC §5.4): each provider's statement of a month's completed orders, the month's
summary per provider, and closing a month. Owns the settlement_months table.

Scope: a supervisor or admin sees the orders of elders in their region and below (so a district
supervisor settles what was done in their district); a provider admin sees only their own
provider's orders, wherever they were done. Corrections are elder-level ledger rows without an
order or provider: they change an elder's balance, not what a provider is owed, so they appear
in the summary's `corrections` figure and in no statement.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

import asyncpg

from callcenter import settlement_rules as rules
from callcenter import subsidy_rules
from callcenter.auth import Principal
from callcenter.validation import mask_id

log = logging.getLogger("callcenter.settlement")

# Ledger writers hold this advisory lock shared while they pick their month and insert; closing
# a month holds it exclusively, so a debit never picks a month that closes before it commits.
MONTHS_LOCK = 12349_0008
SETTLERS = frozenset({"admin", "supervisor", "provider_admin"})


class MonthRefused(ValueError):
    """A month that cannot be closed; `conflict` for a state (already closed), else bad input."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


@dataclass(frozen=True)
class Scope:
    """Whose orders a reader sees: a region and below, and/or one provider."""
    region_path: str | None = None
    provider_id: int | None = None

    def sql(self, first_param: int) -> tuple[str, list[Any]]:
        """A condition on `orders o` joined to `regions r`, with its arguments."""
        where: list[str] = []
        args: list[Any] = []
        if self.region_path is not None:
            args += [self.region_path, self.region_path + ".%"]
            where.append(f"(r.path = ${first_param} OR r.path LIKE ${first_param + 1})")
        if self.provider_id is not None:
            args.append(self.provider_id)
            where.append(f"o.provider_id = ${first_param + len(args) - 1}")
        return (" AND ".join(where) or "true"), args


def scope_of(p: Principal) -> Scope:
    """The settlement scope of a logged-in user."""
    if p.role == "provider_admin":
        return Scope(provider_id=p.provider_id if p.provider_id is not None else -1)
    return Scope(region_path=p.region_path)


async def booking_month(conn: asyncpg.Connection, natural: dt.date) -> dt.date:
    """The month a ledger row of `natural` is booked to: itself, or the next open one. Call in
    the writer's transaction; it holds the months lock shared until commit."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", MONTHS_LOCK)
    closed = await conn.fetch("SELECT month FROM settlement_months WHERE month >= $1",
                              natural.replace(day=1))
    return rules.first_open(natural, [r["month"] for r in closed])


async def month_state(db: asyncpg.Connection | asyncpg.Pool, month: dt.date
                      ) -> dict[str, Any]:
    """Whether the month is closed, when and by whom."""
    row = await db.fetchrow(
        "SELECT m.closed_at, m.closed_by, u.display_name AS closed_by_name"
        " FROM settlement_months m LEFT JOIN users u ON u.id = m.closed_by WHERE m.month = $1",
        month.replace(day=1))
    if row is None:
        return {"closed": False, "closed_at": None, "closed_by": None, "closed_by_name": None}
    return {"closed": True, **dict(row)}


async def close_month(conn: asyncpg.Connection, month: dt.date, user_id: int | None,
                      today: dt.date) -> dict[str, Any]:
    """Close a month that has ended (`today` is the local date). Call in a transaction."""
    first = month.replace(day=1)
    if not rules.has_ended(first, today):
        raise MonthRefused("该月尚未结束，不能关账 (the month has not ended yet; it cannot be "
                           "closed)")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", MONTHS_LOCK)
    row = await conn.fetchrow(
        "INSERT INTO settlement_months (month, closed_by) VALUES ($1, $2)"
        " ON CONFLICT (month) DO NOTHING RETURNING month, closed_by, closed_at", first, user_id)
    if row is None:
        raise MonthRefused("该月已关账 (the month is already closed)", conflict=True)
    log.info("settlement month closed month=%s by=%s", first, user_id)
    return dict(row)


_LINES = """
SELECT o.id, o.provider_id, p.name AS provider_name, p.name_en AS provider_name_en,
       o.elder_id, e.name AS elder_name, e.id_number, o.item_code,
       coalesce(i.name_zh, o.item_code, '') AS item_name,
       coalesce(i.name_en, o.item_code, '') AS item_name_en,
       coalesce(i.duration_min, 60) AS duration_min, o.price_cents, o.approved_minutes,
       o.checked_in_at, o.checked_out_at, o.checkin_distance_m, st.name AS staff_name,
       l.programme_code, sp.name_zh AS programme_name, sp.name_en AS programme_name_en,
       l.rate_cents, l.reason AS ledger_reason, l.minutes AS ledger_minutes,
       l.subsidised_minutes AS ledger_subsidised_minutes,
       l.self_paid_minutes AS ledger_self_paid_minutes, l.amount_cents AS ledger_amount_cents
FROM orders o JOIN providers p ON p.id = o.provider_id JOIN elders e ON e.id = o.elder_id
JOIN regions r ON r.code = o.region_code LEFT JOIN service_items i ON i.code = o.item_code
LEFT JOIN staff st ON st.id = o.staff_id
LEFT JOIN subsidy_ledger l ON l.order_id = o.id AND l.kind = 'debit'
LEFT JOIN subsidy_programmes sp ON sp.code = l.programme_code
WHERE o.state IN ('completed', 'reviewed') AND o.checked_out_at IS NOT NULL
  AND (l.month = $1 OR (l.id IS NULL AND o.checked_out_at >= $2 AND o.checked_out_at < $3))
"""


async def order_rows(db: asyncpg.Connection | asyncpg.Pool, month: dt.date, scope: Scope,
                     tz: zoneinfo.ZoneInfo = subsidy_rules.SHANGHAI) -> list[asyncpg.Record]:
    """The completed orders settled in the month, with their debits, by provider then time."""
    first = month.replace(day=1)
    start, end = subsidy_rules.month_bounds(first, tz)
    cond, args = scope.sql(4)
    return await db.fetch(_LINES + f" AND {cond} ORDER BY o.provider_id, o.checked_out_at, o.id",
                          first, start, end, *args)


def _statement_line(row: asyncpg.Record, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    money = rules.line(row)
    return {
        "order_id": row["id"],
        "elder": {"id": row["elder_id"], "name": row["elder_name"],
                  "id_number": mask_id(row["id_number"])},
        "item": {"code": row["item_code"], "name": row["item_name"],
                 "name_en": row["item_name_en"], "duration_min": row["duration_min"]},
        "date": row["checked_out_at"].astimezone(tz).date().isoformat(),
        "staff_name": row["staff_name"], "checked_in_at": row["checked_in_at"],
        "checked_out_at": row["checked_out_at"], "checkin_distance_m": row["checkin_distance_m"],
        "approved_minutes": row["approved_minutes"],
        "programme": None if row["programme_code"] is None else {
            "code": row["programme_code"], "name": row["programme_name"],
            "name_en": row["programme_name_en"], "rate_cents": row["rate_cents"]},
        "price_cents": row["price_cents"], "note": row["ledger_reason"] or "",
        "checked_min": money.checked_min, "subsidised_min": money.subsidised_min,
        "self_paid_min": money.self_paid_min, "subsidised_cents": money.subsidised_cents,
        "self_paid_cents": money.self_paid_cents,
    }


async def summary(db: asyncpg.Connection | asyncpg.Pool, month: dt.date, scope: Scope,
                  tz: zoneinfo.ZoneInfo = subsidy_rules.SHANGHAI) -> dict[str, Any]:
    """GET /api/v1/settlements: per provider and overall totals of the month."""
    first = month.replace(day=1)
    rows = await order_rows(db, first, scope, tz)
    names: dict[int, tuple[str, str]] = {}
    lines: dict[int, list[rules.Line]] = {}
    for row in rows:
        names[row["provider_id"]] = (row["provider_name"], row["provider_name_en"])
        lines.setdefault(row["provider_id"], []).append(rules.line(row))
    if scope.provider_id is not None and scope.provider_id not in names:
        own = await db.fetchrow("SELECT name, name_en FROM providers WHERE id = $1",
                                scope.provider_id)
        if own is not None:  # a provider admin always sees their own row, even at zero
            names[scope.provider_id] = (own["name"], own["name_en"])
    providers, overall = [], rules.Totals()
    for pid in sorted(names):
        sums = rules.total(lines.get(pid, []))
        overall = rules.add(overall, sums)
        providers.append({"provider_id": pid, "provider_name": names[pid][0],
                          "provider_name_en": names[pid][1], **sums.as_dict()})
    state = await month_state(db, first)
    out = {"month": first.strftime("%Y-%m"), **state, "providers": providers,
           "totals": overall.as_dict()}
    if scope.provider_id is None:
        out["corrections"] = await _corrections(db, first, scope)
    return out


async def _corrections(db: asyncpg.Connection | asyncpg.Pool, month: dt.date, scope: Scope
                       ) -> dict[str, int]:
    cond, args = Scope(region_path=scope.region_path).sql(2)
    row = await db.fetchrow(
        "SELECT count(*) AS rows, coalesce(sum(l.minutes), 0) AS minutes,"
        " coalesce(sum(l.amount_cents), 0) AS cents FROM subsidy_ledger l"
        " JOIN elders e ON e.id = l.elder_id JOIN regions r ON r.code = e.region_code"
        f" WHERE l.kind = 'correction' AND l.month = $1 AND {cond}", month, *args)
    return {k: int(row[k]) for k in ("rows", "minutes", "cents")}


async def statement(db: asyncpg.Connection | asyncpg.Pool, month: dt.date, provider_id: int,
                    scope: Scope, tz: zoneinfo.ZoneInfo = subsidy_rules.SHANGHAI
                    ) -> dict[str, Any] | None:
    """One provider's statement of the month (None: no such provider, or not the reader's)."""
    if scope.provider_id is not None and scope.provider_id != provider_id:
        return None
    provider = await db.fetchrow(
        "SELECT p.id, p.name, p.name_en, p.licence_no, p.phone, p.address, p.region_code,"
        " r.name AS region_name FROM providers p JOIN regions r ON r.code = p.region_code"
        " WHERE p.id = $1", provider_id)
    if provider is None:
        return None
    first = month.replace(day=1)
    rows = await order_rows(db, first, Scope(scope.region_path, provider_id), tz)
    money = [rules.line(r) for r in rows]
    names = {r["programme_code"]: (r["programme_name"], r["programme_name_en"]) for r in rows
             if r["programme_code"] is not None}
    programmes = [{"code": code or None,
                   "name": names.get(code, ("自费（无补贴）", ""))[0],
                   "name_en": names.get(code, ("", "Self-paid (no subsidy)"))[1],
                   **sums.as_dict()}
                  for code, sums in rules.by_programme(money).items()]
    return {"month": first.strftime("%Y-%m"), **await month_state(db, first),
            "provider": dict(provider), "lines": [_statement_line(r, tz) for r in rows],
            "programmes": programmes, "totals": rules.total(money).as_dict()}
