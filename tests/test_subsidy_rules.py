"""Subsidised-hours arithmetic (callcenter/subsidy_rules.py): checked duration and its cap,
the month's budget, the split of a debit, amounts in cents, Asia/Shanghai month boundaries; and
the laws that hold for any input (hypothesis)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import subsidy_rules as rules
from callcenter.subsidy_rules import Programme

T0 = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.UTC)
DIBAO = Programme("dibao", Decimal(30), 2500)
TEKUN = Programme("tekun", Decimal(60), 2500)
SHINENG = Programme("shineng", Decimal("40.5"), 3000)


@pytest.mark.parametrize(("on_site_s", "standard", "approved", "expected"), [
    (45 * 60, 60, None, 45),
    (90 * 60, 60, None, 60),          # capped at the item's standard duration
    (90 * 60, 60, 80, 80),            # an operator approved more: capped there
    (70 * 60, 60, 80, 70),            # approved more, used less
    (50 * 60, 60, 30, 50),            # an approval below the standard never lowers the cap
    (29, 60, None, 0),                # under half a minute rounds down
    (30, 60, None, 1),                # half a minute rounds up
    (-120, 60, None, 0),              # a clock skew never gives negative minutes
])
def test_checked_minutes(on_site_s: int, standard: int, approved: int | None,
                         expected: int) -> None:
    out = T0 + dt.timedelta(seconds=on_site_s)
    assert rules.checked_minutes(T0, out, standard, approved) == expected


def test_budget_sums_programmes_in_minutes() -> None:
    assert rules.budget_minutes([]) == 0
    assert rules.budget_minutes([DIBAO]) == 1800
    assert rules.budget_minutes([DIBAO, TEKUN, SHINENG]) == (30 + 60) * 60 + 2430


@pytest.mark.parametrize(("minutes", "budget", "used", "subsidised", "self_paid"), [
    (60, 1800, 0, 60, 0),
    (60, 1800, 1770, 30, 30),         # over budget: the rest is self-paid
    (60, 1800, 1800, 0, 60),
    (60, 1800, 1900, 0, 60),          # a month already over (corrections) never goes negative
    (60, 0, 0, 0, 60),
    (0, 1800, 0, 0, 0),
])
def test_split(minutes: int, budget: int, used: int, subsidised: int, self_paid: int) -> None:
    assert rules.split(minutes, budget, used) == rules.Split(minutes, subsidised, self_paid)


def test_split_refuses_negative_minutes() -> None:
    with pytest.raises(ValueError):
        rules.split(-1, 100, 0)


@pytest.mark.parametrize(("minutes", "rate", "cents"), [
    (60, 2500, 2500), (45, 2500, 1875), (1, 2500, 42), (1, 2700, 45), (1, 3030, 51),
    (-1, 2500, -42), (-1, 3030, -51), (0, 3000, 0), (7, 30, 4),  # 3.5 rounds half away from 0
])
def test_amount_cents(minutes: int, rate: int, cents: int) -> None:
    assert rules.amount_cents(minutes, rate) == cents


def test_month_boundaries_are_shanghai_months() -> None:
    # 2026-11-30 16:30 UTC is already 1 December in Shanghai
    assert rules.month_of(dt.datetime(2026, 11, 30, 16, 30, tzinfo=dt.UTC)) == dt.date(2026, 12, 1)
    assert rules.month_of(dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 11, 1)
    start, end = rules.month_bounds(dt.date(2026, 2, 1))
    assert start.isoformat() == "2026-02-01T00:00:00+08:00"
    assert end.isoformat() == "2026-03-01T00:00:00+08:00"
    assert rules.month_end(dt.date(2028, 2, 1)) == dt.date(2028, 2, 29)
    assert rules.month_end(dt.date(2026, 12, 1)) == dt.date(2026, 12, 31)


@pytest.mark.parametrize(("starts", "ends", "hit"), [
    (dt.date(2026, 11, 30), None, True), (dt.date(2026, 12, 1), None, False),
    (dt.date(2025, 1, 1), dt.date(2026, 11, 1), True),
    (dt.date(2025, 1, 1), dt.date(2026, 10, 31), False),
])
def test_eligibility_overlapping_the_month(starts: dt.date, ends: dt.date | None,
                                           hit: bool) -> None:
    assert rules.overlaps_month(starts, ends, dt.date(2026, 11, 1)) is hit


def test_charged_programme_is_the_largest() -> None:
    assert rules.charged_programme([]) is None
    assert rules.charged_programme([DIBAO, SHINENG, TEKUN]) == TEKUN
    same_hours = Programme("youfu", Decimal(30), 2800)
    assert rules.charged_programme([DIBAO, same_hours]) == same_hours


@given(st.integers(0, 600), st.integers(0, 60 * 60), st.lists(st.integers(0, 600), max_size=30))
def test_a_month_of_debits_never_exceeds_the_budget(budget: int, first_used: int,
                                                     visits: list[int]) -> None:
    used = min(first_used, budget)
    for minutes in visits:
        part = rules.split(minutes, budget, used)
        assert part.subsidised_minutes + part.self_paid_minutes == minutes
        assert part.subsidised_minutes >= 0 and part.self_paid_minutes >= 0
        used += part.subsidised_minutes
        assert used <= budget
    # what was subsidised is exactly what the budget allowed
    assert used == min(budget, min(first_used, budget) + sum(visits))


@given(st.integers(0, 24 * 3600), st.integers(1, 1440), st.one_of(st.none(),
                                                                  st.integers(1, 1440)))
def test_checked_minutes_never_exceed_the_cap(on_site_s: int, standard: int,
                                              approved: int | None) -> None:
    minutes = rules.checked_minutes(T0, T0 + dt.timedelta(seconds=on_site_s), standard, approved)
    assert 0 <= minutes <= max(standard, approved or 0)
    assert abs(minutes - on_site_s / 60) <= 0.5 or minutes == max(standard, approved or 0)


@given(st.integers(-10_000, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_amounts_add_up_within_a_cent(a: int, b: int, rate: int) -> None:
    whole = rules.amount_cents(a + b, rate)
    assert abs(whole - (rules.amount_cents(a, rate) + rules.amount_cents(b, rate))) <= 1
