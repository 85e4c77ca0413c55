"""Active care in PostgreSQL (SPEC §5.3): the month's plan, the follow-up task after an alarm,
the daily sweep (high-risk cadence, inactivity, missed follow-ups) and the worker's periodic run.
Owns outreach_tasks, care_visits, outreach_events and care_runs. Decisions are in care_rules;
recording an outcome is in care_outcome; the work list and the visit rate in care_report."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeAlias

import asyncpg

from callcenter import care_rules as rules
from callcenter import outbox
from callcenter.care_report import iso, not_reached, visit_rate, worklist
from callcenter.settings import Settings

log = logging.getLogger("callcenter.care")
__all__ = ["after_alarm", "config", "daily_sweep", "generate_month_plan", "not_reached",
           "plan_current_month", "record_events", "run_periodic", "task_json", "visit_rate",
           "worklist"]

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool
TASK_COLUMNS = ("id, kind, reason, elder_id, region_code, month, due_on, assigned_to, state, step,"
                " attempts, next_attempt_at, outcome, order_id, alarm_id, raised_alarm_id,"
                " created_at, updated_at")


def config(s: Settings) -> rules.CareConfig:
    """The care rules' configuration from the settings."""
    return rules.CareConfig(high_risk_days=s.care_high_risk_days,
                            after_alarm_h=s.care_after_alarm_h,
                            inactivity_days=s.inactivity_days, tz=s.tz,
                            home_visit_item=s.care_home_visit_item)


