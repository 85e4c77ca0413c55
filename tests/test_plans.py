"""Recurring care plans: which visit windows fall in a span of days, without I/O."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from dispatch.plans import Plan, visit_windows

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MON = dt.date(2025, 3, 3)  # a Monday
TUESDAY = 2
EVERY_DAY = frozenset(range(1, 8))


def bathing(**changes: object) -> Plan:
    """Bathing every Tuesday 09:00-11:00, valid from long ago, open ended."""
    fields: dict[str, object] = {"weekdays": frozenset({TUESDAY}), "start": dt.time(9, 0),
                                 "end": dt.time(11, 0), "valid_from": dt.date(2025, 1, 1),
                                 "valid_until": None}
    fields.update(changes)
    return Plan(**fields)  # type: ignore[arg-type]


def meals(**changes: object) -> Plan:
    return bathing(weekdays=EVERY_DAY, start=dt.time(11, 30), end=dt.time(12, 15), **changes)


def days(windows: list[tuple[dt.datetime, dt.datetime]]) -> list[dt.date]:
    return [start.date() for start, _ in windows]


def test_weekly_tuesday_over_two_weeks() -> None:
    windows = visit_windows(bathing(), MON, MON + dt.timedelta(days=13), SHANGHAI)
    assert len(windows) == 2
    assert days(windows) == [dt.date(2025, 3, 4), dt.date(2025, 3, 11)]
    for start, end in windows:
        assert start.isoweekday() == TUESDAY
        assert start.tzinfo is SHANGHAI and end.tzinfo is SHANGHAI
        assert (start.hour, start.minute, end.hour, end.minute) == (9, 0, 11, 0)
        assert start.utcoffset() == dt.timedelta(hours=8)
        utc_start, utc_end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
        assert (utc_start.date(), utc_start.hour, utc_start.minute) == (start.date(), 1, 0)
        assert (utc_end.hour, utc_end.minute) == (3, 0)
        assert end - start == dt.timedelta(hours=2)
    assert windows[0][0] == dt.datetime(2025, 3, 4, 1, 0, tzinfo=dt.UTC)


def test_daily_meals() -> None:
    windows = visit_windows(meals(), MON, MON + dt.timedelta(days=6), SHANGHAI)
    assert days(windows) == [MON + dt.timedelta(days=i) for i in range(7)]
    assert {s.isoweekday() for s, _ in windows} == EVERY_DAY
    assert all(e - s == dt.timedelta(minutes=45) for s, e in windows)
    assert all((s.hour, s.minute) == (11, 30) for s, _ in windows)
    starts = [s for s, _ in windows]
    assert starts == sorted(starts)


def test_several_weekdays() -> None:
    plan = bathing(weekdays=frozenset({1, 3, 5}))
    windows = visit_windows(plan, MON, MON + dt.timedelta(days=6), SHANGHAI)
    assert [s.isoweekday() for s, _ in windows] == [1, 3, 5]


def test_one_day_span() -> None:
    tue = MON + dt.timedelta(days=1)
    assert days(visit_windows(bathing(), tue, tue, SHANGHAI)) == [tue]
    assert visit_windows(bathing(), MON, MON, SHANGHAI) == []


def test_valid_from_in_the_middle() -> None:
    thursday = MON + dt.timedelta(days=3)
    windows = visit_windows(meals(valid_from=thursday), MON, MON + dt.timedelta(days=6),
                            SHANGHAI)
    assert days(windows) == [thursday + dt.timedelta(days=i) for i in range(4)]


def test_valid_from_on_a_visit_day_counts() -> None:
    second_tuesday = dt.date(2025, 3, 11)
    windows = visit_windows(bathing(valid_from=second_tuesday), MON,
                            MON + dt.timedelta(days=13), SHANGHAI)
    assert days(windows) == [second_tuesday]


def test_valid_until_cuts_off_inclusively() -> None:
    three_weeks = MON + dt.timedelta(days=20)
    until_tuesday = visit_windows(bathing(valid_until=dt.date(2025, 3, 11)), MON, three_weeks,
                                  SHANGHAI)
    assert days(until_tuesday) == [dt.date(2025, 3, 4), dt.date(2025, 3, 11)]
    until_monday = visit_windows(bathing(valid_until=dt.date(2025, 3, 10)), MON, three_weeks,
                                 SHANGHAI)
    assert days(until_monday) == [dt.date(2025, 3, 4)]
    open_ended = visit_windows(bathing(), MON, three_weeks, SHANGHAI)
    assert len(open_ended) == 3


def test_validity_on_both_sides() -> None:
    plan = meals(valid_from=dt.date(2025, 3, 5), valid_until=dt.date(2025, 3, 7))
    windows = visit_windows(plan, MON, MON + dt.timedelta(days=13), SHANGHAI)
    assert days(windows) == [dt.date(2025, 3, 5), dt.date(2025, 3, 6), dt.date(2025, 3, 7)]


def test_empty_when_first_after_last() -> None:
    assert visit_windows(meals(), MON + dt.timedelta(days=1), MON, SHANGHAI) == []


def test_empty_outside_validity() -> None:
    before = meals(valid_from=dt.date(2025, 4, 1))
    assert visit_windows(before, MON, MON + dt.timedelta(days=13), SHANGHAI) == []
    after = meals(valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2025, 2, 28))
    assert visit_windows(after, MON, MON + dt.timedelta(days=13), SHANGHAI) == []


def test_no_weekdays_no_visits() -> None:
    plan = bathing(weekdays=frozenset())
    assert visit_windows(plan, MON, MON + dt.timedelta(days=13), SHANGHAI) == []
