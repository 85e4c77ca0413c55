"""The service order's state machine (SPEC §5.2), checked exhaustively against a table written
out here independently of `dispatch.states.RULES`, so a wrong rule there is caught."""

from __future__ import annotations

import re
from collections import deque

import pytest

from dispatch import states
from dispatch.states import Refusal, transition

ALL_STATES = ("created", "queued", "offered", "accepted", "en_route", "on_site", "completed",
              "reviewed", "no_candidate", "cancelled", "failed")
FINAL = frozenset({"reviewed", "cancelled", "failed"})
ALL_ACTORS = ("operator", "staff", "provider_admin", "worker", "system")

# The legal moves of SPEC §5.2, one line each: (state, event) -> target, and who may do the event.
LEGAL: dict[tuple[str, str], str] = {
    ("created", "enqueue"): "queued",
    ("queued", "offer"): "offered",
    ("offered", "decline"): "queued",
    ("offered", "expire"): "queued",
    ("queued", "no_candidate"): "no_candidate",
    ("no_candidate", "requeue"): "queued",
    ("queued", "assign"): "accepted",
    ("offered", "assign"): "accepted",
    ("no_candidate", "assign"): "accepted",
    ("offered", "accept"): "accepted",
    ("accepted", "release"): "queued",
    ("en_route", "release"): "queued",
    ("accepted", "travel"): "en_route",
    ("accepted", "check_in"): "on_site",
    ("en_route", "check_in"): "on_site",
    ("on_site", "check_out"): "completed",
    ("completed", "review"): "reviewed",
    ("created", "cancel"): "cancelled",
    ("queued", "cancel"): "cancelled",
    ("offered", "cancel"): "cancelled",
    ("accepted", "cancel"): "cancelled",
    ("en_route", "cancel"): "cancelled",
    ("no_candidate", "cancel"): "cancelled",
    ("accepted", "fail"): "failed",
    ("en_route", "fail"): "failed",
    ("on_site", "fail"): "failed",
}
WHO: dict[str, frozenset[str]] = {
    # the brief names no actor for enqueue: the platform, the worker and an operator may queue
    "enqueue": frozenset({"system", "worker", "operator"}),
    "offer": frozenset({"worker"}),
    "decline": frozenset({"staff"}),
    "expire": frozenset({"worker", "system"}),
    "no_candidate": frozenset({"worker"}),
    "requeue": frozenset({"operator"}),
    "assign": frozenset({"operator"}),
    "accept": frozenset({"staff"}),
    "release": frozenset({"staff", "operator", "provider_admin"}),
    "travel": frozenset({"staff"}),
    "check_in": frozenset({"staff"}),
    "check_out": frozenset({"staff"}),
    "review": frozenset({"operator", "system"}),
    "cancel": frozenset({"operator"}),
    "fail": frozenset({"staff", "operator"}),
}
ALL_EVENTS = tuple(WHO)

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def expected(state: str, event: str, actor: str) -> str:
    """The target state, or the refusal code, that the table above calls for."""
    if state in FINAL:
        return "final"
    if (state, event) not in LEGAL:
        return "wrong_state"
    if actor not in WHO[event]:
        return "not_permitted"
    return LEGAL[(state, event)]


def outcome(result: str | Refusal) -> str:
    return result.code if isinstance(result, Refusal) else result


def assert_bilingual(message: str) -> None:
    assert CJK.search(message), f"no Chinese in {message!r}"
    assert LATIN_WORD.search(message), f"no English in {message!r}"


# --- the vocabulary is the one the table speaks ------------------------------------------------

def test_states_events_actors_are_the_specified_ones() -> None:
    assert set(states.STATES) == set(ALL_STATES) and len(states.STATES) == len(ALL_STATES)
    assert set(states.EVENTS) == set(ALL_EVENTS) and len(states.EVENTS) == len(ALL_EVENTS)
    assert set(states.ACTORS) == set(ALL_ACTORS) and len(states.ACTORS) == len(ALL_ACTORS)
    assert states.FINAL_STATES == FINAL


