"""Settlement arithmetic (SPEC §5.4): pure functions, no I/O; `today` is an input.

Self-paid price: the minutes the subsidy does not cover are charged at the item's own list price
pro rata — price_cents × minutes / the item's standard duration — rounded half away from zero.
The provider's list price is what an elder without a subsidy would pay for the same visit, so the
elder over budget pays the same as anyone else (the programme's rate is what the government pays
the provider for the subsidised minutes, not a price to the elder).

A line is one completed order. An order with a ledger debit takes its minutes, split and month
from the debit (so a debit moved out of a closed month is settled in the month it was booked
to); an order without one (not subsidy-eligible, or no programme in force) is self-paid for its
checked minutes in the month it was checked out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from callcenter import subsidy_rules

FIGURES = ("orders", "checked_min", "subsidised_min", "self_paid_min", "subsidised_cents",
           "self_paid_cents")


@dataclass(frozen=True)
class Line:
    """The money of one completed order."""
    order_id: int
    programme: str | None
    checked_min: int
    subsidised_min: int
    self_paid_min: int
    subsidised_cents: int
    self_paid_cents: int


@dataclass(frozen=True)
class Totals:
    """Sums over lines (a provider's, a programme's, everyone's)."""
    orders: int = 0
    checked_min: int = 0
    subsidised_min: int = 0
    self_paid_min: int = 0
    subsidised_cents: int = 0
    self_paid_cents: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class OverBudget:
    """What the elder pays when the month's hours left do not cover the item's duration."""
    left_min: int
    needed_min: int
    self_paid_min: int
    self_paid_cents: int


def self_paid_cents(minutes: int, price_cents: int, duration_min: int) -> int:
    """minutes at the item's list price per standard duration, half away from zero."""
    if minutes <= 0 or price_cents <= 0:
        return 0
    exact = Decimal(minutes) * Decimal(price_cents) / Decimal(max(1, duration_min))
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def line(order: Mapping[str, Any]) -> Line:
    """A line from an order row joined to its debit (debit columns None when there is none)."""
    price, duration = order["price_cents"], order["duration_min"]
    if order["ledger_minutes"] is not None:
        self_min = int(order["ledger_self_paid_minutes"])
        return Line(order["id"], order["programme_code"], int(order["ledger_minutes"]),
                    int(order["ledger_subsidised_minutes"]), self_min,
                    int(order["ledger_amount_cents"]),
                    self_paid_cents(self_min, price, duration))
    checked = 0
    if order["checked_in_at"] is not None and order["checked_out_at"] is not None:
        checked = subsidy_rules.checked_minutes(order["checked_in_at"], order["checked_out_at"],
                                                duration, order["approved_minutes"])
    return Line(order["id"], None, checked, 0, checked, 0,
                self_paid_cents(checked, price, duration))


def total(lines: Iterable[Line]) -> Totals:
    """The sums of the lines."""
    sums = dict.fromkeys(FIGURES, 0)
    for x in lines:
        sums["orders"] += 1
        sums["checked_min"] += x.checked_min
        sums["subsidised_min"] += x.subsidised_min
        sums["self_paid_min"] += x.self_paid_min
        sums["subsidised_cents"] += x.subsidised_cents
        sums["self_paid_cents"] += x.self_paid_cents
    return Totals(**sums)


def add(a: Totals, b: Totals) -> Totals:
    """Two totals summed field by field."""
    return Totals(**{k: getattr(a, k) + getattr(b, k) for k in FIGURES})


def by_programme(lines: Iterable[Line]) -> dict[str, Totals]:
    """Totals per programme code; self-paid-only lines under "" (no programme)."""
    groups: dict[str, list[Line]] = {}
    for x in lines:
        groups.setdefault(x.programme or "", []).append(x)
    return {code: total(group) for code, group in sorted(groups.items())}


def over_budget(left_min: int, duration_min: int, price_cents: int) -> OverBudget | None:
    """The self-paid part of a visit of the item's standard duration, or None when the hours
    left cover it."""
    if left_min >= duration_min:
        return None
    rest = duration_min - max(0, left_min)
    return OverBudget(max(0, left_min), duration_min, rest,
                      self_paid_cents(rest, price_cents, duration_min))


def next_month(month: dt.date) -> dt.date:
    """The first day of the month after `month`."""
    return subsidy_rules.month_end(month.replace(day=1)) + dt.timedelta(days=1)


def previous_month(month: dt.date) -> dt.date:
    """The first day of the month before `month`."""
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def has_ended(month: dt.date, today: dt.date) -> bool:
    """Whether the month is over on `today` (local date): only then may it be closed."""
    return subsidy_rules.month_end(month.replace(day=1)) < today


def first_open(month: dt.date, closed: Iterable[dt.date]) -> dt.date:
    """`month` itself, or the first month after it that is not closed."""
    shut = {m.replace(day=1) for m in closed}
    at = month.replace(day=1)
    while at in shut:
        at = next_month(at)
    return at


def moved_note(natural: dt.date, booked: dt.date) -> str:
    """The reason a ledger row carries when its month was closed."""
    a, b = natural.strftime("%Y-%m"), booked.strftime("%Y-%m")
    return f"{a}已结算关账，记入{b} ({a} is closed; booked to {b})"
