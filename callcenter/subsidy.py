"""Subsidised hours (SPEC §5.4): an elder's programmes, the month's balance, the debit a completed
order writes in the check-out's own transaction, and corrections. Owns the subsidy_* tables."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

import asyncpg

from callcenter import settlement, settlement_rules
from callcenter import subsidy_rules as rules
from callcenter.subsidy_rules import SHANGHAI, Programme

log = logging.getLogger("callcenter.subsidy")
MAX_REASON = 500  # subsidy_ledger.reason


class CorrectionRefused(ValueError):
    """A correction that cannot be booked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Balance:
    """Minutes of one elder's month: the budget, what is used, what is left."""
    month: dt.date
    programmes: list[dict[str, Any]]
    budget_min: int
    used_min: int
    left_min: int


_PROGRAMMES = """
SELECT DISTINCT p.code, p.name_zh, p.name_en, p.hours_per_month, p.hourly_rate_cents
FROM subsidy_eligibility e JOIN subsidy_programmes p ON p.code = e.programme_code
WHERE e.elder_id = $1
  AND e.starts_on <= $3 AND (e.ends_on IS NULL OR e.ends_on >= $2)
  AND p.effective_from <= $3 AND (p.effective_to IS NULL OR p.effective_to >= $2)
ORDER BY p.code
"""


async def programmes(conn: asyncpg.Connection | asyncpg.Pool, elder_id: int, month: dt.date
                     ) -> list[asyncpg.Record]:
    """The programmes in force for the elder at some point of the month."""
    first = month.replace(day=1)
    return await conn.fetch(_PROGRAMMES, elder_id, first, rules.month_end(first))


def _rule_programmes(rows: list[asyncpg.Record]) -> list[Programme]:
    return [Programme(r["code"], r["hours_per_month"], r["hourly_rate_cents"]) for r in rows]


async def _used(conn: asyncpg.Connection | asyncpg.Pool, elder_id: int, month: dt.date) -> int:
    return int(await conn.fetchval(
        "SELECT coalesce(sum(subsidised_minutes), 0) FROM subsidy_ledger"
        " WHERE elder_id = $1 AND month = $2", elder_id, month))


async def balance(conn: asyncpg.Connection | asyncpg.Pool, elder_id: int, month: dt.date
                  ) -> Balance:
    """Budget, used and left (minutes) of the elder's month."""
    first = month.replace(day=1)
    rows = await programmes(conn, elder_id, first)
    budget = rules.budget_minutes(_rule_programmes(rows))
    used = await _used(conn, elder_id, first)
    listed = [{"code": r["code"], "name": r["name_zh"], "name_en": r["name_en"],
               "hours_per_month": float(r["hours_per_month"]),
               "hourly_rate_cents": r["hourly_rate_cents"]} for r in rows]
    return Balance(first, listed, budget, used, max(0, budget - used))


async def ledger(conn: asyncpg.Connection | asyncpg.Pool, elder_id: int, month: dt.date
                 ) -> list[dict[str, Any]]:
    """The month's ledger rows, oldest first."""
    rows = await conn.fetch(
        "SELECT l.id, l.order_id, l.programme_code, l.kind, l.minutes, l.subsidised_minutes,"
        " l.self_paid_minutes, l.rate_cents, l.amount_cents, l.reason, l.created_by,"
        " u.display_name AS created_by_name, l.created_at FROM subsidy_ledger l"
        " LEFT JOIN users u ON u.id = l.created_by"
        " WHERE l.elder_id = $1 AND l.month = $2 ORDER BY l.created_at, l.id",
        elder_id, month.replace(day=1))
    return [dict(r) for r in rows]


async def _lock_elder(conn: asyncpg.Connection, elder_id: int) -> None:
    # Serialises the elder's debits and corrections, so two check-outs at once never both see
    # the same minutes left (and so never spend the budget twice).
    await conn.execute("SELECT 1 FROM elders WHERE id = $1 FOR NO KEY UPDATE", elder_id)