def test_active_assigned_and_final_partition_the_states() -> None:
    active = set(states.ACTIVE_STATES)
    assert active.isdisjoint(FINAL) and "completed" not in active
    assert active | FINAL | {"completed"} == set(ALL_STATES)
    assigned = states.ASSIGNED_STATES
    assert assigned == {"accepted", "en_route", "on_site"}
    assert assigned <= active


def test_every_state_has_a_bilingual_label() -> None:
    assert set(states.LABELS) == set(ALL_STATES)
    for zh, en in states.LABELS.values():
        assert CJK.search(zh) and LATIN_WORD.search(en)


def test_table_targets_are_states() -> None:
    """Guard the test's own table against typos."""
    for (source, event), target in LEGAL.items():
        assert source in ALL_STATES and target in ALL_STATES and event in WHO
        assert source not in FINAL
    assert all(who <= set(ALL_ACTORS) and who for who in WHO.values())


# --- exhaustive: every state x event x actor ----------------------------------------------------

@pytest.mark.parametrize("event", ALL_EVENTS)
def test_transition_exhaustive(event: str) -> None:
    wrong = []
    for state in ALL_STATES:
        for actor in ALL_ACTORS:
            got = transition(state, event, actor)
            want = expected(state, event, actor)
            if outcome(got) != want:
                wrong.append(f"{state} --{event}/{actor}--> {got!r}, expected {want}")
            if isinstance(got, Refusal):
                assert_bilingual(got.message)
            else:
                assert isinstance(got, str)
    assert not wrong, "\n".join(wrong)


def test_exhaustive_sweep_covers_every_outcome() -> None:
    """The sweep is not vacuous: it meets every target and every refusal code."""
    seen = {outcome(transition(s, e, a)) for s in ALL_STATES for e in ALL_EVENTS
            for a in ALL_ACTORS}
    assert {"final", "wrong_state", "not_permitted"} <= seen
    assert set(LEGAL.values()) <= seen
    accepted = sum(1 for s in ALL_STATES for e in ALL_EVENTS for a in ALL_ACTORS
                   if not isinstance(transition(s, e, a), Refusal))
    assert accepted == sum(len(WHO[e]) for (_s, e) in LEGAL)


# --- the happy path and notable single moves ----------------------------------------------------

def test_happy_path() -> None:
    steps = [("enqueue", "system", "queued"), ("offer", "worker", "offered"),
             ("accept", "staff", "accepted"), ("travel", "staff", "en_route"),
             ("check_in", "staff", "on_site"), ("check_out", "staff", "completed"),
             ("review", "operator", "reviewed")]
    state = "created"
    for event, actor, target in steps:
        result = transition(state, event, actor)
        assert result == target, (state, event, actor, result)
        state = target
    assert state in FINAL


@pytest.mark.parametrize("state, event, actor, code", [
    ("on_site", "cancel", "operator", "wrong_state"),  # on site: fail, not cancel
    ("offered", "accept", "provider_admin", "not_permitted"),
    ("queued", "offer", "operator", "not_permitted"),  # operators assign, they do not offer
    ("offered", "decline", "worker", "not_permitted"),  # the worker expires, staff decline
    ("completed", "fail", "staff", "wrong_state"),
    ("no_candidate", "offer", "worker", "wrong_state"),  # only an operator requeues
    ("on_site", "release", "staff", "wrong_state"),
])
def test_notable_refusals(state: str, event: str, actor: str, code: str) -> None:
    result = transition(state, event, actor)
    assert isinstance(result, Refusal) and result.code == code


def test_wrong_state_before_not_permitted() -> None:
    """A wrong state is reported even when the actor would not be allowed either."""
    result = transition("created", "accept", "worker")
    assert isinstance(result, Refusal) and result.code == "wrong_state"


