"""Time-bank arithmetic without I/O: points per activity rate and rounding, the balance law
(earned − redeemed, never negative), what can be logged when, and the monthly report's sums."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import timebank_rules as rules
from callcenter.timebank_rules import HoursRow, RedeemRow

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SH)
RATES = st.sampled_from([Decimal("1"), Decimal("1.5"), Decimal("2"), Decimal("0.5"),
                         Decimal("10")])


@pytest.mark.parametrize(("minutes", "rate", "points"), [
    (60, "1", "1.0"), (30, "1", "0.5"), (20, "1", "0.3"), (10, "1", "0.2"),   # 0.1666… → 0.2
    (3, "1", "0.1"), (2, "1", "0.0"), (1, "1", "0.0"),    # 0.05 rounds half up to 0.1 …
    (45, "2", "1.5"), (90, "1.5", "2.3"), (720, "2", "24.0"), (0, "1", "0.0"),
])
def test_points_for_a_stretch(minutes: int, rate: str, points: str) -> None:
    assert rules.points_for(minutes, Decimal(rate)) == Decimal(points)


def test_half_a_tenth_rounds_up() -> None:
    assert rules.points_for(3, Decimal(1)) == Decimal("0.1")  # 0.05 exactly
    assert rules.points_for(9, Decimal(1)) == Decimal("0.2")  # 0.15 exactly
    with pytest.raises(ValueError):
        rules.points_for(-1, Decimal(1))


@given(st.integers(0, 720), st.integers(0, 720), RATES)
def test_points_are_monotone_in_minutes(a: int, b: int, rate: Decimal) -> None:
    lo, hi = sorted((a, b))
    assert rules.points_for(lo, rate) <= rules.points_for(hi, rate)


@given(st.integers(0, 720), RATES)
def test_points_are_never_negative_and_close_to_exact(minutes: int, rate: Decimal) -> None:
    got = rules.points_for(minutes, rate)
    assert got >= 0
    assert abs(got - Decimal(minutes) * rate / 60) <= Decimal("0.05")


@given(st.lists(st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 720), RATES),
    st.tuples(st.just("redeem"), st.integers(1, 300), st.just(Decimal(0)))), max_size=40))
def test_balance_is_earned_minus_redeemed_and_never_negative(ops: list[tuple[str, int, Decimal]]
                                                            ) -> None:
    """Replaying a ledger the way volunteers.redeem books it: a redemption goes through only
    when may_redeem allows it, so every prefix's balance is ≥ 0."""
    ledger: list[Decimal] = []
    earned = redeemed = Decimal(0)
    for kind, n, rate in ops:
        if kind == "earn":
            p = rules.points_for(n, rate)
            ledger.append(p)
            earned += p
        else:
            want = Decimal(n) / 10
            if rules.may_redeem(rules.balance(ledger), want):
                ledger.append(-want)
                redeemed += want
            else:
                assert want > rules.balance(ledger)
        assert rules.balance(ledger) >= 0
    assert rules.balance(ledger) == earned - redeemed


@pytest.mark.parametrize(("balance", "points", "ok"), [
    ("5.0", "5.0", True), ("5.0", "5.1", False), ("5.0", "0", False), ("5.0", "-1", False),
    ("5.0", "0.05", False), ("20000", "10001", False), ("0", "0.1", False),
])
def test_may_redeem(balance: str, points: str, ok: bool) -> None:
    assert rules.may_redeem(Decimal(balance), Decimal(points)) is ok