def task_json(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A task as the API shows it."""
    d = dict(row)
    return {"id": d["id"], "task_id": d["id"], "kind": d["kind"], "reason": d["reason"],
            "elder_id": d["elder_id"], "region_code": d["region_code"],
            "month": d["month"].strftime("%Y-%m"), "due_on": iso(d["due_on"]),
            "assigned_to": d["assigned_to"], "state": d["state"], "step": d["step"],
            "attempts": d["attempts"], "next_attempt_at": iso(d["next_attempt_at"]),
            "outcome": d["outcome"], "order_id": d["order_id"], "alarm_id": d["alarm_id"],
            "raised_alarm_id": d["raised_alarm_id"], "created_at": iso(d["created_at"]),
            "updated_at": iso(d["updated_at"])}


@contextlib.asynccontextmanager
async def _transaction(db: Db) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on the given connection (a savepoint inside the caller's), or on one taken
    from the pool."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn
    else:
        async with db.transaction():
            yield db


async def record_events(conn: asyncpg.Connection, task_ids: Sequence[int], event: str, *,
                        now: dt.datetime, from_state: str | None, to_state: str,
                        from_step: str | None, to_step: str, actor_user_id: int | None = None,
                        actor_kind: str = "system", payload: dict[str, Any] | None = None
                        ) -> None:
    """Append one outreach_events row per task (one statement)."""
    if not task_ids:
        return
    await conn.execute(
        "INSERT INTO outreach_events (task_id, at, actor_user_id, actor_kind, event, from_state,"
        " to_state, from_step, to_step, payload) SELECT t, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10::text::jsonb FROM unnest($1::bigint[]) AS t", list(task_ids), now, actor_user_id,
        actor_kind, event, from_state, to_state, from_step, to_step,
        json.dumps(payload or {}, ensure_ascii=False, default=str))


async def _scope_path(conn: asyncpg.Connection, region_code: str | None) -> str | None:
    if region_code is None:
        return None
    path = await conn.fetchval("SELECT path FROM regions WHERE code = $1", region_code)
    if path is None:
        raise ValueError(f"unknown region {region_code}")
    return str(path)


_IN_SCOPE = "($%d::text IS NULL OR r.path = $%d OR r.path LIKE $%d || '.%%')"


def _in_scope(n: int) -> str:
    return _IN_SCOPE % (n, n, n)


async def _operators(conn: asyncpg.Connection) -> list[rules.Operator]:
    """The operators on duty; if none is, every active operator (a plan made at night or at
    seed time still shares the month among the desk's people)."""
    rows = await conn.fetch(
        "SELECT u.id, r.path, coalesce(p.on_duty, false) AS on_duty FROM users u"
        " JOIN regions r ON r.code = u.region_code"
        " LEFT JOIN operator_presence p ON p.user_id = u.id"
        " WHERE u.role = 'operator' AND u.active ORDER BY u.id")
    on_duty = [r for r in rows if r["on_duty"]]
    return [rules.Operator(r["id"], r["path"]) for r in (on_duty or rows)]


async def _root_region(conn: asyncpg.Connection) -> str | None:
    code = await conn.fetchval("SELECT code FROM regions WHERE parent_code IS NULL ORDER BY code"
                               " LIMIT 1")
    return None if code is None else str(code)


async def generate_month_plan(db: Db, month: dt.date, now: dt.datetime,
                              region_code: str | None = None,
                              cfg: rules.CareConfig = rules.DEFAULT) -> dict[str, Any]:
    """Create the month's visit task of every special-difficulty elder (of the region, or the
    whole city) who has none, shared among the operators. Idempotent: a second run adds only
    elders who became due since. Returns {month, created, due, per_operator}."""
    first = month.replace(day=1)
    due_on = rules.plan_due_on(first, now.astimezone(cfg.tz).date())
    async with _transaction(db) as conn:
        scope = await _scope_path(conn, region_code)
        rows = await conn.fetch(
            "SELECT e.id, r.path FROM elders e JOIN regions r ON r.code = e.region_code"
            " WHERE e.status = 'active' AND e.risk_groups && $1::text[] AND " + _in_scope(2)
            + " AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.elder_id = e.id"
            "  AND t.month = $3 AND t.reason = 'monthly') ORDER BY e.id",
            sorted(rules.SPECIAL_DIFFICULTY), scope, first)
        load = {r["assigned_to"]: r["n"] for r in await conn.fetch(
            "SELECT assigned_to, count(*) AS n FROM outreach_tasks WHERE month = $1"
            " AND reason = 'monthly' AND assigned_to IS NOT NULL GROUP BY assigned_to", first)}
        chosen = rules.assign([rules.DueElder(r["id"], r["path"]) for r in rows],
                              await _operators(conn), load)
        ids = list(chosen)
        created = [r["id"] for r in await conn.fetch(
            "INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on,"
            " assigned_to, created_at, updated_at)"
            " SELECT 'care_visit', 'monthly', e.id, e.region_code, $3, $4, x.op, $5, $5"
            " FROM unnest($1::bigint[], $2::bigint[]) AS x (elder_id, op)"
            " JOIN elders e ON e.id = x.elder_id ORDER BY e.id"
            " ON CONFLICT (elder_id, month) WHERE reason = 'monthly' DO NOTHING RETURNING id",
            ids, [chosen[i] for i in ids], first, due_on, now)]
        await record_events(conn, created, "plan", now=now, from_state=None, to_state="open",
                            from_step=None, to_step="call", actor_kind="worker",
                            payload={"month": first.strftime("%Y-%m")})
        if region_code is None:
            await conn.execute(
                "INSERT INTO care_runs (kind, period, ran_at, detail) VALUES ('month_plan', $1,"
                " $2, $3::text::jsonb) ON CONFLICT DO NOTHING", first, now,
                json.dumps({"created": len(created)}))
        totals = await conn.fetch(
            "SELECT t.assigned_to, count(*) AS n FROM outreach_tasks t"
            " JOIN regions r ON r.code = t.region_code WHERE t.month = $1"
            " AND t.reason = 'monthly' AND " + _in_scope(2) + " GROUP BY t.assigned_to",
            first, scope)
        result = {"month": first.strftime("%Y-%m"), "created": len(created),
                  "due": sum(r["n"] for r in totals),
                  "per_operator": {str(r["assigned_to"]): r["n"] for r in totals
                                   if r["assigned_to"] is not None}}
        if created:
            announce_at = region_code or await _root_region(conn)
            await outbox.add(conn, "care_plan", announce_at, {
                "month": result["month"], "created": result["created"], "due": result["due"],
                "region_code": announce_at})
    log.info("care month plan month=%s region=%s created=%d due=%d", result["month"],
             region_code, result["created"], result["due"])
    return result


async def after_alarm(conn: asyncpg.Connection, alarm_id: int, user_id: int | None,
                      now: dt.datetime) -> int | None:
    """The follow-up call after an alarm ends (called in the resolving transaction): a task due
    at once, for the operator who resolved it. None if the alarm has no elder, is of a kind
    that needs none, or already has its task."""
    alarm = await conn.fetchrow(
        "SELECT a.elder_id, a.kind, e.region_code, u.role FROM alarms a"
        " JOIN elders e ON e.id = a.elder_id LEFT JOIN users u ON u.id = $2"
        " WHERE a.id = $1", alarm_id, user_id)
    if alarm is None or alarm["kind"] in rules.AFTER_ALARM_SKIP:
        return None
    tz = rules.DEFAULT.tz
    assignee = user_id if alarm["role"] == "operator" else None
    task_id: int | None = await conn.fetchval(
        "INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on,"
        " assigned_to, alarm_id, created_at, updated_at) VALUES ('post_alarm', 'after_alarm',"
        " $1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (alarm_id) WHERE alarm_id IS NOT NULL"
        " DO NOTHING RETURNING id", alarm["elder_id"], alarm["region_code"],
        rules.month_of(now, tz), now.astimezone(tz).date(), assignee, alarm_id, now)
    if task_id is None:
        return None
    await record_events(conn, [task_id], "after_alarm", now=now, from_state=None,
                        to_state="open", from_step=None, to_step="call",
                        actor_user_id=user_id, actor_kind="user" if user_id else "system",
                        payload={"alarm_id": alarm_id})
    await outbox.add(conn, "care_task", alarm["region_code"], {
        "task_id": task_id, "reason": "after_alarm", "elder_id": alarm["elder_id"],
        "assigned_to": assignee, "alarm_id": alarm_id})
    return task_id


# The latest visit that reached each candidate (any task), for the high-risk cadence.
_HIGH_RISK_CANDIDATES = """
SELECT e.id, e.region_code, e.risk_groups, e.birth_date,
       (SELECT max(v.at) FROM care_visits v WHERE v.elder_id = e.id
          AND v.outcome <> 'unreachable') AS last_visit_at,
       (SELECT t.assigned_to FROM outreach_tasks t WHERE t.elder_id = e.id
          AND t.reason = 'monthly' ORDER BY t.month DESC LIMIT 1) AS assignee
FROM elders e JOIN regions r ON r.code = e.region_code
WHERE e.status = 'active' AND e.risk_groups && $1::text[] AND {scope}
  AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.elder_id = e.id
                  AND t.reason = 'high_risk' AND t.state = 'open')
ORDER BY e.id
"""

# Elders with no call, device report, alarm, reaching visit or order check-in since $2 (and
# registered before it), without an inactivity task open or waiting on its home visit.
_INACTIVE = """
INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on, assigned_to,
                            created_at, updated_at)
SELECT 'inactivity', 'inactivity', e.id, e.region_code, $3, $4,
       (SELECT t.assigned_to FROM outreach_tasks t WHERE t.elder_id = e.id
          AND t.reason = 'monthly' ORDER BY t.month DESC LIMIT 1), $5, $5
FROM elders e JOIN regions r ON r.code = e.region_code
WHERE e.status = 'active' AND e.created_at < $2 AND {scope}
  AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.elder_id = e.id AND c.ringing_at >= $2)
  AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.elder_id = e.id
                  AND (d.last_heartbeat_at >= $2 OR d.last_location_at >= $2))
  AND NOT EXISTS (SELECT 1 FROM alarms a WHERE a.elder_id = e.id AND a.created_at >= $2)
  AND NOT EXISTS (SELECT 1 FROM care_visits v WHERE v.elder_id = e.id AND v.at >= $2
                  AND v.outcome <> 'unreachable')
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.elder_id = e.id AND o.checked_in_at >= $2)
  AND NOT EXISTS (SELECT 1 FROM outreach_tasks t LEFT JOIN orders o ON o.id = t.order_id
                  WHERE t.elder_id = e.id AND t.reason = 'inactivity'
                  AND (t.state = 'open' OR (t.state = 'home_visit' AND o.state NOT IN
                       ('completed', 'reviewed', 'cancelled', 'failed'))))
ORDER BY e.id
ON CONFLICT (elder_id, reason) WHERE state = 'open' AND reason IN ('high_risk', 'inactivity')
DO NOTHING RETURNING id
"""


async def daily_sweep(db: Db, now: dt.datetime, cfg: rules.CareConfig = rules.DEFAULT,
                      region_code: str | None = None) -> dict[str, int]:
    """Today's extra tasks: high-risk elders not reached for `high_risk_days`, inactive elders,
    and alarms ended within `after_alarm_h` that got no follow-up task. Idempotent."""
    today = now.astimezone(cfg.tz).date()
    month = rules.month_of(now, cfg.tz)
    async with _transaction(db) as conn:
        scope = await _scope_path(conn, region_code)
        candidates = await conn.fetch(
            _HIGH_RISK_CANDIDATES.format(scope=_in_scope(2)),
            sorted(rules.HIGH_RISK_GROUPS | {"独居"}), scope)
        due = [r for r in candidates if rules.due_reason(rules.ElderFacts(
            frozenset(r["risk_groups"]), rules.age_on(r["birth_date"], today),
            r["last_visit_at"]), now, cfg) == "high_risk"]
        high = [r["id"] for r in await conn.fetch(
            "INSERT INTO outreach_tasks (kind, reason, elder_id, region_code, month, due_on,"
            " assigned_to, created_at, updated_at) SELECT 'care_visit', 'high_risk', x.e,"
            " x.r, $4, $5, x.a, $6, $6 FROM unnest($1::bigint[], $2::text[], $3::bigint[])"
            " AS x (e, r, a) ON CONFLICT (elder_id, reason) WHERE state = 'open'"
            " AND reason IN ('high_risk', 'inactivity') DO NOTHING RETURNING id",
            [r["id"] for r in due], [r["region_code"] for r in due],
            [r["assignee"] for r in due], month, today, now)]
        await record_events(conn, high, "high_risk", now=now, from_state=None, to_state="open",
                            from_step=None, to_step="call", actor_kind="worker")
        inactive = [r["id"] for r in await conn.fetch(
            _INACTIVE.format(scope=_in_scope(1)), scope, rules.inactivity_cutoff(now, cfg),
            month, today, now)]
        await record_events(conn, inactive, "inactivity", now=now, from_state=None,
                            to_state="open", from_step=None, to_step="call",
                            actor_kind="worker", payload={"days": cfg.inactivity_days})
        missed = await _missed_follow_ups(conn, now, cfg, scope)
        if region_code is None:
            await conn.execute(
                "INSERT INTO care_runs (kind, period, ran_at, detail) VALUES ('daily_sweep', $1,"
                " $2, $3::text::jsonb) ON CONFLICT DO NOTHING", today, now,
                json.dumps({"high_risk": len(high), "inactivity": len(inactive),
                            "after_alarm": missed}))
    log.info("care daily sweep day=%s high_risk=%d inactivity=%d after_alarm=%d", today,
             len(high), len(inactive), missed)
    return {"high_risk": len(high), "inactivity": len(inactive), "after_alarm": missed}


async def _missed_follow_ups(conn: asyncpg.Connection, now: dt.datetime, cfg: rules.CareConfig,
                             scope: str | None) -> int:
    """Alarms that ended within `after_alarm_h` without a follow-up task (ended by a path that
    does not call `after_alarm`) get one, if nobody has reached the elder since."""
    since = now - dt.timedelta(hours=cfg.after_alarm_h)
    rows = await conn.fetch(
        "SELECT a.id, a.resolved_at, (SELECT max(v.at) FROM care_visits v"
        "  WHERE v.elder_id = a.elder_id AND v.outcome <> 'unreachable') AS last_visit_at"
        " FROM alarms a JOIN elders e ON e.id = a.elder_id"
        " JOIN regions r ON r.code = e.region_code"
        " WHERE a.created_at >= $1::timestamptz - interval '7 days' AND a.resolved_at >= $1"
        " AND a.kind <> ALL ($3::text[]) AND " + _in_scope(2)
        + " AND NOT EXISTS (SELECT 1 FROM outreach_tasks t WHERE t.alarm_id = a.id)",
        since, scope, sorted(rules.AFTER_ALARM_SKIP))
    made = 0
    for r in rows:
        facts = rules.ElderFacts(frozenset(), 0, r["last_visit_at"], r["resolved_at"])
        if rules.due_reason(facts, now, cfg) == "after_alarm" \
                and await after_alarm(conn, r["id"], None, now) is not None:
            made += 1
    return made


async def plan_current_month(db: Db, s: Settings) -> dict[str, Any]:
    """This month's plan of the whole city, as of now (the demo's start)."""
    now = dt.datetime.now(dt.UTC)
    return await generate_month_plan(db, now.astimezone(s.tz).date(), now, cfg=config(s))


async def run_periodic(db: asyncpg.Pool, s: Settings, now: dt.datetime) -> dict[str, Any]:
    """The worker's care step: this month's plan if it has not run (on the 1st, or on start),
    and today's sweep if it has not run. Cheap when both have."""
    cfg = config(s)
    month = rules.month_of(now, cfg.tz)
    today = now.astimezone(cfg.tz).date()
    ran = {(r["kind"], r["period"]) for r in await db.fetch(
        "SELECT kind, period FROM care_runs WHERE (kind, period) IN"
        " (('month_plan', $1::date), ('daily_sweep', $2::date))", month, today)}
    out: dict[str, Any] = {}
    if ("month_plan", month) not in ran:
        out["plan"] = await generate_month_plan(db, month, now, cfg=cfg)
    if ("daily_sweep", today) not in ran:
        out["sweep"] = await daily_sweep(db, now, cfg)
    return out