# --- refusal messages ---------------------------------------------------------------------------

def test_unknown_event() -> None:
    result = transition("queued", "teleport", "operator")
    assert isinstance(result, Refusal) and result.code == "unknown_event"
    assert "teleport" in result.message
    assert_bilingual(result.message)


def test_unknown_actor() -> None:
    result = transition("queued", "cancel", "janitor")
    assert isinstance(result, Refusal) and result.code == "unknown_actor"
    assert "janitor" in result.message
    assert_bilingual(result.message)


def test_unknown_event_and_actor_are_checked_before_finality() -> None:
    event = transition("reviewed", "teleport", "operator")
    actor = transition("cancelled", "cancel", "janitor")
    assert isinstance(event, Refusal) and event.code == "unknown_event"
    assert isinstance(actor, Refusal) and actor.code == "unknown_actor"


def test_unknown_state_is_a_wrong_state() -> None:
    result = transition("lost", "enqueue", "system")
    assert isinstance(result, Refusal) and result.code == "wrong_state"
    assert "lost" in result.message


def test_final_message_names_the_state() -> None:
    result = transition("cancelled", "enqueue", "system")
    assert isinstance(result, Refusal) and result.code == "final"
    assert "已取消" in result.message and "cancelled" in result.message
    assert_bilingual(result.message)


def test_wrong_state_message_names_state_and_event() -> None:
    result = transition("created", "check_in", "staff")
    assert isinstance(result, Refusal) and result.code == "wrong_state"
    assert "已创建" in result.message and "签到" in result.message
    assert "created" in result.message and "check in" in result.message


def test_not_permitted_message_names_actor_and_event() -> None:
    result = transition("accepted", "release", "worker")
    assert isinstance(result, Refusal) and result.code == "not_permitted"
    assert "退单" in result.message
    assert "worker" in result.message and "release" in result.message
    result = transition("offered", "accept", "provider_admin")
    assert isinstance(result, Refusal) and "provider admin" in result.message


# --- who acts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("role, actor", [
    ("admin", "operator"), ("operator", "operator"), ("provider_staff", "staff"),
    ("provider_admin", "provider_admin"), ("supervisor", "none"), ("", "none"),
    ("worker", "none"), ("system", "none"),
])
def test_actor_for_role(role: str, actor: str) -> None:
    assert states.actor_for_role(role) == actor


def test_a_supervisor_cannot_change_an_order() -> None:
    """Supervisors watch; their actor is no actor at all."""
    result = transition("queued", "cancel", states.actor_for_role("supervisor"))
    assert isinstance(result, Refusal) and result.code == "unknown_actor"


def test_logged_in_roles_act_as_known_actors() -> None:
    for role in ("admin", "operator", "provider_staff", "provider_admin"):
        assert states.actor_for_role(role) in ALL_ACTORS


# --- the graph ----------------------------------------------------------------------------------

def successors(state: str) -> set[str]:
    """Where the module lets an order go from `state`, by any event and any actor."""
    out = set()
    for event in ALL_EVENTS:
        for actor in ALL_ACTORS:
            result = transition(state, event, actor)
            if not isinstance(result, Refusal):
                out.add(result)
    return out


def reachable(start: str) -> set[str]:
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in successors(todo.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("state", sorted(FINAL))
def test_final_states_have_no_way_out(state: str) -> None:
    assert successors(state) == set()
    for event in ALL_EVENTS:
        for actor in ALL_ACTORS:
            result = transition(state, event, actor)
            assert isinstance(result, Refusal) and result.code == "final"


def test_every_state_is_reachable_from_created() -> None:
    assert reachable("created") == set(ALL_STATES)


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_can_reach_a_final_state(state: str) -> None:
    assert reachable(state) & FINAL


def test_successors_match_the_table() -> None:
    for state in ALL_STATES:
        assert successors(state) == {t for (s, _e), t in LEGAL.items() if s == state}, state
