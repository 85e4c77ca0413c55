"""Alarm decisions without I/O: which event raises what, transitions, escalation by the clock."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callcenter import alarm_rules as rules

HOME = rules.Geofence(37.19, 122.05, 500)
INSIDE = (37.1905, 122.0505)
OUTSIDE = (37.23, 122.05)  # ~4.4 km north


@pytest.mark.parametrize("event, raised", [
    ("sos", "sos"), ("fall", "fall"), ("smoke", "smoke"), ("gas", "gas"), ("water", "water"),
    ("low_battery", "low_battery"), ("inactivity", "inactivity"), ("wander", "wander"),
    ("heartbeat", None), ("door", None), ("location", None)])
def test_what_each_event_raises(event: str, raised: str | None) -> None:
    assert rules.decide(event, fence=None, was_outside=False, position=None).raise_kind == raised


def test_wander_once_per_excursion() -> None:
    steps = [INSIDE, OUTSIDE, OUTSIDE, OUTSIDE, INSIDE, OUTSIDE]
    outside, raised = False, []
    for pos in steps:
        d = rules.decide("location", fence=HOME, was_outside=outside, position=pos)
        outside = d.outside_geofence
        raised.append(d.raise_kind)
    assert raised == [None, "wander", None, None, None, "wander"]


def test_no_fence_no_wander() -> None:
    d = rules.decide("location", fence=None, was_outside=False, position=OUTSIDE)
    assert d.raise_kind is None and d.outside_geofence is False


@pytest.mark.parametrize("state, action, new", [
    ("queued", "offer", "offered"), ("offered", "acknowledge", "acknowledged"),
    ("queued", "acknowledge", "acknowledged"), ("acknowledged", "handle", "in_progress"),
    ("in_progress", "resolve", "resolved"), ("acknowledged", "resolve", "resolved"),
    ("resolved", "close", "closed")])
def test_allowed_transitions(state: str, action: str, new: str) -> None:
    assert rules.transition(state, action) == new


@pytest.mark.parametrize("state, action", [
    ("offered", "resolve"), ("closed", "acknowledge"), ("resolved", "handle"),
    ("acknowledged", "acknowledge"), ("queued", "close"), ("nonsense", "close")])
def test_refused_transitions(state: str, action: str) -> None:
    with pytest.raises(rules.TransitionError):
        rules.transition(state, action)


T0 = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


def test_escalation_deadlines() -> None:
    assert rules.escalation_after(0, T0, offer_s=20, city_s=60).deadline == \
        T0 + dt.timedelta(seconds=20)
    assert rules.escalation_after(1, T0, offer_s=20, city_s=60).deadline == \
        T0 + dt.timedelta(seconds=60)
    assert rules.escalation_after(2, T0, offer_s=20, city_s=60).deadline is None


@given(st.integers(0, 10_000))
def test_level_due_is_monotonic_in_age(age_s: int) -> None:
    now = T0 + dt.timedelta(seconds=age_s)
    level = rules.level_due(T0, now, offer_s=20, city_s=60)
    assert level == (0 if age_s < 20 else 1 if age_s < 60 else 2)


def test_parse_timeouts() -> None:
    assert rules.parse_timeouts("bracelet=600")["bracelet"] == 600
    assert rules.parse_timeouts("")["sos_phone"] == 26 * 3600
    for bad in ("toaster=60", "bracelet=abc", "bracelet=5"):
        with pytest.raises(ValueError):
            rules.parse_timeouts(bad)
