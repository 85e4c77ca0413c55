"""Time-bank arithmetic for volunteers (issue 7 part 7): pure functions, no I/O, a clock is an
input.

Points: a logged stretch earns minutes × (the activity's points per hour) / 60, rounded to the
nearest tenth of a point, half up (so 1 point an hour gives 0.5 for 30 minutes and 0.3 for 20;
meals at 2 an hour give 1.5 for 45 minutes). A redemption takes whole tenths of a point and is
allowed only while the balance covers it: the balance never goes below zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

TENTH = Decimal("0.1")
MAX_MINUTES = 720          # one log is at most 12 hours of help
MAX_REDEEM = Decimal(10000)
MAX_BACKDATE_DAYS = 366    # help is logged within a year of when it was given
CLOCK_SKEW = dt.timedelta(minutes=5)  # a browser clock a little ahead is not "the future"


def points_for(minutes: int, points_per_hour: Decimal) -> Decimal:
    """The points a stretch of `minutes` earns at `points_per_hour`, to a tenth, half up."""
    if minutes < 0:
        raise ValueError("minutes are never negative")
    exact = Decimal(minutes) * Decimal(points_per_hour) / Decimal(60)
    return exact.quantize(TENTH, rounding=ROUND_HALF_UP)


def balance(points: Iterable[Decimal]) -> Decimal:
    """The balance of a ledger: the sum of its rows (earn rows positive, redeem rows negative)."""
    return sum((Decimal(p) for p in points), Decimal(0)).quantize(TENTH)


def may_redeem(balance_now: Decimal, points: Decimal) -> bool:
    """Whether `points` (positive, whole tenths) can be taken from `balance_now`."""
    return (points > 0 and points == points.quantize(TENTH) and points <= MAX_REDEEM
            and points <= balance_now)


def hours_problem(started_at: dt.datetime, minutes: int, now: dt.datetime,
                  joined_on: dt.date, tz: dt.tzinfo) -> tuple[str, str] | None:
    """What is wrong with a stretch of help (field, reason), or None when it can be logged."""
    if not 1 <= minutes <= MAX_MINUTES:
        return "minutes", (f"应为1到{MAX_MINUTES}之间的整数分钟 (a whole number of minutes, "
                           f"1-{MAX_MINUTES})")
    if started_at + dt.timedelta(minutes=minutes) > now + CLOCK_SKEW:
        return "started_at", "服务结束时间不能晚于现在 (the help cannot end in the future)"
    if started_at < now - dt.timedelta(days=MAX_BACKDATE_DAYS):
        return "started_at", (f"只能补记{MAX_BACKDATE_DAYS}天内的服务 (only help given within "
                              f"the last {MAX_BACKDATE_DAYS} days can be logged)")
    if started_at.astimezone(tz).date() < joined_on:
        return "started_at", "早于志愿者加入日期 (before the volunteer joined)"
    return None


def overlaps(a_start: dt.datetime, a_minutes: int, b_start: dt.datetime, b_minutes: int
             ) -> bool:
    """Whether two stretches of help share any moment (touching ends do not)."""
    a_end = a_start + dt.timedelta(minutes=a_minutes)
    b_end = b_start + dt.timedelta(minutes=b_minutes)
    return a_start < b_end and b_start < a_end


def hours_of(minutes: int) -> float:
    """Minutes as hours to one decimal, for reports."""
    return float((Decimal(minutes) / Decimal(60)).quantize(TENTH, rounding=ROUND_HALF_UP))


# ---------- the monthly report per community ----------

@dataclass(frozen=True)
class HoursRow:
    """One logged stretch of the month."""
    volunteer_id: int
    community: str
    activity: str
    elder_id: int | None
    minutes: int
    points: Decimal


@dataclass(frozen=True)
class RedeemRow:
    """One redemption of the month (points positive: what was taken)."""
    volunteer_id: int
    community: str
    points: Decimal


@dataclass
class Figures:
    """A community's (or the whole region's) month."""
    volunteers: int = 0           # registered and active at the month's end
    active_volunteers: int = 0    # logged at least one stretch this month
    logs: int = 0
    minutes: int = 0
    points_earned: Decimal = Decimal(0)
    points_redeemed: Decimal = Decimal(0)
    elders_helped: int = 0        # distinct elders named in the month's logs
    _volunteers: set[int] = field(default_factory=set, repr=False)
    _elders: set[int] = field(default_factory=set, repr=False)

    def public(self) -> dict[str, int | float]:
        return {"volunteers": self.volunteers, "active_volunteers": self.active_volunteers,
                "logs": self.logs, "minutes": self.minutes, "hours": hours_of(self.minutes),
                "points_earned": float(self.points_earned),
                "points_redeemed": float(self.points_redeemed),
                "elders_helped": self.elders_helped}


def _add(f: Figures, row: HoursRow) -> None:
    f.logs += 1
    f.minutes += row.minutes
    f.points_earned += row.points
    f._volunteers.add(row.volunteer_id)
    if row.elder_id is not None:
        f._elders.add(row.elder_id)
    f.active_volunteers = len(f._volunteers)
    f.elders_helped = len(f._elders)


def monthly_report(communities: Iterable[str], registered: dict[str, int],
                   hours: Iterable[HoursRow], redemptions: Iterable[RedeemRow]
                   ) -> tuple[dict[str, Figures], Figures, dict[str, Figures]]:
    """(figures per community, totals, figures per activity) of a month.

    Every listed community gets a row, zero or not. Totals count distinct volunteers and elders
    over the whole region, so an elder helped from two communities counts once there.
    """
    per = {c: Figures(volunteers=registered.get(c, 0)) for c in communities}
    total = Figures(volunteers=sum(f.volunteers for f in per.values()))
    by_activity: dict[str, Figures] = {}
    for row in hours:
        _add(per.setdefault(row.community, Figures()), row)
        _add(total, row)
        _add(by_activity.setdefault(row.activity, Figures()), row)
    for r in redemptions:
        per.setdefault(r.community, Figures()).points_redeemed += r.points
        total.points_redeemed += r.points
    return per, total, by_activity
