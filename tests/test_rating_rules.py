"""The rating formula, the follow-up sample, the retry ladder and complaint deadlines, without
I/O: crafted facts in a table, and laws (stars within 1..5, monotone in satisfaction) checked by
hypothesis."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import rating_rules as rules
from callcenter.rating_rules import Facts

SH = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("facts", "previous", "stars", "kept"), [
    (Facts(), Decimal("3.0"), Decimal("3.0"), True),                      # nothing to rate
    (Facts(orders=4, completed=4, on_time=4), Decimal("2.7"), Decimal("2.7"), True),  # too few
    (Facts(orders=10, completed=10, on_time=10, satisfaction_sum=50, satisfaction_n=10),
     Decimal("3.0"), Decimal("5.0"), False),                              # flawless
    (Facts(orders=10, failed=10, late=10, satisfaction_sum=10, satisfaction_n=10,
           complaints=10, upheld=10, missed=10), Decimal("3.0"), Decimal("1.0"), False),
    # no follow-ups: satisfaction drops out, the rest is perfect
    (Facts(orders=10, completed=10, on_time=10), Decimal("3.0"), Decimal("5.0"), False),
    # all "3": 0.35 × 0.5 + 0.65 × 1 = 0.825 → 1 + 3.3
    (Facts(orders=10, completed=10, on_time=10, satisfaction_sum=30, satisfaction_n=10),
     Decimal("3.0"), Decimal("4.3"), False),
    # mean 4 (.75), 15/20 on time (.75), 18/20 completed (.9), 5 upheld per 100 (.5), no missed:
    # .2625 + .15 + .18 + .075 + .1 = .7675 → 4.07 → 4.1
    (Facts(orders=20, completed=18, failed=2, on_time=15, late=5, satisfaction_sum=40,
           satisfaction_n=10, complaints=3, upheld=1), Decimal("3.0"), Decimal("4.1"), False),
    # received but not upheld complaints cost nothing; 2 missed of 10 = 20 per 100 → 0
    (Facts(orders=10, completed=10, on_time=10, complaints=5, missed=2), Decimal("3.0"),
     Decimal("4.4"), False),
])
def test_rating_table(facts: Facts, previous: Decimal, stars: Decimal, kept: bool) -> None:
    r = rules.rate(facts, previous)
    assert (r.stars, r.kept) == (stars, kept)
    assert r.breakdown["orders"] == facts.orders


def test_breakdown_names_every_part() -> None:
    r = rules.rate(Facts(orders=20, completed=18, failed=2, on_time=15, late=5,
                         satisfaction_sum=40, satisfaction_n=10, complaints=3, upheld=1))
    b = r.breakdown
    assert b["satisfaction_mean"] == 4.0 and b["satisfaction_n"] == 10
    assert (b["complaints_per_100"], b["upheld_per_100"], b["missed_per_100"]) == (15.0, 5.0, 0.0)
    assert b["scores"] == {"satisfaction": 0.75, "punctuality": 0.75, "completion": 0.9,
                           "complaints": 0.5, "missed": 1.0}
    assert sum(b["weights"].values()) == pytest.approx(1.0)


counts = st.integers(min_value=0, max_value=200)


@st.composite
def facts(draw: st.DrawFn) -> Facts:
    orders = draw(st.integers(min_value=0, max_value=300))
    n = draw(st.integers(min_value=0, max_value=100))
    return Facts(orders=orders, completed=draw(counts), failed=draw(counts),
                 on_time=draw(counts), late=draw(counts),
                 satisfaction_sum=draw(st.integers(min_value=n, max_value=5 * n)),
                 satisfaction_n=n, complaints=draw(counts), upheld=draw(counts),
                 missed=draw(counts))


@given(facts())
def test_stars_always_within_one_to_five(f: Facts) -> None:
    stars = rules.rate(f).stars
    assert Decimal("1.0") <= stars <= Decimal("5.0")
    assert stars == stars.quantize(Decimal("0.1"))


@given(facts(), st.integers(min_value=1, max_value=100), st.data())
def test_monotone_in_satisfaction(f: Facts, n: int, data: st.DataObject) -> None:
    low = data.draw(st.integers(min_value=n, max_value=5 * n))
    high = data.draw(st.integers(min_value=low, max_value=5 * n))
    a = rules.rate(Facts(**{**f.__dict__, "satisfaction_sum": low, "satisfaction_n": n}))
    b = rules.rate(Facts(**{**f.__dict__, "satisfaction_sum": high, "satisfaction_n": n}))
    assert a.stars <= b.stars


def test_sample_is_deterministic_and_near_the_rate() -> None:
    ids = range(1, 20001)
    picked = [i for i in ids if rules.sampled(i, 0.3)]
    assert picked == [i for i in ids if rules.sampled(i, 0.3)]  # same answer every time
    assert 0.28 < len(picked) / len(ids) < 0.32
    assert not any(rules.sampled(i, 0.0) for i in ids)
    assert all(rules.sampled(i, 1.0) for i in ids)
    # a higher rate keeps every order a lower rate picked
    assert set(picked) <= {i for i in ids if rules.sampled(i, 0.5)}


def test_unreachable_ladder() -> None:
    now = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.UTC)
    assert rules.after_unreachable(1, now) == now + dt.timedelta(hours=2)
    assert rules.after_unreachable(2, now) == now + dt.timedelta(hours=4)
    assert rules.after_unreachable(rules.MAX_TRIES, now) is None


@pytest.mark.parametrize(("start", "days", "deadline"), [
    (dt.datetime(2026, 11, 20, 10, 0, tzinfo=SH), 3, dt.datetime(2026, 11, 25, 10, 0, tzinfo=SH)),
    (dt.datetime(2026, 11, 21, 9, 30, tzinfo=SH), 3, dt.datetime(2026, 11, 25, 9, 30, tzinfo=SH)),
    (dt.datetime(2026, 11, 23, 16, 0, tzinfo=SH), 1, dt.datetime(2026, 11, 24, 16, 0, tzinfo=SH)),
    (dt.datetime(2026, 11, 23, 16, 0, tzinfo=SH), 5, dt.datetime(2026, 11, 30, 16, 0, tzinfo=SH)),
])
def test_working_day_deadline(start: dt.datetime, days: int, deadline: dt.datetime) -> None:
    assert rules.add_working_days(start.astimezone(dt.UTC), days, SH) == deadline


def test_overdue() -> None:
    t = dt.datetime(2026, 11, 25, 10, 0, tzinfo=SH)
    assert rules.overdue("open", t, t + dt.timedelta(seconds=1))
    assert rules.overdue("in_progress", t, t + dt.timedelta(days=1))
    assert not rules.overdue("open", t, t)
    assert not rules.overdue("resolved", t, t + dt.timedelta(days=9))