async def debit_order(conn: asyncpg.Connection, order_id: int, now: dt.datetime, *,
                      approved_minutes: int | None = None, user_id: int | None = None,
                      tz: zoneinfo.ZoneInfo = SHANGHAI) -> int | None:
    """Debit a checked-out, subsidy-eligible order's checked minutes to its elder's month.

    Runs inside the caller's transaction (the check-out's). Returns the ledger row id, or None
    when nothing is owed: not eligible, never checked in, no programme in force, or already
    debited (the unique index makes a retry write nothing). The cap is the item's standard
    duration, or what an operator approved (`approved_minutes`, else the order's stored
    approval). A check-out in a closed settlement month is booked to the next open month, with
    the reason saying so.
    """
    order = await conn.fetchrow(
        "SELECT o.id, o.elder_id, o.subsidy_eligible, o.checked_in_at, o.checked_out_at,"
        " o.approved_minutes, i.duration_min FROM orders o"
        " JOIN service_items i ON i.code = o.item_code WHERE o.id = $1", order_id)
    if order is None or not order["subsidy_eligible"] or order["checked_in_at"] is None:
        return None
    if approved_minutes is None:
        approved_minutes = order["approved_minutes"]
    out_at = order["checked_out_at"] or now
    natural = rules.month_of(out_at, tz)
    month = await settlement.booking_month(conn, natural)
    reason = settlement_rules.moved_note(natural, month) if month != natural else ""
    await _lock_elder(conn, order["elder_id"])
    progs = _rule_programmes(await programmes(conn, order["elder_id"], month))
    charged = rules.charged_programme(progs)
    if charged is None:
        return None
    minutes = rules.checked_minutes(order["checked_in_at"], out_at, order["duration_min"],
                                    approved_minutes)
    part = rules.split(minutes, rules.budget_minutes(progs),
                       await _used(conn, order["elder_id"], month))
    row_id: int | None = await conn.fetchval(
        "INSERT INTO subsidy_ledger (elder_id, order_id, programme_code, month, kind, minutes,"
        " subsidised_minutes, self_paid_minutes, rate_cents, amount_cents, created_by,"
        " created_at, reason) VALUES ($1, $2, $3, $4, 'debit', $5, $6, $7, $8, $9, $10, $11,"
        " $12) ON CONFLICT (order_id) WHERE kind = 'debit' DO NOTHING RETURNING id",
        order["elder_id"], order_id, charged.code, month, part.minutes, part.subsidised_minutes,
        part.self_paid_minutes, charged.hourly_rate_cents,
        rules.amount_cents(part.subsidised_minutes, charged.hourly_rate_cents), user_id, now,
        reason)
    if row_id is not None:
        log.info("subsidy debit order=%d elder=%d minutes=%d subsidised=%d self_paid=%d",
                 order_id, order["elder_id"], part.minutes, part.subsidised_minutes,
                 part.self_paid_minutes)
    return row_id


async def correct(conn: asyncpg.Connection, elder_id: int, month: dt.date, minutes: int,
                  reason: str, user_id: int | None, now: dt.datetime | None = None
                  ) -> dict[str, Any]:
    """Book a correction row: positive minutes use more of the month, negative give minutes
    back. The month's used minutes stay within 0 … budget. A correction for a closed settlement
    month is booked to the next open month (its reason says so). Call inside a transaction."""
    reason = reason.strip()
    if not reason:
        raise CorrectionRefused("reason", "更正必须写明原因 (a correction needs a reason)")
    if minutes == 0:
        raise CorrectionRefused("minutes", "更正分钟数不能为0 (minutes must not be 0)")
    natural = month.replace(day=1)
    first = await settlement.booking_month(conn, natural)
    if first != natural:
        note = settlement_rules.moved_note(natural, first)
        reason = f"{reason[:MAX_REASON - len(note) - 1]} {note}"
    await _lock_elder(conn, elder_id)
    progs = _rule_programmes(await programmes(conn, elder_id, first))
    charged = rules.charged_programme(progs)
    if charged is None:
        raise CorrectionRefused("month", "该月老人没有补贴项目 (the elder has no subsidy "
                                         "programme that month)")
    budget = rules.budget_minutes(progs)
    used = await _used(conn, elder_id, first)
    if not 0 <= used + minutes <= budget:
        raise CorrectionRefused("minutes", f"更正后已用分钟数须在0到{budget}之间（现已用{used}）"
                                           f" (after the correction, used minutes must stay "
                                           f"within 0-{budget}; {used} used now)")
    row = await conn.fetchrow(
        "INSERT INTO subsidy_ledger (elder_id, programme_code, month, kind, minutes,"
        " subsidised_minutes, self_paid_minutes, rate_cents, amount_cents, reason, created_by,"
        " created_at) VALUES ($1, $2, $3, 'correction', $4, $4, 0, $5, $6, $7, $8,"
        " coalesce($9, clock_timestamp())) RETURNING *",
        elder_id, charged.code, first, minutes, charged.hourly_rate_cents,
        rules.amount_cents(minutes, charged.hourly_rate_cents), reason, user_id, now)
    log.info("subsidy correction elder=%d month=%s minutes=%d by=%s", elder_id, first, minutes,
             user_id)
    return dict(row)


async def over_budget(conn: asyncpg.Connection | asyncpg.Pool, elder_id: int, item_code: str,
                      month: dt.date) -> settlement_rules.OverBudget | None:
    """What an eligible elder would pay for a subsidy-eligible item of its standard duration
    when the month's hours left do not cover it; None when they do or nothing is subsidised."""
    item = await conn.fetchrow("SELECT subsidy_eligible, duration_min, price_cents"
                               " FROM service_items WHERE code = $1", item_code)
    if item is None or not item["subsidy_eligible"]:
        return None
    b = await balance(conn, elder_id, month)
    if not b.programmes:
        return None
    return settlement_rules.over_budget(b.left_min, item["duration_min"], item["price_cents"])
