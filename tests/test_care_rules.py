"""Active care rules without I/O: who is due (each risk group, the high-risk cadence, after an
alarm), the monthly plan (every due elder once, operators balanced, by region), the retry ladder
on a controllable clock (the 20:00 cut-off), and inactivity."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import care_rules as rules
from callcenter.care_rules import DueElder, ElderFacts, Operator
from callcenter.subsidy_rules import SHANGHAI

NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI)
CFG = rules.CareConfig()


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def facts(*groups: str, age: int = 75, seen: dt.datetime | None = None,
          alarm: dt.datetime | None = None) -> ElderFacts:
    return ElderFacts(frozenset(groups), age, seen, alarm)


@pytest.mark.parametrize(("group", "monthly"), [
    ("独居", True), ("空巢", True), ("留守", True), ("失能", True), ("重残", True),
    ("计生特殊", True), ("低保", True), ("特困", True), ("高龄", False), ("优抚", False),
])
def test_each_risk_group_alone(group: str, monthly: bool) -> None:
    assert rules.is_special([group]) is monthly
    expected = rules.due_reason(facts(group), NOW)
    if group in ("失能", "重残"):
        assert expected == "high_risk"
    else:
        assert expected == ("monthly" if monthly else None)


def test_no_group_is_never_due() -> None:
    assert rules.due_reason(facts(), NOW) is None
    assert rules.due_reason(facts("高龄", "优抚", age=95), NOW) is None


@pytest.mark.parametrize(("groups", "age", "high"), [
    (("失能",), 70, True), (("重残",), 62, True), (("独居", "高龄"), 81, True),
    (("独居",), 80, True), (("独居",), 79, False), (("高龄",), 90, False),
    (("空巢", "高龄"), 85, False), (("低保",), 88, False),
])
def test_high_risk(groups: tuple[str, ...], age: int, high: bool) -> None:
    assert rules.is_high_risk(groups, age) is high


@pytest.mark.parametrize(("seen", "reason"), [
    (None, "high_risk"),
    (NOW - dt.timedelta(days=7), "high_risk"),
    (NOW - dt.timedelta(days=6, hours=23), None),
    (at(1, 8), "high_risk"),  # visited this month, but 23 days ago: over the weekly cadence
])
def test_high_risk_cadence(seen: dt.datetime | None, reason: str | None) -> None:
    assert rules.due_reason(facts("失能", seen=seen), NOW) == reason


def test_cadence_is_configurable() -> None:
    weekly = facts("失能", seen=NOW - dt.timedelta(days=4))
    assert rules.due_reason(weekly, NOW) is None
    assert rules.due_reason(weekly, NOW, rules.CareConfig(high_risk_days=3)) == "high_risk"


@pytest.mark.parametrize(("seen", "reason"), [
    (None, "monthly"),
    (at(1, 0, 5), None),                      # this Shanghai month
    (at(31, 23, 59, month=10), "monthly"),    # last month, however recent
    (dt.datetime(2026, 10, 31, 16, 30, tzinfo=dt.UTC), None),  # = 1 Nov 00:30 in Shanghai
])
def test_monthly_uses_the_shanghai_month(seen: dt.datetime | None, reason: str | None) -> None:
    assert rules.due_reason(facts("空巢", seen=seen), NOW) == reason


@pytest.mark.parametrize(("alarm", "seen", "reason"), [
    (NOW - dt.timedelta(hours=2), None, "after_alarm"),
    (NOW - dt.timedelta(hours=23, minutes=59), at(24, 8, month=10), "after_alarm"),
    (NOW - dt.timedelta(hours=24), None, None),            # the window has passed
    (NOW - dt.timedelta(hours=2), NOW - dt.timedelta(hours=1), None),  # reached since
    (NOW + dt.timedelta(hours=1), None, None),             # not yet (clock skew)
])
def test_after_an_alarm(alarm: dt.datetime, seen: dt.datetime | None, reason: str | None
                        ) -> None:
    # an elder of no risk group: only the alarm makes them due
    assert rules.due_reason(facts(seen=seen, alarm=alarm), NOW) == reason


def test_after_alarm_comes_first_and_its_window_is_configurable() -> None:
    elder = facts("失能", alarm=NOW - dt.timedelta(hours=30))
    assert rules.due_reason(elder, NOW) == "high_risk"
    assert rules.due_reason(elder, NOW, rules.CareConfig(after_alarm_h=48)) == "after_alarm"


# --- the plan ---

CITY, WENDENG, LONGSHAN, KUNYU, RONGCHENG = (
    "371000", "371000.371003", "371000.371003.371003001",
    "371000.371003.371003001.371003001001", "371000.371082")


def test_plan_goes_to_the_most_local_region_with_operators() -> None:
    ops = [Operator(1, CITY), Operator(2, WENDENG), Operator(3, WENDENG)]
    elders = [DueElder(10, KUNYU), DueElder(11, LONGSHAN), DueElder(12, RONGCHENG),
              DueElder(13, WENDENG)]
    got = rules.assign(elders, ops)
    assert got[12] == 1                       # 荣成 has no operator: the city's
    assert {got[10], got[11], got[13]} <= {2, 3}  # 文登's operators share 文登's elders
    assert Counter(got[e] for e in (10, 11, 13)) in (Counter({2: 2, 3: 1}),
                                                     Counter({2: 1, 3: 2}))


def test_plan_without_a_covering_operator_leaves_the_elder_unassigned() -> None:
    assert rules.assign([DueElder(10, RONGCHENG)], [Operator(2, WENDENG)]) == {10: None}
    assert rules.assign([DueElder(10, RONGCHENG)], []) == {10: None}


def test_plan_top_up_goes_to_the_least_loaded() -> None:
    ops = [Operator(2, WENDENG), Operator(3, WENDENG)]
    got = rules.assign([DueElder(20, KUNYU), DueElder(21, KUNYU)], ops, load={2: 5, 3: 3})
    assert got == {20: 3, 21: 3}


def test_covers_is_by_path_segment() -> None:
    assert rules.covers("371000.371003", "371000.371003.371003001")
    assert rules.covers("371000.371003", "371000.371003")
    assert not rules.covers("371000.37100", "371000.371003")


REGION_PATHS = [CITY, WENDENG, LONGSHAN, KUNYU, RONGCHENG]


@given(elders=st.lists(st.sampled_from(REGION_PATHS), max_size=60),
       operators=st.lists(st.sampled_from(REGION_PATHS), max_size=8))
def test_plan_law_each_elder_once_covered_and_balanced(elders: list[str], operators: list[str]
                                                       ) -> None:
    due = [DueElder(100 + i, path) for i, path in enumerate(elders)]
    ops = [Operator(1 + i, path) for i, path in enumerate(operators)]
    got = rules.assign(due, ops)
    assert sorted(got) == [e.id for e in due]  # every due elder exactly once
    op_path = {o.id: o.region_path for o in ops}
    by_group: dict[str, Counter[int]] = {}
    for elder in due:
        chosen = got[elder.id]
        home = rules.home_region(elder.region_path, op_path.values())
        if chosen is None:
            assert home is None
            continue
        assert rules.covers(op_path[chosen], elder.region_path)  # only within their region
        assert op_path[chosen] == home                        # the most local one
        by_group.setdefault(home, Counter())[chosen] += 1
    for home, counts in by_group.items():
        loads = [counts.get(o.id, 0) for o in ops if o.region_path == home]
        assert max(loads) - min(loads) <= 1


# --- the retry ladder ---

def test_ladder_unreachable_through_to_a_home_visit() -> None:
    clock = at(24, 10)
    m1 = rules.ladder("call", 0, "unreachable", clock)
    assert (m1.state, m1.step, m1.attempts, m1.next_attempt_at) == \
        ("open", "call", 1, clock + dt.timedelta(minutes=10))
    clock = m1.next_attempt_at
    assert clock is not None
    m2 = rules.ladder(m1.step, m1.attempts, "unreachable", clock)
    assert (m2.state, m2.step, m2.attempts, m2.next_attempt_at) == \
        ("open", "call", 2, clock + dt.timedelta(hours=3))
    clock = m2.next_attempt_at
    assert clock is not None
    m3 = rules.ladder(m2.step, m2.attempts, "unreachable", clock)
    assert (m3.state, m3.step, m3.attempts, m3.next_attempt_at, m3.home_visit) == \
        ("open", "contacts", 3, clock, False)
    m4 = rules.ladder(m3.step, m3.attempts, "unreachable", clock)
    assert (m4.state, m4.step, m4.attempts, m4.next_attempt_at, m4.home_visit) == \
        ("home_visit", "home_visit", 4, None, True)
    with pytest.raises(rules.LadderError):
        rules.ladder("home_visit", 4, "well", clock)


@pytest.mark.parametrize("outcome", ["well", "needs_service", "needs_attention"])
@pytest.mark.parametrize(("step", "attempts"), [("call", 0), ("call", 2), ("contacts", 3)])
def test_a_reaching_outcome_ends_the_task(outcome: str, step: str, attempts: int) -> None:
    move = rules.ladder(step, attempts, outcome, NOW)
    assert (move.state, move.attempts, move.next_attempt_at, move.home_visit) == \
        ("done", attempts + 1, None, False)


@pytest.mark.parametrize(("now", "expected"), [
    (at(24, 10), at(24, 13)),
    (at(24, 17), at(24, 20)),           # 20:00 exactly is still that day
    (at(24, 17, 1), at(25, 9)),         # past 20:00: 09:00 the next day
    (at(24, 22), at(25, 9)),
    (at(30, 23), at(1, 9, month=12)),   # across the month end
    (at(24, 2), at(24, 9)),             # 05:00 is too early: 09:00 that day
    (at(24, 6, 30), at(24, 9, 30)),
])
def test_later_that_day_keeps_calling_hours(now: dt.datetime, expected: dt.datetime) -> None:
    assert rules.later_that_day(now) == expected
    assert rules.later_that_day(now.astimezone(dt.UTC)) == expected  # any zone in, same instant


def test_second_retry_in_the_evening_goes_to_the_next_morning() -> None:
    move = rules.ladder("call", 1, "unreachable", at(24, 19, 30))
    assert move.next_attempt_at == at(25, 9)


def test_ladder_refuses_unknown_outcomes() -> None:
    with pytest.raises(ValueError):
        rules.ladder("call", 0, "maybe", NOW)


# --- inactivity ---

@pytest.mark.parametrize(("activity", "registered", "inactive"), [
    ([None, None, None], NOW - dt.timedelta(days=30), True),
    ([NOW - dt.timedelta(days=3, seconds=1), None], NOW - dt.timedelta(days=30), True),
    ([NOW - dt.timedelta(days=2, hours=23)], NOW - dt.timedelta(days=30), False),
    ([None, NOW - dt.timedelta(hours=1), None], NOW - dt.timedelta(days=30), False),
    ([], NOW - dt.timedelta(days=1), False),  # registered yesterday: not inactive yet
])
def test_inactivity(activity: list[dt.datetime | None], registered: dt.datetime,
                    inactive: bool) -> None:
    assert rules.is_inactive(activity, registered, NOW) is inactive


def test_inactivity_period_is_configurable() -> None:
    last = [NOW - dt.timedelta(days=2)]
    old = NOW - dt.timedelta(days=60)
    assert not rules.is_inactive(last, old, NOW)
    assert rules.is_inactive(last, old, NOW, rules.CareConfig(inactivity_days=1))
    assert rules.inactivity_cutoff(NOW, rules.CareConfig(inactivity_days=5)) == \
        NOW - dt.timedelta(days=5)


def test_plan_due_on() -> None:
    assert rules.plan_due_on(dt.date(2026, 11, 1), dt.date(2026, 11, 24)) == dt.date(2026, 11, 24)
    assert rules.plan_due_on(dt.date(2026, 12, 1), dt.date(2026, 11, 24)) == dt.date(2026, 12, 1)
