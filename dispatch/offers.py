"""Answers to offers, the visit itself, and operators' interventions (SPEC §5.2).

Each function is one transaction that locks the order row first (then its offers), so two
accepts of an emergency check's three offers are serialised and exactly one wins; a partial
unique index (one accepted offer per order) makes a double assignment impossible even so.
After commit, the Redis copy of the staff member's load is adjusted.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from callcenter import followup, subsidy
from callcenter.geo import distance_m
from callcenter.settings import Settings
from dispatch import orders, staff_index
from dispatch.orders import OrderNotFound, OrderRefused
from dispatch.states import ASSIGNED_STATES


async def _offer_for_staff(conn: asyncpg.Connection, offer_id: int, staff_id: int
                           ) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Lock the order, then the offer; another person's offer does not exist for this one."""
    order_id = await conn.fetchval("SELECT order_id FROM offers WHERE id = $1 AND staff_id = $2",
                                   offer_id, staff_id)
    if order_id is None:
        raise OrderNotFound(offer_id)
    order = await orders.lock(conn, order_id)
    offer = await conn.fetchrow("SELECT * FROM offers WHERE id = $1 FOR UPDATE", offer_id)
    return order, offer


def _check_pending(offer: asyncpg.Record, now: dt.datetime) -> None:
    if offer["state"] == "pending" and offer["expires_at"] > now:
        return
    if offer["state"] in ("pending", "expired"):
        raise OrderRefused("offer_expired", "推送已超时 (the offer has expired)")
    if offer["state"] == "withdrawn":
        raise OrderRefused("offer_taken", "已被他人接单或已撤回 (someone else took it, or it was"
                                          " withdrawn)")
    raise OrderRefused("offer_answered", "已答复过此推送 (this offer was already answered)")


async def accept(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, offer_id: int,
                 staff_id: int, user_id: int | None, now: dt.datetime) -> dict[str, Any]:
    async with db.acquire() as conn, conn.transaction():
        order, offer = await _offer_for_staff(conn, offer_id, staff_id)
        _check_pending(offer, now)
        if order["state"] != "offered":
            raise OrderRefused("offer_taken", "已被他人接单 (someone else took this job)")
        await _check_capacity(conn, staff_id)
        await conn.execute("UPDATE offers SET state = 'accepted', answered_at = $2"
                           " WHERE id = $1", offer_id, now)
        await _withdraw_pending(conn, order["id"], now, "另一人已接单 (taken by another)")
        provider_id = await conn.fetchval("SELECT provider_id FROM staff WHERE id = $1",
                                          staff_id)
        await orders.apply(conn, order["id"], "accept", "staff", now=now, user_id=user_id,
                           row=order, payload={"offer_id": offer_id, "staff_id": staff_id},
                           updates={"staff_id": staff_id, "provider_id": provider_id,
                                    "accepted_at": now})
        await _assigned(conn, staff_id, now)
        data = await orders.load_card(conn, order["id"])
    await staff_index.adjust_load(r, s, staff_id, +1, now)
    return data


async def _check_capacity(conn: asyncpg.Connection, staff_id: int) -> None:
    load, capacity = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM orders WHERE staff_id = $1 AND state = ANY($2::text[])),"
        " capacity FROM staff WHERE id = $1", staff_id, list(ASSIGNED_STATES))
    if load >= capacity:
        raise OrderRefused("at_capacity", f"手头已有 {load} 单，已满负荷 (already {load} jobs in "
                                          f"hand: at capacity {capacity})")


async def _assigned(conn: asyncpg.Connection, staff_id: int, now: dt.datetime) -> None:
    await conn.execute(
        "INSERT INTO staff_status (staff_id, last_assigned_at) VALUES ($1, $2)"
        " ON CONFLICT (staff_id) DO UPDATE SET last_assigned_at = $2", staff_id, now)


async def _withdraw_pending(conn: asyncpg.Connection, order_id: int, now: dt.datetime,
                            reason: str) -> None:
    await conn.execute("UPDATE offers SET state = 'withdrawn', answered_at = $2, reason = $3"
                       " WHERE order_id = $1 AND state = 'pending'", order_id, now, reason)


async def decline(db: asyncpg.Pool, offer_id: int, staff_id: int, user_id: int | None,
                  now: dt.datetime, reason: str = "") -> None:
    async with db.acquire() as conn, conn.transaction():
        order, offer = await _offer_for_staff(conn, offer_id, staff_id)
        _check_pending(offer, now)
        await conn.execute("UPDATE offers SET state = 'declined', answered_at = $2, reason = $3"
                           " WHERE id = $1", offer_id, now, reason)
        await _back_to_queue_if_none_pending(conn, order, "decline", "staff", now, user_id,
                                             {"offer_id": offer_id, "staff_id": staff_id,
                                              "reason": reason})


