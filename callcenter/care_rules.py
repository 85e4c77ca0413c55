"""Active care decisions (SPEC §5.3): who is due a visit, how the month's plan is shared among
operators, the retry ladder for an elder who does not answer, and inactivity. Pure functions; the
clock is an input.

Who is due (`due_reason`, first that applies):
- `after_alarm`: an alarm of the elder's ended less than `after_alarm_h` hours ago and nobody has
  reached the elder since;
- `high_risk`: a high-risk elder (失能 or 重残, or 独居 and 高龄 / aged 80+) not reached for
  `high_risk_days` days;
- `monthly`: an elder in a special-difficulty group not reached this (Shanghai) month.

Special difficulty (`SPECIAL_DIFFICULTY`): every risk group of SPEC §3 except 高龄 and 优抚 on
their own — being over 80, or an entitled veteran's family, is not a difficulty by itself; with
any other group the elder is in the monthly programme.

The plan (`assign`): each due elder goes to an operator whose region contains the elder's, the
most local such region that has operators (so an elder of a community with no operator goes to
the town's, else the district's, else the city's); within that region the elders are dealt to
the least-loaded operator first, so loads differ by at most one. An elder no operator covers
stays unassigned (every operator of the region sees unassigned tasks).

The ladder (`ladder`), for an elder who does not answer:
attempt 1 → again in 10 minutes; attempt 2 → "later that day": +3 h, kept within 09:00-20:00
Shanghai (before 09:00: at 09:00; past 20:00: 09:00 the next day); attempt 3 → the `contacts`
step, due at once (the operator calls the emergency contacts); at `contacts`, unreachable (the
contacts not reached, or the elder not confirmed well) → the `home_visit` step: a home-visit
order is created and the task waits on it.

Inactivity (`is_inactive`): no call, no device report, no alarm, no visit and no order visit for
`inactivity_days` days (an elder registered more recently is not inactive).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callcenter.subsidy_rules import SHANGHAI, month_of

SPECIAL_DIFFICULTY = frozenset({"独居", "空巢", "留守", "失能", "重残", "计生特殊", "低保",
                                "特困"})
HIGH_RISK_GROUPS = frozenset({"失能", "重残"})  # high-risk on their own
HIGH_RISK_AGE = 80                            # 独居 and this old (or in 高龄) is high-risk too
# An alarm of these kinds is no reason to call the elder again: a flat battery is the device's,
# and a care_attention alarm is itself the follow-up of a care call.
AFTER_ALARM_SKIP = frozenset({"low_battery", "care_attention"})
OUTCOMES = ("well", "needs_service", "needs_attention", "unreachable")
METHODS = ("phone", "video", "chance", "home")
REASONS = ("after_alarm", "inactivity", "high_risk", "monthly")  # most urgent first
KIND_OF_REASON = {"monthly": "care_visit", "high_risk": "care_visit",
                  "after_alarm": "post_alarm", "inactivity": "inactivity"}


@dataclass(frozen=True)
class CareConfig:
    """The cadences and the ladder's timings."""
    high_risk_days: int = 7
    after_alarm_h: int = 24
    inactivity_days: int = 3
    first_retry_min: int = 10
    later_h: int = 3
    day_start: dt.time = dt.time(9, 0)
    day_end: dt.time = dt.time(20, 0)
    tz: zoneinfo.ZoneInfo = SHANGHAI
    home_visit_item: str = "CP006"  # the ladder's last step books this catalogue item


DEFAULT = CareConfig()


@dataclass(frozen=True)
class ElderFacts:
    """What the due-list rules need to know of one elder."""
    risk_groups: frozenset[str]
    age: int
    last_visit_at: dt.datetime | None = None  # the last visit that reached the elder
    last_alarm_at: dt.datetime | None = None  # when the elder's last alarm ended