@pytest.mark.parametrize(("start", "minutes", "joined", "problem"), [
    (NOW - dt.timedelta(hours=2), 60, dt.date(2026, 1, 1), None),
    (NOW - dt.timedelta(hours=1), 60, dt.date(2026, 1, 1), None),            # ends right now
    (NOW - dt.timedelta(minutes=30), 60, dt.date(2026, 1, 1), "started_at"),  # ends in 30 min
    (NOW + dt.timedelta(days=1), 30, dt.date(2026, 1, 1), "started_at"),
    (NOW - dt.timedelta(days=400), 30, dt.date(2020, 1, 1), "started_at"),
    (dt.datetime(2026, 3, 1, 7, 59, tzinfo=SH), 30, dt.date(2026, 3, 2), "started_at"),
    # 2026-03-01 23:30 UTC is already 2 March in Shanghai: on the joining day, allowed
    (dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC), 30, dt.date(2026, 3, 2), None),
    (NOW - dt.timedelta(hours=2), 0, dt.date(2026, 1, 1), "minutes"),
    (NOW - dt.timedelta(hours=20), 721, dt.date(2026, 1, 1), "minutes"),
])
def test_what_can_be_logged(start: dt.datetime, minutes: int, joined: dt.date,
                            problem: str | None) -> None:
    found = rules.hours_problem(start, minutes, NOW, joined, SH)
    assert (found[0] if found else None) == problem


def test_overlaps() -> None:
    t = NOW
    assert rules.overlaps(t, 60, t + dt.timedelta(minutes=30), 60)
    assert rules.overlaps(t, 60, t - dt.timedelta(minutes=30), 31)
    assert not rules.overlaps(t, 60, t + dt.timedelta(minutes=60), 30)  # touching ends
    assert not rules.overlaps(t, 60, t - dt.timedelta(minutes=30), 30)


def test_monthly_report_on_crafted_rows() -> None:
    hours = [HoursRow(1, "A", "meal", 100, 60, Decimal("2.0")),
             HoursRow(1, "A", "visit", 100, 30, Decimal("0.5")),
             HoursRow(2, "A", "visit", 101, 45, Decimal("0.8")),
             HoursRow(3, "B", "visit", 100, 90, Decimal("1.5")),   # elder 100 again, from B
             HoursRow(3, "B", "haircut", None, 20, Decimal("0.3"))]
    redeemed = [RedeemRow(1, "A", Decimal("1.5")), RedeemRow(3, "B", Decimal("1.0"))]
    per, total, kinds = rules.monthly_report(["A", "B", "C"], {"A": 4, "B": 1}, hours, redeemed)
    assert per["A"].public() == {"volunteers": 4, "active_volunteers": 2, "logs": 3,
                                 "minutes": 135, "hours": 2.3, "points_earned": 3.3,
                                 "points_redeemed": 1.5, "elders_helped": 2}
    assert per["B"].public()["elders_helped"] == 1 and per["B"].points_redeemed == 1
    assert per["C"].public() == {"volunteers": 0, "active_volunteers": 0, "logs": 0,
                                 "minutes": 0, "hours": 0.0, "points_earned": 0.0,
                                 "points_redeemed": 0.0, "elders_helped": 0}
    # totals: sums of the rows, but distinct elders over the whole region (100, 101)
    assert total.public() == {"volunteers": 5, "active_volunteers": 3, "logs": 5,
                              "minutes": 245, "hours": 4.1, "points_earned": 5.1,
                              "points_redeemed": 2.5, "elders_helped": 2}
    assert {k: (f.logs, f.minutes) for k, f in kinds.items()} == {
        "meal": (1, 60), "visit": (3, 165), "haircut": (1, 20)}


@given(st.lists(st.tuples(st.integers(1, 5), st.sampled_from("ABC"), st.integers(1, 720),
                          st.integers(0, 9)), max_size=30))
def test_report_totals_are_the_sums_of_the_communities(rows: list[tuple[int, str, int, int]]
                                                       ) -> None:
    hours = [HoursRow(v, c, "visit", e or None, m, rules.points_for(m, Decimal(1)))
             for v, c, m, e in rows]
    per, total, _ = rules.monthly_report("ABC", {}, hours, [])
    assert total.minutes == sum(f.minutes for f in per.values())
    assert total.points_earned == sum((f.points_earned for f in per.values()), Decimal(0))
    assert total.logs == len(rows)
    assert total.elders_helped <= sum(f.elders_helped for f in per.values())