async def _back_to_queue_if_none_pending(conn: asyncpg.Connection, order: asyncpg.Record,
                                         event: str, actor: str, now: dt.datetime,
                                         user_id: int | None, payload: dict[str, Any]) -> None:
    pending = await conn.fetchval(
        "SELECT count(*) FROM offers WHERE order_id = $1 AND state = 'pending'", order["id"])
    if pending == 0 and order["state"] == "offered":
        await orders.apply(conn, order["id"], event, actor, now=now, user_id=user_id, row=order,
                           payload=payload)
    else:  # others still hold offers (an emergency check): the order stays offered
        await orders.record_event(conn, order["id"], order["state"], order["state"], event,
                                  actor, user_id=user_id, payload=payload)
        await orders.announce(conn, order["id"], event, [], now)


async def expire_due(db: asyncpg.Pool, now: dt.datetime, limit: int = 200) -> int:
    """Expire the offers whose deadline has passed: each exactly once, whichever worker runs
    this (row locks, SKIP LOCKED); the order goes back to the queue for the next candidate."""
    done = 0
    due = await db.fetch("SELECT id, order_id FROM offers WHERE state = 'pending'"
                         " AND expires_at <= $1 ORDER BY expires_at LIMIT $2", now, limit)
    for item in due:
        async with db.acquire() as conn, conn.transaction():
            order = await conn.fetchrow("SELECT id, state, kind, region_code, staff_id,"
                                        " provider_id, elder_id, checked_in_at FROM orders"
                                        " WHERE id = $1 FOR UPDATE SKIP LOCKED", item["order_id"])
            if order is None:
                continue  # another worker holds it; it will be seen again
            changed = await conn.fetchval(
                "UPDATE offers SET state = 'expired', answered_at = $2 WHERE id = $1"
                " AND state = 'pending' AND expires_at <= $2 RETURNING staff_id", item["id"], now)
            if changed is None:
                continue
            await _back_to_queue_if_none_pending(conn, order, "expire", "worker", now, None,
                                                 {"offer_id": item["id"], "staff_id": changed})
            done += 1
    return done


async def _own_order(conn: asyncpg.Connection, order_id: int, staff_id: int) -> asyncpg.Record:
    order = await orders.lock(conn, order_id)
    if order["staff_id"] != staff_id:
        raise OrderNotFound(order_id)
    return order


async def staff_step(db: asyncpg.Pool, r: aioredis.Redis, s: Settings, order_id: int,
                     staff_id: int, user_id: int | None, event: str, now: dt.datetime, *,
                     lat: float | None = None, lon: float | None = None, note: str = ""
                     ) -> dict[str, Any]:
    """travel, check_in, check_out, fail or release by the assigned staff member."""
    async with db.acquire() as conn, conn.transaction():
        order = await _own_order(conn, order_id, staff_id)
        updates: dict[str, Any] = {}
        payload: dict[str, Any] = {"staff_id": staff_id}
        if lat is not None and lon is not None:
            payload["location"] = {"lat": lat, "lon": lon}
        if event == "travel":
            updates["en_route_at"] = now
        elif event == "check_in":
            updates.update(await _check_in_distance(conn, s, order, lat, lon))
            updates["checked_in_at"] = now
            payload["distance_m"] = updates["checkin_distance_m"]
        elif event == "check_out":
            updates.update(checked_out_at=now, checkout_note=note)
            if order["checked_in_at"] is not None:
                payload["duration_s"] = int((now - order["checked_in_at"]).total_seconds())
        elif event in ("fail", "release"):
            updates["reason"] = note
            payload["reason"] = note
        if event == "release":
            updates.update(await _unassign(conn, order_id, now))
        await orders.apply(conn, order_id, event, "staff", now=now, user_id=user_id,
                           row=order, updates=updates, payload=payload, audience=[staff_id])
        if event == "check_out":  # subsidy-eligible orders debit their minutes, same tx
            await subsidy.debit_order(conn, order_id, now, user_id=user_id, tz=s.tz)
            await followup.on_completed(conn, order_id, now)  # a sampled follow-up call
        data = await orders.load_card(conn, order_id)
    if event in ("check_out", "fail", "release"):
        await staff_index.adjust_load(r, s, staff_id, -1)
    return data


