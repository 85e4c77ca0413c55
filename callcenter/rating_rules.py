"""A provider's star rating (SPEC §5.5, issue 7 part 6) as a pure formula of its facts over a
rolling window, plus the follow-up sample and the complaint deadline.

Each part scores 0..1; a part with no data drops out and the others' weights are scaled up:

    satisfaction  0.35  mean follow-up score, 1 → 0 and 5 → 1
    punctuality   0.20  check-ins no later than the order's window end ÷ windowed check-ins
    completion    0.20  completed ÷ (completed + failed) among orders accepted in the window;
                        cancellations are left out: operators cancel, mostly at the elder's
                        request, and the order does not record whose wish it was
    complaints    0.15  1 − upheld complaints per 100 orders ÷ 10 (10 per 100 or more → 0)
    missed        0.10  1 − missed visits per 100 orders ÷ 10

stars = 1 + 4 × weighted score, one decimal (half up). Fewer than MIN_ORDERS orders in the
window: the previous rating stands (`kept`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

WEIGHTS = {"satisfaction": 0.35, "punctuality": 0.20, "completion": 0.20, "complaints": 0.15,
           "missed": 0.10}
MIN_ORDERS = 5
WINDOW_DAYS = 90
PER_100_ZERO = 10.0  # this many upheld complaints (or missed visits) per 100 orders scores 0
DEFAULT_STARS = Decimal("3.0")


@dataclasses.dataclass(frozen=True)
class Facts:
    """What a provider did in the window."""
    orders: int = 0              # accepted in the window (any later state)
    completed: int = 0           # completed or reviewed
    failed: int = 0
    on_time: int = 0             # checked in no later than the window's end
    late: int = 0
    satisfaction_sum: int = 0    # answered follow-ups
    satisfaction_n: int = 0
    complaints: int = 0          # received in the window
    upheld: int = 0              # of those, resolved as upheld
    missed: int = 0              # orders with a missed-visit alert


@dataclasses.dataclass(frozen=True)
class Rating:
    stars: Decimal
    kept: bool
    breakdown: dict[str, Any]


def _ratio(num: int, den: int) -> float | None:
    return None if den <= 0 else num / den


def _per_100(n: int, orders: int) -> float | None:
    """1 at none per 100 orders, 0 at PER_100_ZERO or more."""
    return None if orders <= 0 else max(0.0, 1.0 - (100.0 * n / orders) / PER_100_ZERO)


def parts(f: Facts) -> dict[str, float | None]:
    """Each part's score 0..1, None where there is nothing to judge it by."""
    mean = _ratio(f.satisfaction_sum, f.satisfaction_n)
    return {
        "satisfaction": None if mean is None else min(max((mean - 1.0) / 4.0, 0.0), 1.0),
        "punctuality": _ratio(f.on_time, f.on_time + f.late),
        "completion": _ratio(f.completed, f.completed + f.failed),
        "complaints": _per_100(f.upheld, f.orders),
        "missed": _per_100(f.missed, f.orders),
    }


def _stars(score: float) -> Decimal:
    raw = Decimal(repr(1.0 + 4.0 * min(max(score, 0.0), 1.0)))
    return min(max(raw.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP), Decimal("1.0")),
               Decimal("5.0"))


def rate(f: Facts, previous: Decimal = DEFAULT_STARS) -> Rating:
    """The stars and their breakdown; the previous stars when the window has too few orders."""
    scores = parts(f)
    known = {k: v for k, v in scores.items() if v is not None}
    mean = _ratio(f.satisfaction_sum, f.satisfaction_n)
    breakdown: dict[str, Any] = {
        "orders": f.orders, "completed": f.completed, "failed": f.failed,
        "on_time": f.on_time, "late": f.late,
        "satisfaction_mean": None if mean is None else round(mean, 2),
        "satisfaction_n": f.satisfaction_n,
        "complaints": f.complaints, "upheld": f.upheld, "missed": f.missed,
        "complaints_per_100": None if f.orders <= 0 else round(100.0 * f.complaints / f.orders, 1),
        "upheld_per_100": None if f.orders <= 0 else round(100.0 * f.upheld / f.orders, 1),
        "missed_per_100": None if f.orders <= 0 else round(100.0 * f.missed / f.orders, 1),
        "scores": {k: None if v is None else round(v, 3) for k, v in scores.items()},
        "weights": WEIGHTS,
    }
    if f.orders < MIN_ORDERS or not known:
        return Rating(previous, True, breakdown)
    total = sum(WEIGHTS[k] for k in known)
    score = sum(WEIGHTS[k] * v for k, v in known.items()) / total
    return Rating(_stars(score), False, breakdown)


# --- follow-up sample and retries ---
MAX_TRIES = 3
RETRY_AFTER = dt.timedelta(hours=2)


def sampled(order_id: int, rate: float) -> bool:
    """Whether a completed order gets a follow-up call: a hash of its id against the rate, so
    the same order always gets the same answer and about `rate` of them are picked."""
    digest = hashlib.sha256(f"followup:{order_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64 < rate


def after_unreachable(attempts: int, now: dt.datetime) -> dt.datetime | None:
    """When to call again after the `attempts`-th unanswered try; None: give up."""
    return None if attempts >= MAX_TRIES else now + RETRY_AFTER * attempts


# --- complaint deadlines ---
def add_working_days(start: dt.datetime, days: int, tz: dt.tzinfo) -> dt.datetime:
    """`days` working days (Monday to Friday, in the local time zone) after `start`, at the same
    local time; a complaint filed at the weekend counts from Monday."""
    local = start.astimezone(tz)
    day = local.date()
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tz)


def overdue(state: str, deadline_at: dt.datetime, now: dt.datetime) -> bool:
    return state != "resolved" and now > deadline_at
