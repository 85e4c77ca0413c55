"""`callcenter simulate`: load the city from the database, log in operators and provider staff
as network clients, play the seeded schedule against a running server for a while, drain, then
check integrity: every simulated call ended, every alarm it raised closed, every order it made
reached a final state (or is accounted for: no candidate, a simulated no-show)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from callcenter import sim_actors as act
from callcenter import sim_devices as devs
from callcenter import sim_plan as plan
from callcenter.security import hash_password
from callcenter.settings import Settings

DONE_ORDERS = ("completed", "reviewed", "cancelled", "failed")
ACCOUNTED_ORDERS = ("no_candidate",)


async def setup_staff_logins(conn: asyncpg.Connection, wanted: int, password: str) -> int:
    """SIMULATOR SETUP (writes to the database): give staff rows without a login one, as
    provider_staff users `sim.<staff id>` with `password`, until `wanted` staff can log in."""
    have = await conn.fetchval(
        "SELECT count(*) FROM staff s JOIN users u ON u.id = s.user_id WHERE s.active AND u.active"
        " AND u.role = 'provider_staff'")
    missing = max(0, wanted - int(have))
    if not missing:
        return 0
    rows = await conn.fetch(
        "SELECT s.id, p.region_code, s.provider_id FROM staff s JOIN providers p"
        " ON p.id = s.provider_id WHERE s.active AND s.user_id IS NULL ORDER BY s.id LIMIT $1",
        missing)
    digest = await asyncio.to_thread(hash_password, password)
    async with conn.transaction():
        for r in rows:
            uid = await conn.fetchval(
                "INSERT INTO users (username, display_name, password_hash, role, region_code,"
                " provider_id) VALUES ($1, $1, $2, 'provider_staff', $3, $4)"
                " ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash"
                " RETURNING id", f"sim.{r['id']}", digest, r["region_code"], r["provider_id"])
            await conn.execute("UPDATE staff SET user_id = $2 WHERE id = $1", r["id"], uid)
    return len(rows)


async def load_snapshot(conn: asyncpg.Connection, operators: int, staff: int,
                        exclude_operators: Sequence[str] = ()) -> plan.Snapshot:
    elders = tuple(plan.Elder(r["id"], tuple(r["phones"] or ()), r["lat"], r["lon"], r["path"])
                   for r in await conn.fetch(
        "SELECT e.id, e.phones, e.lat, e.lon, r.path FROM elders e JOIN regions r"
        " ON r.code = e.region_code WHERE e.status = 'active' ORDER BY e.id"))
    devices = tuple(plan.Device(r["serial"], r["kind"], r["elder_id"], r["secret"],
                                None if r["geofence_lat"] is None else
                                (r["geofence_lat"], r["geofence_lon"], r["geofence_radius_m"]))
                    for r in await conn.fetch(
        "SELECT serial, kind, elder_id, secret, geofence_lat, geofence_lon, geofence_radius_m"
        " FROM devices WHERE status = 'active' AND elder_id IS NOT NULL ORDER BY serial"))
    ops = tuple(plan.Login(r["username"], r["path"]) for r in await conn.fetch(
        "SELECT u.username, r.path FROM users u JOIN regions r ON r.code = u.region_code"
        " WHERE u.role = 'operator' AND u.active AND u.username <> ALL($2::text[])"
        " ORDER BY length(r.path), u.id LIMIT $1", operators, list(exclude_operators)))
    staff_rows = await conn.fetch(
        "SELECT u.username, r.path, s.id, s.home_lat, s.home_lon FROM staff s"
        " JOIN users u ON u.id = s.user_id JOIN providers p ON p.id = s.provider_id"
        " JOIN regions r ON r.code = p.region_code WHERE s.active AND u.active"
        " AND u.role = 'provider_staff' ORDER BY s.id LIMIT $1", staff)
    people = tuple(plan.Login(r["username"], r["path"], r["id"],
                              None if r["home_lat"] is None else (r["home_lat"], r["home_lon"]))
                   for r in staff_rows)
    items = tuple(r["code"] for r in await conn.fetch(
        "SELECT DISTINCT i.code FROM service_items i JOIN staff_skills k"
        " ON k.skill_code = i.skill_code WHERE i.active AND k.staff_id = ANY($1::bigint[])"
        " ORDER BY i.code", [p.staff_id for p in people]))
    return plan.Snapshot(elders, devices, ops, people, items)


async def integrity(conn: asyncpg.Connection, stats: act.Stats) -> dict[str, Any]:
    calls = await conn.fetch("SELECT external_id, state FROM calls WHERE id = ANY($1::bigint[])",
                             list(stats.calls.values()))
    alarms = await conn.fetch("SELECT id, state FROM alarms WHERE id = ANY($1::bigint[])",
                              sorted(stats.alarms))
    orders = await conn.fetch("SELECT id, state FROM orders WHERE id = ANY($1::bigint[])",
                              sorted(stats.orders))
    unfinished: list[str] = []
    unfinished += [f"call {r['external_id']} {r['state']}" for r in calls
                   if r["state"] not in ("ended", "abandoned")]
    unfinished += [f"alarm {r['id']} {r['state']}" for r in alarms if r["state"] != "closed"]
    order_states: dict[str, int] = {}
    for r in orders:
        order_states[r["state"]] = order_states.get(r["state"], 0) + 1
        ok = r["state"] in DONE_ORDERS + ACCOUNTED_ORDERS or (
            r["id"] in stats.no_shows and r["state"] in ("accepted", "en_route"))
        if not ok:
            unfinished.append(f"order {r['id']} {r['state']}")
    return {"calls": len(calls), "calls_missing": len(stats.calls) - len(calls),
            "alarms": len(alarms), "orders": len(orders), "order_states": order_states,
            "unfinished": unfinished}


def base_urls(base_url: str | Sequence[str]) -> list[str]:
    """One URL, a comma-separated list, or a sequence of them."""
    parts = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    out = [b.strip().rstrip("/") for b in parts if b.strip()]
    if not out:
        raise ValueError("no base URL to drive")
    return out


async def simulate(*, base_url: str | Sequence[str], database_url: str, cti_token: str,
                   seed: int = 12349, speed: float = 60.0, duration_s: float = 60.0,
                   rates: plan.Rates | None = None, operators: int = 4, staff: int = 20,
                   password: str = "anxin12349", drain_s: float = 30.0, quiet: bool = False,
                   device_procs: int = 0,
                   on_clients: Callable[[dict[str, int]], None] | None = None,
                   exclude_operators: Sequence[str] = (), care: bool = False
                   ) -> dict[str, Any]:
    """One run; returns {wall_s, calls, alarms, orders, unfinished, ok, ...}. Traffic is
    spread over every URL in `base_url` (each operator and staff member logs in on one and
    stays there; device events and calls go to each in turn). With `device_procs` > 0 the
    bracelets' periodic events are sent by that many extra processes (their pids are given to
    `on_clients`); calls, alarms and the actors stay in this one. With `care` the operators
    also work their outbound care lists between alarms."""
    rates = rates or plan.Rates()
    bases = base_urls(base_url)
    started = time.monotonic()
    conn = await asyncpg.connect(database_url)
    try:
        created = await setup_staff_logins(conn, staff, password)
        snapshot = await load_snapshot(conn, operators, staff, exclude_operators)
    finally:
        await conn.close()
    run_id = f"sim-{seed}-{uuid.uuid4().hex[:6]}"
    counts: dict[str, int] = {}
    senders = None
    if device_procs > 0:
        senders = devs.Senders([devs.ShardJob(seed, snapshot, rates, speed, duration_s, run_id,
                                              (k, device_procs), tuple(bases))
                                for k in range(device_procs)])
        if on_clients is not None:
            on_clients(senders.pids())
    parts = ("calls", "alarms") if senders else plan.PARTS
    schedule = plan.stream(seed, snapshot, rates, speed, duration_s, run_id, counts=counts,
                           parts=parts)
    stats = act.Stats()
    try:
        async with devs.session() as session:
            def http(i: int) -> act.Http:
                return act.Http(bases[i % len(bases)], session, stats)
            colleagues: set[int] = set()
            ops = {o.username: act.Operator(http(i), o, password, seed, speed,
                                            colleagues=colleagues, care=care,
                                            care_items=tuple(snapshot.items))
                   for i, o in enumerate(snapshot.operators)}
            people = [act.Staff(http(len(ops) + i), s, password, seed, speed,
                                decline_share=rates.decline_share,
                                no_show_share=rates.no_show_share)
                      for i, s in enumerate(snapshot.staff)]
            await asyncio.gather(*(o.start() for o in ops.values()),
                                 *(p.start() for p in people))
            actors: list[act.Actor] = [*ops.values(), *people]
            everywhere = [http(i) for i in range(len(bases))]
            devices = act.Devices(everywhere, {d.serial: d for d in snapshot.devices})
            cti = act.Cti(everywhere, cti_token, ops)

            async def run(a: plan.Action) -> None:
                await (devices.send(a) if a.kind == "device" else cti.run(a))

            t0 = time.monotonic()
            if senders is not None:
                await senders.ready()
                start_epoch = time.time() + 0.5
                senders.go(start_epoch)
                t0 = time.monotonic() + 0.5
            try:
                await devs.play(schedule, t0, duration_s, stats, run)
            except asyncio.CancelledError:  # stopped: the actors go before their session closes
                for actor in actors:
                    actor.cancel()
                raise
            if senders is not None:
                await senders.results(stats, counts)
            deadline = time.monotonic() + drain_s
            conn = await asyncpg.connect(database_url)
            try:
                while True:
                    check = await integrity(conn, stats)
                    if not check["unfinished"] or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.25)
                await asyncio.gather(*(o.stop() for o in ops.values()),
                                     *(p.stop() for p in people))
                check = await integrity(conn, stats)
            except asyncio.CancelledError:
                for actor in actors:
                    actor.cancel()
                raise
            finally:
                await conn.close()
    finally:
        if senders is not None:
            senders.kill()
    problems = stats.problems
    result = {
        "run_id": run_id, "seed": seed, "speed": speed, "wall_s": round(time.monotonic() - started,
                                                                         2),
        "city_s": round(duration_s * speed), "planned": counts, "bases": len(bases),
        "device_procs": device_procs, "behind_s": round(stats.late_s, 2),
        "staff_logins_created": created, "operators": len(snapshot.operators),
        "staff": len(snapshot.staff),
        **check, "declines": stats.declines, "accepted": stats.accepted,
        "completed_visits": stats.completed, "no_shows": len(stats.no_shows),
        "alarms_handled": stats.handled_alarms, "care_calls": stats.care_calls,
        "server_errors": stats.server_errors(), "client_errors": stats.client_errors(),
        "problems": problems[:50], "requests": sum(stats.statuses.values()),
        "requests_by_base": {b: stats.per_base[b] for b in bases},
    }
    result["ok"] = (not check["unfinished"] and not result["server_errors"]
                    and not check["calls_missing"] and not stats.statuses["device sender error"])
    if not quiet:
        print(summary(result))
    return result


def summary(r: dict[str, Any]) -> str:
    lines = [
        f"模拟 (simulation) {r['run_id']}: {r['wall_s']} s wall, {r['city_s']} s of city time "
        f"at ×{r['speed']}",
        f"  planned: {json.dumps(r['planned'])}",
        f"  calls {r['calls']}, alarms {r['alarms']} (handled {r['alarms_handled']}), orders "
        f"{r['orders']} {json.dumps(r['order_states'])}",
        f"  offers: accepted {r['accepted']}, declined {r['declines']}, no-shows "
        f"{r['no_shows']}, visits completed {r['completed_visits']}",
        f"  requests {r['requests']} over {r['bases']} server(s), 5xx {r['server_errors']}, "
        f"unanswered (timeouts) {r['client_errors']}, "
        f"problems {len(r['problems'])}, sender at worst {r['behind_s']} s behind schedule",
        f"  unfinished {len(r['unfinished'])}: {r['unfinished'][:10]}",
        "  完整性检查通过 (integrity check passed)" if r["ok"] else
        "  完整性检查失败 (integrity check FAILED)",
    ]
    lines += [f"  ! {p}" for p in r["problems"][:10]]
    return "\n".join(lines)


def add_simulate_parser(sub: Any) -> None:
    p = sub.add_parser("simulate", help="load generator: the city's devices, calls, operators "
                                        "and provider staff as network clients")
    p.add_argument("--base-url", default=None,
                   help="server(s) to drive, comma-separated for several web processes "
                        "(default http://ANXIN_HOST:ANXIN_PORT)")
    p.add_argument("--seed", type=int, default=12349)
    p.add_argument("--speed", type=float, default=60.0,
                   help="time compression: 60 = an hour of the city per minute")
    p.add_argument("--duration", type=float, default=60.0, help="wall-clock seconds")
    p.add_argument("--calls-per-day", type=float, default=3500.0)
    p.add_argument("--alarm-share", type=float, default=0.05)
    p.add_argument("--bracelets", type=int, default=None,
                   help="simulated bracelets (default: those in the database)")
    p.add_argument("--operators", type=int, default=4)
    p.add_argument("--staff", type=int, default=20)
    p.add_argument("--decline-share", type=float, default=0.10)
    p.add_argument("--no-show-share", type=float, default=0.03)
    p.add_argument("--password", default="anxin12349", help="the simulated users' password")
    p.add_argument("--drain", type=float, default=60.0,
                   help="seconds to wait after the run for work to finish")
    p.add_argument("--device-procs", type=int, default=0,
                   help="extra processes sending the bracelets' events (0: this one)")
    p.add_argument("--care", action="store_true",
                   help="the operators also work their outbound care lists between alarms")


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    rates = plan.Rates(calls_per_day=args.calls_per_day, alarm_share=args.alarm_share,
                       bracelets=args.bracelets, decline_share=args.decline_share,
                       no_show_share=args.no_show_share)
    if not settings.cti_token:
        print("需要 ANXIN_CTI_TOKEN (set ANXIN_CTI_TOKEN, as the server has it)")
        return 2
    result = asyncio.run(simulate(
        base_url=args.base_url or f"http://{settings.host}:{settings.port}",
        database_url=settings.database_url, cti_token=settings.cti_token, seed=args.seed,
        speed=args.speed, duration_s=args.duration, rates=rates, operators=args.operators,
        staff=args.staff, password=args.password, drain_s=args.drain,
        device_procs=args.device_procs, care=args.care))
    return 0 if result["ok"] else 1
