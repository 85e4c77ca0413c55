"""Recurring care plans (family care beds: bathing every Tuesday 9-11, meals daily): which visit
windows fall in a span of days, as a pure function."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    weekdays: frozenset[int]  # ISO: 1 Monday .. 7 Sunday
    start: dt.time
    end: dt.time
    valid_from: dt.date
    valid_until: dt.date | None


def visit_windows(plan: Plan, first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo
                  ) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every (start, end) of the plan's visits on the days first..last, in local time, inside
    the plan's validity."""
    day = max(first, plan.valid_from)
    stop = min(last, plan.valid_until) if plan.valid_until else last
    out = []
    while day <= stop:
        if day.isoweekday() in plan.weekdays:
            out.append((dt.datetime.combine(day, plan.start, tz),
                        dt.datetime.combine(day, plan.end, tz)))
        day += dt.timedelta(days=1)
    return out
