"""The service order's life (SPEC §5.2) as one pure function.

    created → queued → offered → accepted → en_route → on_site → completed → reviewed
    side exits: decline/expire (offered → queued, next candidate), no_candidate (operators'
    manual queue), cancelled (who, why), failed (why).

`transition(state, event, actor)` returns the new state or a `Refusal` naming why not. The
database layer calls it under the order's row lock and records every accepted step.
"""

from __future__ import annotations

from dataclasses import dataclass

STATES = ("created", "queued", "offered", "accepted", "en_route", "on_site", "completed",
          "reviewed", "no_candidate", "cancelled", "failed")
FINAL_STATES = frozenset({"reviewed", "cancelled", "failed"})
ACTIVE_STATES = ("created", "queued", "offered", "accepted", "en_route", "on_site",
                 "no_candidate")
ASSIGNED_STATES = frozenset({"accepted", "en_route", "on_site"})  # count against capacity
# Who acts: an operator (admin and operator roles), the provider staff member concerned, the
# provider's admin, the dispatch worker, or the platform itself (scheduler, plans, monitors).
ACTORS = ("operator", "staff", "provider_admin", "worker", "system")

# event: ({from states}, to state, {actors allowed})
RULES: dict[str, tuple[frozenset[str], str, frozenset[str]]] = {
    "enqueue": (frozenset({"created"}), "queued", frozenset({"system", "worker", "operator"})),
    "offer": (frozenset({"queued"}), "offered", frozenset({"worker"})),
    "decline": (frozenset({"offered"}), "queued", frozenset({"staff"})),
    "expire": (frozenset({"offered"}), "queued", frozenset({"worker", "system"})),
    "no_candidate": (frozenset({"queued"}), "no_candidate", frozenset({"worker"})),
    "requeue": (frozenset({"no_candidate"}), "queued", frozenset({"operator"})),
    "assign": (frozenset({"queued", "offered", "no_candidate"}), "accepted",
               frozenset({"operator"})),
    "accept": (frozenset({"offered"}), "accepted", frozenset({"staff"})),
    "release": (frozenset({"accepted", "en_route"}), "queued",
                frozenset({"staff", "operator", "provider_admin"})),
    "travel": (frozenset({"accepted"}), "en_route", frozenset({"staff"})),
    "check_in": (frozenset({"accepted", "en_route"}), "on_site", frozenset({"staff"})),
    "check_out": (frozenset({"on_site"}), "completed", frozenset({"staff"})),
    "review": (frozenset({"completed"}), "reviewed", frozenset({"operator", "system"})),
    "cancel": (frozenset({"created", "queued", "offered", "accepted", "en_route",
                          "no_candidate"}), "cancelled", frozenset({"operator"})),
    "fail": (frozenset({"accepted", "en_route", "on_site"}), "failed",
             frozenset({"staff", "operator"})),
}
EVENTS = tuple(RULES)

LABELS = {
    "created": ("已创建", "Created"), "queued": ("排队派单", "Queued"),
    "offered": ("已推送", "Offered"), "accepted": ("已接单", "Accepted"),
    "en_route": ("在途", "En route"), "on_site": ("服务中", "On site"),
    "completed": ("已完成", "Completed"), "reviewed": ("已回访", "Reviewed"),
    "no_candidate": ("无人可派", "No candidate"), "cancelled": ("已取消", "Cancelled"),
    "failed": ("未完成", "Failed"),
}


@dataclass(frozen=True)
class Refusal:
    """Why a transition is not allowed: `code` for programs, `message` for people."""
    code: str  # unknown_event | unknown_actor | final | wrong_state | not_permitted
    message: str


def transition(state: str, event: str, actor: str) -> str | Refusal:
    if event not in RULES:
        return Refusal("unknown_event", f"未知操作 (unknown event {event!r})")
    if actor not in ACTORS:
        return Refusal("unknown_actor", f"未知操作者 (unknown actor {actor!r})")
    sources, target, actors = RULES[event]
    if state in FINAL_STATES:
        zh, en = LABELS[state]
        return Refusal("final", f"工单已{zh}，不能再变更 (the order is {en.lower()}; it is final)")
    if state not in sources:
        zh, en = LABELS.get(state, (state, state))
        return Refusal("wrong_state",
                       f"工单当前为“{zh}”，不能{_EVENT_ZH[event]} "
                       f"(cannot {event.replace('_', ' ')} an order that is {en.lower()})")
    if actor not in actors:
        return Refusal("not_permitted",
                       f"无权{_EVENT_ZH[event]} (a {actor.replace('_', ' ')} may not "
                       f"{event.replace('_', ' ')} an order)")
    return target


_EVENT_ZH = {
    "enqueue": "排队", "offer": "推送", "decline": "拒单", "expire": "超时", "no_candidate": "转人工",
    "requeue": "重新派单", "assign": "指派", "accept": "接单", "release": "退单", "travel": "出发",
    "check_in": "签到", "check_out": "签退", "review": "回访", "cancel": "取消", "fail": "标记未完成",
}


def actor_for_role(role: str) -> str:
    """The actor a logged-in user acts as."""
    return {"admin": "operator", "operator": "operator", "provider_staff": "staff",
            "provider_admin": "provider_admin"}.get(role, "none")
