"""Who should do this job: candidate filtering and scoring as pure functions (SPEC §5.2).

The engine gathers `Staff` snapshots from Redis (GEO search around the elder's home, then each
person's hash) and hands them here with the order's `Need`. A candidate must have the item's
skill, be on shift, have a fresh location, be inside the service circle and have room below
capacity. The score (0-100) weighs distance, the provider's star rating, fairness (the longest
since their last assignment goes first) and the elder's preferred provider. `explain` keeps the
top few with their parts, so the order's timeline shows why this person was chosen; `why_none`
says, in words an operator can act on, why nobody was.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

WEIGHTS = {"distance": 45.0, "rating": 20.0, "fairness": 25.0, "preferred": 10.0}
FAIRNESS_FULL_S = 4 * 3600  # idle this long (or never assigned) earns the whole fairness part
EMERGENCY_FANOUT = 3


@dataclass(frozen=True)
class Staff:
    staff_id: int
    provider_id: int
    distance_m: float
    skills: frozenset[str]
    on_shift: bool
    located_at: float  # epoch seconds of the last location ping
    load: int  # jobs accepted and not yet finished
    capacity: int
    rating: float  # the provider's stars, 0-5
    last_assigned_at: float | None  # epoch seconds


@dataclass(frozen=True)
class Need:
    skill: str
    radius_m: float
    now: float  # epoch seconds
    fresh_s: float = 300.0
    preferred_provider_id: int | None = None
    exclude: frozenset[int] = field(default_factory=frozenset)  # already offered this order


@dataclass(frozen=True)
class Scored:
    staff: Staff
    score: float
    parts: dict[str, float]

    def explain(self) -> dict[str, object]:
        return {"staff_id": self.staff.staff_id, "provider_id": self.staff.provider_id,
                "distance_m": round(self.staff.distance_m), "score": round(self.score, 2),
                "parts": {k: round(v, 2) for k, v in self.parts.items()}}


def reject_reason(s: Staff, need: Need) -> str | None:
    """Why this person cannot take the job, or None if they can."""
    if s.staff_id in need.exclude:
        return "already_offered"
    if need.skill not in s.skills:
        return "no_skill"
    if not s.on_shift:
        return "off_shift"
    if need.now - s.located_at > need.fresh_s:
        return "stale_location"
    if s.distance_m > need.radius_m:
        return "too_far"
    if s.load >= s.capacity:
        return "full"
    return None


def score(s: Staff, need: Need) -> Scored:
    closeness = max(0.0, 1.0 - s.distance_m / need.radius_m) if need.radius_m > 0 else 0.0
    idle = FAIRNESS_FULL_S if s.last_assigned_at is None else need.now - s.last_assigned_at
    parts = {
        "distance": WEIGHTS["distance"] * closeness,
        "rating": WEIGHTS["rating"] * min(max(s.rating, 0.0), 5.0) / 5.0,
        "fairness": WEIGHTS["fairness"] * min(max(idle, 0.0), FAIRNESS_FULL_S) / FAIRNESS_FULL_S,
        "preferred": WEIGHTS["preferred"] * (
            1.0 if need.preferred_provider_id is not None
            and s.provider_id == need.preferred_provider_id else 0.0),
    }
    return Scored(s, sum(parts.values()), parts)


def settled(ranked: list[Scored], farthest_m: float, need: Need, emergency: bool) -> bool:
    """Whether nobody farther than `farthest_m` (not yet looked at) could change the choice:
    an emergency's three nearest eligible are all nearer; otherwise the best score beats the
    most anyone that far could score (full rating, fairness and preference)."""
    if not ranked:
        return False
    if emergency:
        chosen = choose(ranked, True)
        return len(chosen) == EMERGENCY_FANOUT and chosen[-1].staff.distance_m < farthest_m
    closeness = max(0.0, 1.0 - farthest_m / need.radius_m) if need.radius_m > 0 else 0.0
    bound = (WEIGHTS["distance"] * closeness + WEIGHTS["rating"] + WEIGHTS["fairness"]
             + (WEIGHTS["preferred"] if need.preferred_provider_id is not None else 0.0))
    return ranked[0].score > bound


def rank(pool: list[Staff], need: Need) -> tuple[list[Scored], Counter[str]]:
    """Eligible candidates best first (ties: nearer, then lower id), and the rejection counts."""
    rejected: Counter[str] = Counter()
    eligible: list[Scored] = []
    for s in pool:
        why = reject_reason(s, need)
        if why is None:
            eligible.append(score(s, need))
        else:
            rejected[why] += 1
    eligible.sort(key=lambda c: (-c.score, c.staff.distance_m, c.staff.staff_id))
    return eligible, rejected


def choose(ranked: list[Scored], emergency: bool) -> list[Scored]:
    """One offer at a time; an emergency check goes to the nearest three at once."""
    if not emergency:
        return ranked[:1]
    return sorted(ranked, key=lambda c: (c.staff.distance_m, c.staff.staff_id))[:EMERGENCY_FANOUT]


_REASONS = {
    "already_offered": ("已推送过且未接单", "already offered and not taken"),
    "no_skill": ("不具备该技能", "without the skill"),
    "off_shift": ("不在班", "off shift"),
    "stale_location": ("位置未及时更新", "location out of date"),
    "too_far": ("超出服务半径", "outside the service circle"),
    "full": ("已满负荷", "at full capacity"),
}


def why_none(rejected: Counter[str], radius_m: float, searched: int) -> str:
    """An operator-readable reason for no_candidate, e.g. after widening to 6 km."""
    km = f"{radius_m / 1000:.1f}".rstrip("0").rstrip(".")
    if not searched or not rejected:
        return (f"{km} 公里内没有在班且有该技能的服务人员 "
                f"(no staff with the skill on shift within {km} km)")
    parts_zh = [f"{_REASONS[k][0]} {n} 人" for k, n in rejected.most_common()]
    parts_en = [f"{n} {_REASONS[k][1]}" for k, n in rejected.most_common()]
    return (f"{km} 公里内无可派人员：{'，'.join(parts_zh)} "
            f"(nobody available within {km} km: {', '.join(parts_en)})")


def top(ranked: list[Scored], n: int = 5) -> list[dict[str, object]]:
    return [c.explain() for c in ranked[:n]]
