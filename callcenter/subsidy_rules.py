"""Ledger arithmetic for subsidised hours (SPEC §5.4): pure functions, no I/O, a clock is an input.

Rounding: a visit's checked duration is rounded to the nearest whole minute (half a minute up);
money is minutes × hourly rate / 60 in integer cents, rounded half away from zero.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Programme:
    """A programme as it applies to one elder in one month."""
    code: str
    hours_per_month: Decimal
    hourly_rate_cents: int


@dataclass(frozen=True)
class Split:
    """A debit divided between the month's subsidy budget and the elder's own purse."""
    minutes: int
    subsidised_minutes: int
    self_paid_minutes: int


def month_of(at: dt.datetime, tz: zoneinfo.ZoneInfo = SHANGHAI) -> dt.date:
    """The first day of the local month `at` falls in."""
    return at.astimezone(tz).date().replace(day=1)


def month_end(month: dt.date) -> dt.date:
    """The last day of the month that starts on `month`."""
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def month_bounds(month: dt.date, tz: zoneinfo.ZoneInfo = SHANGHAI
                 ) -> tuple[dt.datetime, dt.datetime]:
    """The local month as a half-open [start, end) pair of aware datetimes."""
    first = month.replace(day=1)
    nxt = month_end(first) + dt.timedelta(days=1)
    return (dt.datetime.combine(first, dt.time(), tz), dt.datetime.combine(nxt, dt.time(), tz))


def overlaps_month(starts_on: dt.date, ends_on: dt.date | None, month: dt.date) -> bool:
    """Whether a [starts_on, ends_on] date span (ends_on None: open) touches the month."""
    return starts_on <= month_end(month) and (ends_on is None or ends_on >= month.replace(day=1))


def checked_minutes(checked_in_at: dt.datetime, checked_out_at: dt.datetime,
                    standard_min: int, approved_minutes: int | None = None) -> int:
    """Check-out − check-in in whole minutes, capped at the item's standard duration unless an
    operator approved more (then capped at what was approved)."""
    seconds = max(0.0, (checked_out_at - checked_in_at).total_seconds())
    minutes = int((seconds + 30) // 60)
    cap = standard_min if approved_minutes is None else max(standard_min, approved_minutes)
    return min(minutes, cap)


def budget_minutes(programmes: Iterable[Programme]) -> int:
    """The month's budget: the sum of the hours of every programme in force, in minutes."""
    total = sum((p.hours_per_month for p in programmes), Decimal(0)) * 60
    return int(total.to_integral_value(rounding=ROUND_HALF_UP))


def split(minutes: int, budget_min: int, used_min: int) -> Split:
    """What of `minutes` the subsidy covers, given what the month has already used."""
    if minutes < 0:
        raise ValueError("a debit is never negative")
    left = max(0, budget_min - used_min)
    covered = min(minutes, left)
    return Split(minutes, covered, minutes - covered)


def amount_cents(minutes: int, hourly_rate_cents: int) -> int:
    """minutes × rate / 60 in whole cents, half away from zero."""
    exact = Decimal(minutes) * Decimal(hourly_rate_cents) / Decimal(60)
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def charged_programme(programmes: Iterable[Programme]) -> Programme | None:
    """The programme a debit is booked against: the one with the most hours (then the higher rate,
    then the code), so an elder in several programmes gets one line per order."""
    ranked = sorted(programmes, key=lambda p: (-p.hours_per_month, -p.hourly_rate_cents, p.code))
    return ranked[0] if ranked else None
