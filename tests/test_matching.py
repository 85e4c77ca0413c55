"""Candidate filtering and scoring (SPEC §5.2) on crafted snapshots, without I/O."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import matching
from dispatch.matching import Need, Scored, Staff, choose, rank, reject_reason, score, why_none

NOW = 1_750_000_000.0
URBAN_M = 3000.0
RURAL_M = 8000.0


def person(staff_id: int = 1, **changes: Any) -> Staff:
    """An eligible bathing helper 1 km away, unless told otherwise."""
    base = Staff(staff_id=staff_id, provider_id=10, distance_m=1000.0,
                 skills=frozenset({"bath", "meal"}), on_shift=True, located_at=NOW - 60,
                 load=0, capacity=3, rating=4.0, last_assigned_at=None)
    return dataclasses.replace(base, **changes)


def need(**changes: Any) -> Need:
    return dataclasses.replace(Need(skill="bath", radius_m=URBAN_M, now=NOW), **changes)


def ids(ranked: list[Scored]) -> list[int]:
    return [c.staff.staff_id for c in ranked]


# --- eligibility ----------------------------------------------------------------------------------

def test_the_baseline_is_eligible() -> None:
    assert reject_reason(person(), need()) is None


@pytest.mark.parametrize("changes, reason", [
    ({"skills": frozenset({"meal"})}, "no_skill"),
    ({"skills": frozenset()}, "no_skill"),
    ({"on_shift": False}, "off_shift"),
    ({"located_at": NOW - 301}, "stale_location"),
    ({"located_at": NOW - 3600}, "stale_location"),
    ({"distance_m": 3000.5}, "too_far"),
    ({"load": 3}, "full"),
    ({"load": 4}, "full"),
    ({"capacity": 0}, "full"),
])
def test_reject_reason(changes: dict[str, Any], reason: str) -> None:
    s = person(**changes)
    assert reject_reason(s, need()) == reason
    ranked, rejected = rank([s], need())
    assert ranked == [] and rejected == Counter({reason: 1})


def test_boundaries_are_inclusive() -> None:
    """Exactly fresh_s old, exactly at the radius, one below capacity: still eligible."""
    assert reject_reason(person(located_at=NOW - 300), need()) is None
    assert reject_reason(person(distance_m=URBAN_M), need()) is None
    assert reject_reason(person(load=2, capacity=3), need()) is None


def test_freshness_follows_the_need() -> None:
    s = person(located_at=NOW - 200)
    assert reject_reason(s, need()) is None
    assert reject_reason(s, need(fresh_s=120)) == "stale_location"


def test_urban_and_rural_radius() -> None:
    """5 km away: outside the 3 km urban circle, inside the 8 km rural one."""
    s = person(distance_m=5000)
    assert reject_reason(s, need(radius_m=URBAN_M)) == "too_far"
    assert reject_reason(s, need(radius_m=RURAL_M)) is None
    assert reject_reason(person(distance_m=8001), need(radius_m=RURAL_M)) == "too_far"


def test_already_offered_is_excluded() -> None:
    pool = [person(1), person(2), person(3)]
    ranked, rejected = rank(pool, need(exclude=frozenset({1, 3})))
    assert ids(ranked) == [2]
    assert rejected == Counter({"already_offered": 2})


def test_rank_counts_every_rejection() -> None:
    pool = [person(1), person(2, on_shift=False), person(3, on_shift=False),
            person(4, distance_m=9000), person(5, load=3), person(6, skills=frozenset()),
            person(7, located_at=NOW - 900), person(8)]
    ranked, rejected = rank(pool, need())
    assert sorted(ids(ranked)) == [1, 8]
    assert rejected == Counter({"off_shift": 2, "too_far": 1, "full": 1, "no_skill": 1,
                                "stale_location": 1})
    assert len(ranked) + sum(rejected.values()) == len(pool)


# --- scoring ------------------------------------------------------------------------------------

def test_nearer_wins_all_else_equal() -> None:
    ranked, _ = rank([person(1, distance_m=2500), person(2, distance_m=400)], need())
    assert ids(ranked) == [2, 1]
    assert ranked[0].score > ranked[1].score


def test_higher_rating_wins_all_else_equal() -> None:
    ranked, _ = rank([person(1, rating=3.5), person(2, rating=4.8)], need())
    assert ids(ranked) == [2, 1]
    assert ranked[0].parts["rating"] > ranked[1].parts["rating"]


def test_fairness_longest_idle_wins() -> None:
    pool = [person(1, last_assigned_at=NOW - 600), person(2, last_assigned_at=NOW - 3 * 3600),
            person(3, last_assigned_at=NOW - 3600)]
    assert ids(rank(pool, need())[0]) == [2, 3, 1]


def test_fairness_never_assigned_beats_recently_assigned() -> None:
    pool = [person(1, last_assigned_at=NOW - 1800), person(2, last_assigned_at=None)]
    ranked, _ = rank(pool, need())
    assert ids(ranked) == [2, 1]
    assert ranked[0].parts["fairness"] == matching.WEIGHTS["fairness"]


def test_fairness_saturates_after_the_full_idle_time() -> None:
    long_ago = score(person(last_assigned_at=NOW - 10 * matching.FAIRNESS_FULL_S), need())
    never = score(person(last_assigned_at=None), need())
    assert long_ago.parts["fairness"] == never.parts["fairness"] == matching.WEIGHTS["fairness"]


def test_preferred_provider_bonus() -> None:
    a, b = person(1, provider_id=10), person(2, provider_id=20)
    plain, _ = rank([a, b], need())
    assert ids(plain) == [1, 2]  # equal scores, equal distance: lower id
    preferred, _ = rank([a, b], need(preferred_provider_id=20))
    assert ids(preferred) == [2, 1]
    assert preferred[0].parts["preferred"] == matching.WEIGHTS["preferred"]
    assert preferred[1].parts["preferred"] == 0.0
    assert preferred[0].score - preferred[1].score == pytest.approx(matching.WEIGHTS["preferred"])


def test_preferred_bonus_outweighs_a_little_distance() -> None:
    near, far = person(1, provider_id=10, distance_m=1000), person(2, provider_id=20,
                                                                   distance_m=1300)
    assert ids(rank([near, far], need(preferred_provider_id=20))[0]) == [2, 1]


def test_equal_scores_nearer_first() -> None:
    """Exactly equal scores: staff 9 is nearer but was assigned recently, staff 1 farther but
    idle; the tie goes to the nearer one although its id is higher."""
    near = person(9, distance_m=0, rating=5, last_assigned_at=NOW - 1440)  # 45 + 20 + 2.5
    far = person(1, distance_m=512, rating=5, last_assigned_at=None)  # 22.5 + 20 + 25
    n = need(radius_m=1024)
    assert score(near, n).score == score(far, n).score == 67.5
    assert ids(rank([far, near], n)[0]) == [9, 1]


def test_equal_scores_and_distance_lower_id_first() -> None:
    pool = [person(7), person(3), person(5)]
    assert ids(rank(pool, need())[0]) == [3, 5, 7]


def test_score_parts_add_up_and_stay_in_range() -> None:
    best = score(person(distance_m=0, rating=5, last_assigned_at=None, provider_id=4),
                 need(preferred_provider_id=4))
    assert best.score == pytest.approx(100.0)
    assert best.parts == pytest.approx(matching.WEIGHTS)
    worst = score(person(distance_m=URBAN_M, rating=0, last_assigned_at=NOW), need())
    assert worst.score == pytest.approx(0.0)
    odd = score(person(rating=9, last_assigned_at=NOW + 600), need())  # clamped
    assert odd.parts["rating"] == matching.WEIGHTS["rating"] and odd.parts["fairness"] == 0.0
    assert odd.score == pytest.approx(sum(odd.parts.values()))


# --- choosing -----------------------------------------------------------------------------------

def _scored() -> list[Scored]:
    """Nearest are 2, 4, 3, but they were busy just now; 5 then 1 score best."""
    busy = NOW - 60
    pool = [person(1, distance_m=2000, rating=5.0), person(5, distance_m=1500, rating=5.0),
            person(2, distance_m=300, rating=1.0, last_assigned_at=busy),
            person(3, distance_m=900, rating=2.0, last_assigned_at=busy),
            person(4, distance_m=600, rating=1.5, last_assigned_at=busy)]
    ranked, _ = rank(pool, need())
    return ranked


def test_choose_one_for_an_ordinary_order() -> None:
    ranked = _scored()
    chosen = choose(ranked, emergency=False)
    assert chosen == ranked[:1]
    assert chosen[0].staff.staff_id == 5  # the best score, not the nearest


def test_choose_nearest_three_for_an_emergency() -> None:
    ranked = _scored()
    assert ids(ranked) == [5, 1, 2, 4, 3]
    assert ids(choose(ranked, emergency=True)) == [2, 4, 3]


def test_choose_with_few_candidates() -> None:
    assert choose([], emergency=False) == [] and choose([], emergency=True) == []
    ranked = _scored()[:2]
    assert len(choose(ranked, emergency=True)) == 2


# --- explaining ---------------------------------------------------------------------------------

def test_why_none_names_counts_and_radius() -> None:
    text = why_none(Counter({"too_far": 3, "off_shift": 1, "full": 2}), URBAN_M, searched=6)
    assert "3 公里" in text and "3 km" in text
    assert "超出服务半径 3 人" in text and "已满负荷 2 人" in text and "不在班 1 人" in text
    assert "3 outside the service circle" in text and "2 at full capacity" in text
    assert "1 off shift" in text
    # the biggest reason first, in both languages
    assert text.index("超出服务半径") < text.index("已满负荷") < text.index("不在班")
    assert text.index("outside") < text.index("capacity") < text.index("off shift")


@pytest.mark.parametrize("radius, km", [(3000, "3"), (8000, "8"), (4500, "4.5"),
                                        (6000, "6"), (10000, "10"), (500, "0.5")])
def test_why_none_radius_in_km(radius: float, km: str) -> None:
    text = why_none(Counter({"no_skill": 1}), radius, searched=1)
    assert f"{km} 公里" in text and f"within {km} km" in text


@pytest.mark.parametrize("reason", sorted(matching._REASONS))
def test_why_none_every_reason_is_bilingual(reason: str) -> None:
    text = why_none(Counter({reason: 2}), RURAL_M, searched=2)
    zh, en = matching._REASONS[reason]
    assert f"{zh} 2 人" in text and f"2 {en}" in text


def test_why_none_when_nobody_was_found() -> None:
    for text in (why_none(Counter(), RURAL_M, searched=0),
                 why_none(Counter({"full": 1}), RURAL_M, searched=0)):
        assert "8 公里内没有" in text and "within 8 km" in text
        assert re.search(r"[\u4e00-\u9fff]", text) and "no staff" in text


def test_why_none_from_rank() -> None:
    pool = [person(1, distance_m=5000), person(2, distance_m=7000), person(3, on_shift=False)]
    ranked, rejected = rank(pool, need())
    assert ranked == []
    text = why_none(rejected, URBAN_M, len(pool))
    assert "超出服务半径 2 人" in text and "2 outside the service circle" in text
    assert "1 off shift" in text


def test_explain_keeps_the_parts() -> None:
    s = person(42, provider_id=7, distance_m=1234.4, rating=4.0, last_assigned_at=NOW - 7200)
    e = score(s, need(preferred_provider_id=7)).explain()
    assert e["staff_id"] == 42 and e["provider_id"] == 7 and e["distance_m"] == 1234
    assert e["parts"] == {"distance": round(45 * (1 - 1234.4 / 3000), 2), "rating": 16.0,
                          "fairness": 12.5, "preferred": 10.0}
    parts = e["parts"]
    assert isinstance(parts, dict)
    assert e["score"] == pytest.approx(sum(parts.values()), abs=0.02)


def test_top_keeps_order_and_limit() -> None:
    pool = [person(i, distance_m=100.0 * i) for i in range(1, 9)]
    ranked, _ = rank(pool, need())
    shown = matching.top(ranked)
    assert [c["staff_id"] for c in shown] == [1, 2, 3, 4, 5]
    for c in shown:
        parts = c["parts"]
        assert isinstance(parts, dict) and set(parts) == set(matching.WEIGHTS)
    assert [c["staff_id"] for c in matching.top(ranked, n=2)] == [1, 2]
    assert matching.top([]) == []


# --- property -----------------------------------------------------------------------------------

SKILLS = ("bath", "meal", "clean")

staff_st = st.builds(
    Staff,
    staff_id=st.integers(1, 40),
    provider_id=st.integers(1, 5),
    distance_m=st.floats(0, 12_000, allow_nan=False),
    skills=st.frozensets(st.sampled_from(SKILLS)),
    on_shift=st.booleans(),
    located_at=st.floats(NOW - 1_000, NOW + 10, allow_nan=False),
    load=st.integers(0, 6),
    capacity=st.integers(0, 6),
    rating=st.floats(-1, 6, allow_nan=False),
    last_assigned_at=st.none() | st.floats(NOW - 50_000, NOW + 1_000, allow_nan=False),
)
need_st = st.builds(
    Need,
    skill=st.sampled_from(SKILLS),
    radius_m=st.sampled_from([0.0, 500.0, URBAN_M, 6000.0, RURAL_M]),
    now=st.just(NOW),
    fresh_s=st.sampled_from([60.0, 300.0, 900.0]),
    preferred_provider_id=st.none() | st.integers(1, 5),
    exclude=st.frozensets(st.integers(1, 40), max_size=5),
)


@settings(max_examples=300, deadline=None, database=None)
@given(pool=st.lists(staff_st, max_size=25), n=need_st)
def test_rank_property(pool: list[Staff], n: Need) -> None:
    ranked, rejected = rank(pool, n)
    assert len(ranked) + sum(rejected.values()) == len(pool)
    for c in ranked:
        assert reject_reason(c.staff, n) is None
        assert c.staff.staff_id not in n.exclude
        assert n.skill in c.staff.skills and c.staff.on_shift
        assert c.staff.distance_m <= n.radius_m and c.staff.load < c.staff.capacity
        assert n.now - c.staff.located_at <= n.fresh_s
        assert 0.0 <= c.score <= 100.0 + 1e-9
        assert c.score == pytest.approx(sum(c.parts.values()))
    scores = [c.score for c in ranked]
    assert scores == sorted(scores, reverse=True)
    for chosen in (choose(ranked, False), choose(ranked, True)):
        assert all(c in ranked for c in chosen)
