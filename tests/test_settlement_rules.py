"""Settlement arithmetic (callcenter/settlement_rules.py): the self-paid price, a statement line
from an order with or without its debit, totals per programme and overall, the over-budget
quote, which month a row is booked to when months are closed, and when a month may be closed;
plus the laws that hold for any lines (hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import settlement_rules as rules

T0 = dt.datetime(2026, 10, 10, 2, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("minutes", "price", "duration", "expected"), [
    (60, 8000, 60, 8000),       # a whole bath at the list price
    (35, 8000, 60, 4667),       # 35/60 of ¥80 = ¥46.666… → ¥46.67
    (10, 1500, 20, 750),
    (1, 1, 3, 0),               # a third of a cent rounds down
    (3, 1, 2, 2),               # 1.5 cents rounds half up
    (0, 8000, 60, 0),
    (30, 0, 60, 0),             # a free item costs nothing, however long
])
def test_self_paid_cents(minutes: int, price: int, duration: int, expected: int) -> None:
    assert rules.self_paid_cents(minutes, price, duration) == expected


def order(**kw: Any) -> dict[str, Any]:
    row = {"id": 1, "price_cents": 8000, "duration_min": 60, "approved_minutes": None,
           "checked_in_at": T0, "checked_out_at": T0 + dt.timedelta(minutes=45),
           "programme_code": None, "ledger_minutes": None, "ledger_subsidised_minutes": None,
           "ledger_self_paid_minutes": None, "ledger_amount_cents": None}
    row.update(kw)
    return row


def test_a_line_takes_the_debits_split() -> None:
    x = rules.line(order(programme_code="dibao", ledger_minutes=45,
                         ledger_subsidised_minutes=10, ledger_self_paid_minutes=35,
                         ledger_amount_cents=417))
    assert x == rules.Line(1, "dibao", 45, 10, 35, 417, 4667)


def test_a_line_without_a_debit_is_self_paid_for_its_checked_minutes() -> None:
    assert rules.line(order()) == rules.Line(1, None, 45, 0, 45, 0, 6000)
    over = order(checked_out_at=T0 + dt.timedelta(minutes=95))
    assert rules.line(over).checked_min == 60  # capped at the standard duration
    assert rules.line({**over, "approved_minutes": 90}).checked_min == 90
    assert rules.line(order(checked_in_at=None)) == rules.Line(1, None, 0, 0, 0, 0, 0)


def test_totals_and_programmes() -> None:
    lines = [rules.Line(1, "dibao", 45, 45, 0, 1875, 0), rules.Line(2, "dibao", 60, 10, 50, 417, 6667),
             rules.Line(3, None, 20, 0, 20, 0, 1500), rules.Line(4, "tekun", 30, 30, 0, 1250, 0)]
    assert rules.total(lines) == rules.Totals(4, 155, 85, 70, 3542, 8167)
    groups = rules.by_programme(lines)
    assert list(groups) == ["", "dibao", "tekun"]
    assert groups["dibao"] == rules.Totals(2, 105, 55, 50, 2292, 6667)
    assert groups[""].as_dict() == {"orders": 1, "checked_min": 20, "subsidised_min": 0,
                                    "self_paid_min": 20, "subsidised_cents": 0,
                                    "self_paid_cents": 1500}
    assert rules.total([]) == rules.Totals()


@pytest.mark.parametrize(("left", "duration", "price", "expected"), [
    (60, 60, 8000, None),                     # exactly covered
    (1800, 60, 8000, None),
    (20, 60, 8000, rules.OverBudget(20, 60, 40, 5333)),
    (0, 60, 8000, rules.OverBudget(0, 60, 60, 8000)),
    (0, 15, 0, rules.OverBudget(0, 15, 15, 0)),
])
def test_over_budget(left: int, duration: int, price: int,
                     expected: rules.OverBudget | None) -> None:
    assert rules.over_budget(left, duration, price) == expected


def d(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


@pytest.mark.parametrize(("natural", "closed", "expected"), [
    ("2026-10-01", [], "2026-10-01"),
    ("2026-10-01", ["2026-09-01"], "2026-10-01"),
    ("2026-10-01", ["2026-10-01"], "2026-11-01"),
    ("2026-11-01", ["2026-10-01", "2026-11-01", "2026-12-01"], "2027-01-01"),
    ("2026-12-01", ["2026-12-01"], "2027-01-01"),   # across the year
])
def test_first_open_month(natural: str, closed: list[str], expected: str) -> None:
    assert rules.first_open(d(natural), [d(c) for c in closed]) == d(expected)


@pytest.mark.parametrize(("month", "today", "ended"), [
    ("2026-10-01", "2026-11-01", True),
    ("2026-10-01", "2026-10-31", False),   # the last day is not over yet
    ("2026-11-01", "2026-11-24", False),
    ("2026-02-01", "2026-03-01", True),
])
def test_a_month_has_ended_after_its_last_day(month: str, today: str, ended: bool) -> None:
    assert rules.has_ended(d(month), d(today)) is ended


def test_month_steps_and_the_moved_note() -> None:
    assert rules.next_month(d("2026-12-01")) == d("2027-01-01")
    assert rules.previous_month(d("2026-01-15")) == d("2025-12-01")
    note = rules.moved_note(d("2026-10-01"), d("2026-11-01"))
    assert "2026-10" in note and "2026-11" in note and "closed" in note


lines_st = st.lists(st.builds(
    lambda i, p, s, sp, sc, pc: rules.Line(i, p, s + sp, s, sp, sc, pc),
    st.integers(1, 10**6), st.sampled_from([None, "dibao", "tekun", "shineng"]),
    st.integers(0, 600), st.integers(0, 600), st.integers(0, 10**5), st.integers(0, 10**5)),
    max_size=30)


@given(lines_st)
def test_programme_totals_add_up_to_the_total(lines: list[rules.Line]) -> None:
    overall = rules.total(lines)
    summed = rules.Totals()
    for part in rules.by_programme(lines).values():
        summed = rules.add(summed, part)
    assert summed == overall
    assert overall.checked_min == overall.subsidised_min + overall.self_paid_min
    assert overall.orders == len(lines)


@given(st.integers(-100, 2000), st.integers(1, 720), st.integers(0, 100000))
def test_over_budget_split_covers_the_duration(left: int, duration: int, price: int) -> None:
    quote = rules.over_budget(left, duration, price)
    if left >= duration:
        assert quote is None
    else:
        assert quote is not None
        assert quote.left_min + quote.self_paid_min == duration
        assert 0 <= quote.self_paid_cents <= price