def age_on(birth: dt.date, today: dt.date) -> int:
    """Whole years of age on `today`."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def is_special(groups: Iterable[str]) -> bool:
    """In the monthly programme: at least one special-difficulty group."""
    return not SPECIAL_DIFFICULTY.isdisjoint(groups)


def is_high_risk(groups: Iterable[str], age: int) -> bool:
    """失能 or 重残, or living alone (独居) and old (高龄 or aged 80+)."""
    g = frozenset(groups)
    return not HIGH_RISK_GROUPS.isdisjoint(g) or (
        "独居" in g and ("高龄" in g or age >= HIGH_RISK_AGE))


def due_reason(elder: ElderFacts, now: dt.datetime, cfg: CareConfig = DEFAULT
               ) -> str | None:
    """Why the elder is due a visit now (`after_alarm`, `high_risk`, `monthly`), or None."""
    seen = elder.last_visit_at
    alarm = elder.last_alarm_at
    if alarm is not None and alarm <= now < alarm + dt.timedelta(hours=cfg.after_alarm_h) \
            and (seen is None or seen < alarm):
        return "after_alarm"
    if is_high_risk(elder.risk_groups, elder.age) and (
            seen is None or now - seen >= dt.timedelta(days=cfg.high_risk_days)):
        return "high_risk"
    if is_special(elder.risk_groups) and (
            seen is None or month_of(seen, cfg.tz) != month_of(now, cfg.tz)):
        return "monthly"
    return None


@dataclass(frozen=True)
class Operator:
    id: int
    region_path: str


@dataclass(frozen=True)
class DueElder:
    id: int
    region_path: str


def covers(region_path: str, elder_path: str) -> bool:
    """Does the region with `region_path` contain the one with `elder_path` (itself included)?"""
    return elder_path == region_path or elder_path.startswith(region_path + ".")


def home_region(elder_path: str, operator_paths: Iterable[str]) -> str | None:
    """The most local region with operators that contains the elder's, or None."""
    found = [p for p in operator_paths if covers(p, elder_path)]
    return max(found, key=len) if found else None


def assign(elders: Sequence[DueElder], operators: Sequence[Operator],
           load: Mapping[int, int] | None = None) -> dict[int, int | None]:
    """Each elder → an operator of the most local region with operators containing the elder's
    (None if there is none), least-loaded first (`load`: what each already has), so loads within
    a region differ by at most one more than they did before."""
    by_region: dict[str, list[int]] = defaultdict(list)
    for op in operators:
        by_region[op.region_path].append(op.id)
    counts = {op.id: (load or {}).get(op.id, 0) for op in operators}
    out: dict[int, int | None] = {}
    for elder in sorted(elders, key=lambda e: (e.region_path, e.id)):
        region = home_region(elder.region_path, by_region)
        if region is None:
            out[elder.id] = None
            continue
        chosen = min(by_region[region], key=lambda op_id: (counts[op_id], op_id))
        counts[chosen] += 1
        out[elder.id] = chosen
    return out


@dataclass(frozen=True)
class Move:
    """Where a task goes after an attempt."""
    state: str               # open | done | home_visit
    step: str                # call | contacts | home_visit
    attempts: int
    next_attempt_at: dt.datetime | None
    home_visit: bool = False  # create the home-visit order


class LadderError(ValueError):
    """An attempt the ladder does not allow (the task is waiting on its home visit)."""


def later_that_day(now: dt.datetime, cfg: CareConfig = DEFAULT) -> dt.datetime:
    """now + `later_h`, kept within the calling day: before `day_start` → at `day_start`; past
    `day_end` (or past midnight) → `day_start` of the next day."""
    local = now.astimezone(cfg.tz)
    target = local + dt.timedelta(hours=cfg.later_h)
    if target.date() != local.date() or target.time() > cfg.day_end:
        return dt.datetime.combine(local.date() + dt.timedelta(days=1), cfg.day_start, cfg.tz)
    if target.time() < cfg.day_start:
        return dt.datetime.combine(local.date(), cfg.day_start, cfg.tz)
    return target


def ladder(step: str, attempts: int, outcome: str, now: dt.datetime,
           cfg: CareConfig = DEFAULT) -> Move:
    """The task after one more attempt with this outcome."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome}")
    if step == "home_visit":
        raise LadderError("the task waits on its home visit")
    tried = attempts + 1
    if outcome != "unreachable":
        return Move("done", step, tried, None)
    if step == "contacts":
        return Move("home_visit", "home_visit", tried, None, home_visit=True)
    if tried == 1:
        return Move("open", "call", tried, now + dt.timedelta(minutes=cfg.first_retry_min))
    if tried == 2:
        return Move("open", "call", tried, later_that_day(now, cfg))
    return Move("open", "contacts", tried, now)


def inactivity_cutoff(now: dt.datetime, cfg: CareConfig = DEFAULT) -> dt.datetime:
    """Activity before this instant no longer counts."""
    return now - dt.timedelta(days=cfg.inactivity_days)


def is_inactive(activity: Iterable[dt.datetime | None], registered_at: dt.datetime,
                now: dt.datetime, cfg: CareConfig = DEFAULT) -> bool:
    """No call, device report, alarm or visit (`activity`: the latest of each, None if never)
    since the cutoff, and registered before it."""
    latest = max([t for t in activity if t is not None] + [registered_at])
    return latest < inactivity_cutoff(now, cfg)


def month_start(month: dt.date) -> dt.date:
    return month.replace(day=1)


def plan_due_on(month: dt.date, today: dt.date) -> dt.date:
    """A monthly task is due from the later of the month's first day and today."""
    return max(month_start(month), today)
