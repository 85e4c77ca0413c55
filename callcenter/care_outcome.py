"""Recording one care call's outcome (SPEC §5.3), in the caller's transaction under the task's row
lock: the visit row, the task's next step on the ladder, a service order (needs service), a
follow-up alarm (needs attention), the home-visit order (the ladder's last step), the event rows
and the live event. A reaching outcome also closes the elder's other open tasks (one call
covers them all)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import asyncpg

from callcenter import alarms, care, outbox
from callcenter import care_rules as rules
from dispatch import orders

log = logging.getLogger("callcenter.care_outcome")
# The home visit that ends the ladder: the catalogue's home companionship visit (上门陪伴聊天),
# the nearest of the seeded items to a caring home visit.
ATTENTION_KIND = "care_attention"


class TaskNotFound(Exception):
    """No such task."""


class TaskClosed(Exception):
    """The task is no longer open (done, waiting on its home visit, or cancelled)."""

    def __init__(self, state: str) -> None:
        super().__init__(f"任务已结束（{state}） (the task is no longer open: {state})")
        self.state = state


class OutcomeRefused(Exception):
    """The outcome cannot be booked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


async def record_outcome(conn: asyncpg.Connection, task_id: int, *, user_id: int | None,
                         outcome: str, method: str, note: str, now: dt.datetime,
                         timings: alarms.Timings, cfg: rules.CareConfig = rules.DEFAULT,
                         item_code: str | None = None, contact_reached: bool | None = None,
                         take: bool = False) -> dict[str, Any]:
    """Book an attempt's outcome on an open task. `take`: an unassigned task becomes the
    user's (an operator working it keeps its retries). Call inside a transaction."""
    task = await conn.fetchrow(
        f"SELECT {care.TASK_COLUMNS} FROM outreach_tasks WHERE id = $1 FOR UPDATE", task_id)
    if task is None:
        raise TaskNotFound(task_id)
    if task["state"] != "open":
        raise TaskClosed(task["state"])
    move = rules.ladder(task["step"], task["attempts"], outcome, now, cfg)
    order_id: int | None = None
    alarm_id: int | None = None
    if outcome == "needs_service":
        if not item_code:
            raise OutcomeRefused("item_code", "需要服务时必须选择服务项目 (choose the service item)")
        order_id = await orders.create(conn, elder_id=task["elder_id"], item_code=item_code,
                                       now=now, note=note, user_id=user_id)
        if order_id is None:
            raise OutcomeRefused("item_code", "服务项目不存在 (no such service item)")
    elif outcome == "needs_attention":
        alarm_id = await alarms.raise_alarm(
            conn, kind=ATTENTION_KIND, region_code=task["region_code"],
            elder_id=task["elder_id"], device_id=None, now=now, timings=timings,
            source="system")
    if move.home_visit:
        order_id = await orders.create(
            conn, elder_id=task["elder_id"], item_code=cfg.home_visit_item, now=now, priority=2,
            note=("主动关爱：电话和紧急联系人均未确认老人平安，请上门探访 (active care: neither the"
                  " elder nor the contacts confirmed the elder is well; please visit)"),
            user_id=user_id)
        if order_id is None:
            raise OutcomeRefused("outcome", f"服务目录缺少上门探访项目{cfg.home_visit_item} (the "
                                            f"catalogue lacks the home-visit item)")
    visit_id = await conn.fetchval(
        "INSERT INTO care_visits (task_id, elder_id, operator_id, method, outcome,"
        " contact_reached, step, attempt, note, order_id, alarm_id, at) VALUES ($1, $2, $3,"
        " $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id", task_id, task["elder_id"],
        user_id, method, outcome, contact_reached, task["step"], move.attempts, note, order_id,
        alarm_id, now)
    updated = await conn.fetchrow(
        "UPDATE outreach_tasks SET state = $2, step = $3, attempts = $4, next_attempt_at = $5,"
        " outcome = $6, order_id = coalesce($7, order_id),"
        " raised_alarm_id = coalesce($8, raised_alarm_id),"
        " assigned_to = CASE WHEN $9 THEN coalesce(assigned_to, $10) ELSE assigned_to END,"
        f" updated_at = $11 WHERE id = $1 RETURNING {care.TASK_COLUMNS}",
        task_id, move.state, move.step, move.attempts, move.next_attempt_at, outcome, order_id,
        alarm_id, take, user_id, now)
    actor = "user" if user_id is not None else "system"
    await care.record_events(
        conn, [task_id], "outcome", now=now, from_state=task["state"], to_state=move.state,
        from_step=task["step"], to_step=move.step, actor_user_id=user_id, actor_kind=actor,
        payload={"visit_id": visit_id, "outcome": outcome, "method": method,
                 "attempt": move.attempts, "order_id": order_id, "alarm_id": alarm_id,
                 "contact_reached": contact_reached})
    covered: list[int] = []
    if outcome != "unreachable":
        for row in await conn.fetch(
                "UPDATE outreach_tasks SET state = 'done', outcome = $3, updated_at = $4"
                " WHERE elder_id = $1 AND state = 'open' AND id <> $2 RETURNING id, step",
                task["elder_id"], task_id, outcome, now):
            covered.append(row["id"])
            await care.record_events(
                conn, [row["id"]], "covered", now=now, from_state="open", to_state="done",
                from_step=row["step"], to_step=row["step"], actor_user_id=user_id,
                actor_kind=actor, payload={"by_task": task_id, "visit_id": visit_id})
    out = {"task": care.task_json(updated), "visit_id": visit_id, "order_id": order_id,
           "alarm_id": alarm_id, "covered_task_ids": covered}
    await outbox.add(conn, "care_visit", task["region_code"], {
        **out, "elder_id": task["elder_id"], "outcome": outcome, "method": method,
        "month": rules.month_of(now, cfg.tz).strftime("%Y-%m"),
        "reached": outcome != "unreachable"})
    log.info("care outcome task=%d elder=%d outcome=%s step=%s->%s state=%s", task_id,
             task["elder_id"], outcome, task["step"], move.step, move.state)
    return out