async def _unassign(conn: asyncpg.Connection, order_id: int, now: dt.datetime
                    ) -> dict[str, Any]:
    """A released job: its accepted offer is withdrawn (the unique index allows one accepted
    offer per order) and the order forgets who had it."""
    await conn.execute("UPDATE offers SET state = 'withdrawn', reason = 'released',"
                       " answered_at = $2 WHERE order_id = $1 AND state = 'accepted'",
                       order_id, now)
    return {"staff_id": None, "provider_id": None, "accepted_at": None, "en_route_at": None}


async def _check_in_distance(conn: asyncpg.Connection, s: Settings, order: asyncpg.Record,
                             lat: float | None, lon: float | None) -> dict[str, Any]:
    if lat is None or lon is None:
        raise OrderRefused("location_required", "签到需要当前位置 (check-in needs your location)",
                           field="lat")
    home = await conn.fetchrow("SELECT lat, lon FROM elders WHERE id = $1", order["elder_id"])
    if home["lat"] is None:
        return {"checkin_distance_m": None}  # nothing to verify against; recorded as such
    meters = round(distance_m(lat, lon, home["lat"], home["lon"]))
    if meters > s.checkin_radius_m:
        raise OrderRefused("too_far", f"距老人住址 {meters} 米，超过 {s.checkin_radius_m} 米，不能签到"
                                      f" ({meters} m from the elder's home: more than "
                                      f"{s.checkin_radius_m} m)", distance_m=meters,
                           limit_m=s.checkin_radius_m)
    return {"checkin_distance_m": meters}


async def operator_step(db: asyncpg.Pool, r: aioredis.Redis, order_id: int, user_id: int,
                        event: str, now: dt.datetime, *, reason: str = "",
                        staff_id: int | None = None, settings: Settings | None = None
                        ) -> dict[str, Any]:
    """cancel, requeue, assign (manual dispatch), release, fail or review by an operator."""
    released: int | None = None
    async with db.acquire() as conn, conn.transaction():
        order = await orders.lock(conn, order_id)
        updates: dict[str, Any] = {}
        payload: dict[str, Any] = {"reason": reason} if reason else {}
        audience: list[int] = []
        if event == "assign":
            assert staff_id is not None
            updates = await _manual_assign(conn, order, staff_id, now)
            payload["staff_id"] = staff_id
            audience = [staff_id]
        if event in ("cancel", "release", "fail") and reason:
            updates["reason"] = reason
        if event in ("cancel", "release", "assign"):
            await _withdraw_pending(conn, order_id, now, f"{event} by operator")
        if event in ("cancel", "release", "fail") and order["staff_id"] is not None \
                    and order["state"] in ASSIGNED_STATES:
            released = order["staff_id"]
            audience = [released]
        if event == "release":
            updates.update(await _unassign(conn, order_id, now))
        await orders.apply(conn, order_id, event, "operator", now=now, user_id=user_id,
                           row=order, updates=updates, payload=payload, audience=audience)
        data = await orders.load_card(conn, order_id)
    if settings is not None:
        if released is not None:
            await staff_index.adjust_load(r, settings, released, -1)
        if event == "assign" and staff_id is not None:
            await staff_index.adjust_load(r, settings, staff_id, +1, now)
    return data


async def _manual_assign(conn: asyncpg.Connection, order: asyncpg.Record, staff_id: int,
                         now: dt.datetime) -> dict[str, Any]:
    staff = await conn.fetchrow(
        "SELECT s.provider_id, s.active AND p.active AS active, EXISTS (SELECT 1 FROM"
        " staff_skills k JOIN service_items i ON i.skill_code = k.skill_code JOIN orders o"
        " ON o.item_code = i.code WHERE k.staff_id = s.id AND o.id = $2) AS skilled"
        " FROM staff s JOIN providers p ON p.id = s.provider_id WHERE s.id = $1",
        staff_id, order["id"])
    if staff is None or not staff["active"]:
        raise OrderRefused("unknown_staff", "没有这名在职服务人员 (no such active staff member)",
                           field="staff_id")
    if not staff["skilled"]:
        raise OrderRefused("no_skill", "该服务人员不具备此项服务的技能 (this staff member lacks "
                                       "the skill for the item)", field="staff_id")
    await _check_capacity(conn, staff_id)
    await conn.execute(
        "INSERT INTO offers (order_id, staff_id, state, score, distance_m, offered_at,"
        " expires_at, answered_at, reason) VALUES ($1, $2, 'accepted', 0, 0, $3, $4, $3,"
        " 'manual') ON CONFLICT (order_id, staff_id) DO UPDATE"
        " SET state = 'accepted', answered_at = $3, reason = 'manual'",
        order["id"], staff_id, now, now + dt.timedelta(seconds=1))
    await _assigned(conn, staff_id, now)
    return {"staff_id": staff_id, "provider_id": staff["provider_id"], "accepted_at": now,
            "reason": ""}
