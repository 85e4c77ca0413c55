"""Dispatch benchmark (SPEC §7: ≥ 1,000 orders/s with 100,000 staff), against raw Redis GEOSEARCH
on the same data as the baseline, in the same run.

    .venv/bin/python bench/dispatch.py                    # 100,000 staff, 10 s at 1,000 orders/s
    .venv/bin/python bench/dispatch.py --quick            # 10,000 staff, 3 s: well under a minute
    .venv/bin/python bench/dispatch.py --rate 1000,max --profile --json var/bench-dispatch.json

Creates a scratch database on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test) and a unique Redis key prefix on REDIS_URL (default
redis://127.0.0.1:6379/0); both are removed at the end, also after a failure or Ctrl-C.

Set-up (timed): migrate; seed the Weihai demo city (`seed_city`: regions with their service
circles, urban 3 km / rural 8 km, the catalogue, ~30 providers, `--elders` elders with homes);
COPY staff up to `--staff` in all (each 1-3 skills, home near an elder, with the provider of that
district), all on shift; then the Redis picture of every staff member written directly, the same
layout as `staff_index.record_location` (hash `staff:<id>`, GEO set `staff:geo:<skill>`).

Each run (`--rate`, comma-separated; `max` = closed loop):
- a rate R: `--producers` processes create orders with `orders.create` (one transaction each, a
  pool of `--connections`) on a fixed schedule (open loop) for `--seconds`, while `--workers`
  dispatch worker processes run `Worker.run` (outbox relay → stream → XREADGROUP → engine.handle),
  exactly as `callcenter worker` does;
- `max`: the orders (`--orders`) are all created first with the workers idle, then the workers
  start and drain them: orders/s = orders / drain time.
The run ends when every order is offered or no_candidate, or nothing moved for `--grace` s.

What is measured (PostgreSQL clock_timestamp on this host):
- enqueue→offer: from the order's dispatch outbox row (`order.queued`, the last statement of the
  creating transaction, just before COMMIT) to its `order.offer` live outbox row (the last
  statement of the worker's transaction, just before COMMIT): relay, stream, matching, writes.
- orders/s: orders decided (offered + no_candidate) per second, from the first enqueue (rate) or
  from the workers' start (max) to the last decision; offered/s likewise.
- integrity (exit status 1 if any fails): `doubles` (an order with more live offers than its
  fan-out, 1, or 3 for an emergency check, or with two offer decisions, or two accepted offers)
  and `lost` (an order neither offered nor no_candidate at the end).
- baseline: as many processes as workers, each with `--baseline-concurrency` calls in flight
  (default: dispatch.worker.CONCURRENCY, the orders a worker handles at once), call
  GEOSEARCH (the item's skill set, the elder's service radius, COUNT 50, WITHDIST, ASC) on the
  orders' own points for `--baseline-seconds`; then the same with `staff_index.search` (GEOSEARCH
  + the pipelined HMGET of the candidates' hashes). ratio = orders/s ÷ GEOSEARCH/s.
CPU seconds per process group show where the time goes (on a shared machine, `others` is what
the rest of it took); `--profile` runs worker 0 under cProfile (CPU time) and counts its
PostgreSQL and Redis round trips per order. `--json PATH` writes the results: the first run's
figures at the top level (orders_per_s, p50_ms, p99_ms, doubles and lost over all runs,
baseline_per_s, ratio, staff, workers, ...) and every run under "runs". Speed is reported, not
asserted: the exit status is 1 only when an integrity check fails (130 after Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import logging
import math
import multiprocessing as mp
import os
import pstats
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/, so `dispatch` is the package, not this file

from bench.common import fmt, pct, run_main, with_database  # noqa: E402
from bench.procs import sample_waits  # noqa: E402
from callcenter import outbox  # noqa: E402
from callcenter.app import _init_connection, _no_reset  # noqa: E402
from callcenter.keys import redis_key  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import seed_city  # noqa: E402
from callcenter.settings import Settings, load_settings  # noqa: E402
from dispatch import orders, staff_index  # noqa: E402
from dispatch import worker as worker_module  # noqa: E402
from dispatch.engine import SEARCH_COUNT  # noqa: E402
from dispatch.worker import GROUP, Worker  # noqa: E402

TARGET_PER_S = 1000.0  # SPEC §7
LAT_RANGE, LON_RANGE = (36.8, 37.55), (121.6, 122.7)  # Weihai, roughly
M_PER_DEG = 111_320.0
ORDER_FRESH_S = 3600  # location freshness and offer lifetime for the run: nothing expires
PIPE_ERRORS = (EOFError, BrokenPipeError, ConnectionResetError)  # the other end went away





class LogCounter(logging.Handler):
    """Warnings and errors logged in a child process: counted, the first few kept."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 3:
            self.first.append(self.format(record))


def child_logging() -> LogCounter:
    """Logging of a child process; Ctrl-C is left to the parent, which closes the pipes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
    counter = LogCounter()
    counter.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(counter)
    return counter


async def new_pool(url: str, size: int) -> asyncpg.Pool:
    """A pool like the app's and `callcenter worker`'s (jsonb codec, no reset query)."""
    return await asyncpg.create_pool(url, min_size=min(2, size), max_size=size,
                                     init=_init_connection, reset=_no_reset)


def new_redis(url: str) -> aioredis.Redis:
    return aioredis.from_url(url, decode_responses=True, socket_connect_timeout=2,
                             socket_timeout=10)


# ----------------------------------------------------------------------------- worker process
def instrument(counts: Counter[str]) -> None:
    """Count PostgreSQL statements and Redis round trips in this process (profile mode only)."""
    import asyncpg.connection as apc
    from redis.asyncio.client import Pipeline, Redis

    def pg(name: str) -> Callable[..., Any]:
        original = getattr(apc.Connection, name)

        async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            counts["pg  " + " ".join(query.split())[:90]] += 1
            return await original(self, query, *args, **kwargs)
        return counted

    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
        setattr(apc.Connection, name, pg(name))
    command, execute = Redis.execute_command, Pipeline.execute

    async def one(self: Any, *args: Any, **options: Any) -> Any:
        counts[f"redis {args[0]}"] += 1
        return await command(self, *args, **options)

    async def pipeline(self: Any, raise_on_error: bool = True) -> Any:
        names = sorted({str(c[0][0]) for c in self.command_stack})
        counts[f"redis pipeline of {len(self.command_stack) or 'none'}: {' '.join(names)}"[:90]
               if len(self.command_stack) < 10 else
               f"redis pipeline of ≥10: {' '.join(names)}"] += 1
        return await execute(self, raise_on_error)

    Redis.execute_command = one  # type: ignore[method-assign]
    Pipeline.execute = pipeline  # type: ignore[method-assign]


def worker_entry(pipe: Any, s: Settings, name: str, profile: str) -> None:
    logs = child_logging()
    counts: Counter[str] = Counter()
    if profile:
        instrument(counts)
    # CPU time, not wall time: on a busy machine a syscall that yields would look expensive
    prof = cProfile.Profile(time.process_time) if profile else None
    try:
        out = asyncio.run(worker_main(pipe, s, name, prof))
        if prof is not None:
            prof.dump_stats(profile)
        out.update(warnings=logs.count, first_warnings=logs.first, round_trips=dict(counts))
        pipe.send(out)
    except PIPE_ERRORS:
        pass  # the parent is gone or gave up on us (Ctrl-C): nothing to report to


async def worker_main(pipe: Any, s: Settings, name: str, prof: cProfile.Profile | None
                      ) -> dict[str, Any]:
    db = await new_pool(s.database_url, s.db_pool_max)
    r = new_redis(s.redis_url)
    worker = Worker(db, r, s, name=name)
    cpu = 0.0
    try:
        pipe.send(("ready", os.getpid()))
        if await asyncio.to_thread(pipe.recv) != "go":
            return {"name": name, "handled": 0, "cpu_s": 0.0}
        cpu0 = time.process_time()
        if prof is not None:
            prof.enable()
        halt = asyncio.Event()
        task = asyncio.create_task(worker.run(halt))
        try:
            await asyncio.to_thread(pipe.recv)  # "stop"
        except PIPE_ERRORS:
            pass
        halt.set()
        await task
        if prof is not None:
            prof.disable()
        cpu = time.process_time() - cpu0
    finally:
        await r.aclose()
        await db.close()
    return {"name": name, "handled": worker.handled, "cpu_s": cpu}


# ----------------------------------------------------------------------------- producer process
def producer_entry(pipe: Any, db_url: str, jobs: list[tuple[int, int, str]], rate: float,
                   connections: int) -> None:
    logs = child_logging()
    try:
        asyncio.run(produce(pipe, db_url, jobs, rate, connections))
        pipe.send({"warnings": logs.count, "first_warnings": logs.first})
    except PIPE_ERRORS:
        pass


async def produce(pipe: Any, db_url: str, jobs: list[tuple[int, int, str]], rate: float,
                  connections: int) -> None:
    """Create the orders: job i at t0 + i/rate (open loop), or as fast as `connections` allow."""
    pool = await new_pool(db_url, connections)
    out: dict[str, Any] = {"ids": [], "sched": [], "start": [], "done": [], "errors": 0,
                           "first_error": "", "cpu_s": 0.0}
    try:
        pipe.send(("ready", os.getpid()))
        t0 = await asyncio.to_thread(pipe.recv)
        cpu0 = time.process_time()

        async def one(elder_id: int, item_code: str, sched: float) -> None:
            async with pool.acquire() as conn:
                start = time.time()
                try:
                    async with conn.transaction():
                        order_id = await orders.create(
                            conn, elder_id=elder_id, item_code=item_code, source="api",
                            now=dt.datetime.fromtimestamp(start, dt.UTC))
                except (asyncpg.PostgresError, orders.OrderRefused) as exc:
                    out["errors"] += 1
                    out["first_error"] = out["first_error"] or repr(exc)
                    return
                done = time.time()
            out["ids"].append(order_id)
            out["sched"].append(sched)
            out["start"].append(start)
            out["done"].append(done)

        if rate > 0:
            tasks = []
            for i, elder_id, item_code in jobs:
                sched = t0 + i / rate
                delay = sched - time.time()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(elder_id, item_code, sched)))
            await asyncio.gather(*tasks)
        else:
            queue = iter(jobs)

            async def loop() -> None:
                for _, elder_id, item_code in queue:
                    await one(elder_id, item_code, time.time())

            await asyncio.gather(*(loop() for _ in range(connections)))
        out["cpu_s"] = time.process_time() - cpu0
        pipe.send(out)
        try:  # keep the backends alive until the parent has sampled their CPU time
            await asyncio.to_thread(pipe.recv)
        except PIPE_ERRORS:
            pass
    finally:
        await pool.close()


# ----------------------------------------------------------------------------- baseline process
def geo_entry(pipe: Any, s: Settings, points: list[tuple[str, float, float, float]],
              seconds: float, concurrency: int, mode: str) -> None:
    child_logging()
    try:
        pipe.send(asyncio.run(geo_run(pipe, s, points, seconds, concurrency, mode)))
    except PIPE_ERRORS:
        pass


async def geo_run(pipe: Any, s: Settings, points: list[tuple[str, float, float, float]],
                  seconds: float, concurrency: int, mode: str) -> dict[str, Any]:
    """`concurrency` loops of GEOSEARCH (mode geosearch) or staff_index.search (mode search)."""
    r = new_redis(s.redis_url)
    calls, found = 0, 0
    try:
        await r.ping()
        pipe.send(("ready", os.getpid()))
        t0 = await asyncio.to_thread(pipe.recv)
        await asyncio.sleep(max(0.0, t0 - time.time()))
        cpu0, end = time.process_time(), t0 + seconds

        async def loop(k: int) -> None:
            nonlocal calls, found
            j = k
            while time.time() < end:
                skill, lat, lon, radius = points[j % len(points)]
                if mode == "geosearch":
                    got: Any = await r.geosearch(
                        staff_index.geo_key(s, skill), longitude=lon, latitude=lat,
                        radius=radius, unit="m", sort="ASC", count=SEARCH_COUNT, withdist=True)
                else:
                    got = await staff_index.search(r, s, skill, lat, lon, radius, SEARCH_COUNT)
                calls += 1
                found += len(got)
                j += concurrency

        await asyncio.gather(*(loop(k) for k in range(concurrency)))
        elapsed = time.time() - t0
    finally:
        await r.aclose()
    return {"calls": calls, "found": found, "seconds": elapsed,
            "cpu_s": time.process_time() - cpu0}


# ----------------------------------------------------------------------------- children
class Children:
    """Spawned processes, each with a pipe: ready → go → (stop) → result."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("spawn")
        self.procs: list[Any] = []
        self.pipes: list[Any] = []

    def spawn(self, target: Callable[..., None], *args: Any, name: str) -> tuple[Any, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        proc.start()
        child.close()
        self.procs.append(proc)
        self.pipes.append(parent)
        return proc, parent

    @staticmethod
    async def ready(pipes: list[Any], timeout_s: float = 120) -> list[int]:
        async def one(p: Any) -> int:
            msg = await asyncio.to_thread(p.recv)
            return int(msg[1])
        return list(await asyncio.wait_for(asyncio.gather(*(one(p) for p in pipes)), timeout_s))

    @staticmethod
    async def results(pipes: list[Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(asyncio.to_thread(p.recv) for p in pipes)))

    def reap(self, grace_s: float = 10.0) -> None:
        """Close the pipes (a child waiting on one stops), give the children grace_s together,
        then terminate and kill what is left (by process object: these children only)."""
        for pipe in self.pipes:
            pipe.close()
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.procs, self.pipes = [], []


# ----------------------------------------------------------------------------- cpu and waits
CpuSample = dict[str, dict[int, float]]


def cpu_sample(groups: dict[str, list[int]]) -> CpuSample:
    """CPU seconds so far per process of each group (and the machine's busy time, as pid 0)."""
    t = psutil.cpu_times()
    out: CpuSample = {"machine": {0: sum(t) - t.idle - getattr(t, "iowait", 0.0)}}
    found: dict[str, list[int]] = {**groups, "postgres": [], "redis": []}
    for p in psutil.process_iter(["name"]):
        if p.info["name"] == "postgres":
            found["postgres"].append(p.pid)
        elif (p.info["name"] or "").startswith("redis-server"):
            found["redis"].append(p.pid)
    for name, pids in found.items():
        out[name] = {}
        for pid in pids:
            try:
                c = psutil.Process(pid).cpu_times()
                out[name][pid] = c.user + c.system
            except psutil.Error:
                pass
    return out


def cpu_used(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Per group, CPU seconds between two samples (a process started in between counts from 0;
    one that ended in between is missed: keep them alive until the second sample)."""
    return {name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
            for name, pids in after.items()}


# ----------------------------------------------------------------------------- set-up
async def build_world(db: asyncpg.Connection, r: aioredis.Redis, s: Settings,
                      args: argparse.Namespace, timings: dict[str, float]) -> dict[str, Any]:
    rng = random.Random(args.seed)
    t = time.monotonic()
    await seed_city(db, elders=args.elders)
    timings["city"] = time.monotonic() - t

    t = time.monotonic()
    homes = [(r_["id"], r_["lat"], r_["lon"], float(r_["service_radius_m"]), r_["district"])
             for r_ in await db.fetch(
                 "SELECT e.id, e.lat, e.lon, r.service_radius_m,"
                 " split_part(r.path, '.', 2) AS district FROM elders e"
                 " JOIN regions r ON r.code = e.region_code WHERE e.lat IS NOT NULL ORDER BY e.id")]
    by_district: dict[str, list[int]] = {}
    for row in await db.fetch("SELECT provider_id, region_code FROM provider_regions"
                              " ORDER BY provider_id, region_code"):
        by_district.setdefault(row["region_code"], []).append(row["provider_id"])
    all_providers = sorted({p for ps in by_district.values() for p in ps})
    skills = [row["code"] for row in await db.fetch("SELECT code FROM skills ORDER BY code")]
    base = await db.fetchval("SELECT coalesce(max(id), 0) FROM staff")
    existing = await db.fetchval("SELECT count(*) FROM staff")
    staff_rows: list[tuple[Any, ...]] = []
    skill_rows: list[tuple[int, str]] = []
    for k in range(max(0, args.staff - existing)):
        sid = base + 1 + k
        _, lat, lon, radius, district = rng.choice(homes)
        sigma = radius / 2  # staff live around the elders they serve
        lat = min(max(lat + rng.gauss(0, sigma) / M_PER_DEG, LAT_RANGE[0]), LAT_RANGE[1])
        lon = min(max(lon + rng.gauss(0, sigma) / (M_PER_DEG * math.cos(math.radians(lat))),
                      LON_RANGE[0]), LON_RANGE[1])
        provider = rng.choice(by_district.get(district) or all_providers)
        staff_rows.append((sid, provider, f"服务员{sid}", f"+86139{sid:08d}", round(lat, 6),
                           round(lon, 6), rng.randint(2, 5), True))
        skill_rows.extend((sid, code) for code in rng.sample(skills, rng.randint(1, 3)))
    async with db.transaction():
        await db.copy_records_to_table("staff", records=staff_rows, columns=(
            "id", "provider_id", "name", "phone", "home_lat", "home_lon", "capacity", "active"))
        await db.copy_records_to_table("staff_skills", records=skill_rows,
                                       columns=("staff_id", "skill_code"))
        await db.execute("SELECT setval(pg_get_serial_sequence('staff', 'id'),"
                         " (SELECT max(id) FROM staff))")
        await db.execute("INSERT INTO staff_status (staff_id, on_shift) SELECT id, true FROM staff"
                         " ON CONFLICT (staff_id) DO UPDATE SET on_shift = true")
    await db.execute("ANALYZE staff, staff_skills, staff_status, elders, regions")
    timings["staff_copy"] = time.monotonic() - t

    t = time.monotonic()
    rows = await db.fetch(
        "SELECT s.id, s.provider_id, s.capacity, s.home_lat, s.home_lon,"
        " p.star_rating::float8 AS rating,"
        " array_agg(k.skill_code ORDER BY k.skill_code) AS skills"
        " FROM staff s JOIN providers p ON p.id = s.provider_id"
        " JOIN staff_skills k ON k.staff_id = s.id JOIN staff_status st ON st.staff_id = s.id"
        " WHERE s.active AND p.active AND st.on_shift AND s.home_lat IS NOT NULL"
        " GROUP BY s.id, p.star_rating ORDER BY s.id")
    stamp = f"{time.time():.3f}"
    per_skill: Counter[str] = Counter()
    for i in range(0, len(rows), 2000):
        geo: dict[str, list[Any]] = {}
        async with r.pipeline(transaction=False) as pipe:
            for row in rows[i:i + 2000]:
                key = staff_index.hash_key(s, row["id"])
                pipe.hset(key, mapping={
                    "lat": row["home_lat"], "lon": row["home_lon"], "located_at": stamp,
                    "provider_id": row["provider_id"], "skills": ",".join(row["skills"]),
                    "on_shift": "1", "load": 0, "capacity": row["capacity"],
                    "rating": row["rating"], "last_assigned_at": "", "profile_at": stamp})
                pipe.expire(key, s.location_fresh_s)
                for skill in row["skills"]:
                    geo.setdefault(skill, []).extend((row["home_lon"], row["home_lat"],
                                                      str(row["id"])))
                    per_skill[skill] += 1
            for skill, values in geo.items():
                pipe.geoadd(staff_index.geo_key(s, skill), values)
            await pipe.execute()
    timings["redis_fill"] = time.monotonic() - t
    items = [(row["code"], row["skill_code"]) for row in await db.fetch(
        "SELECT code, skill_code FROM service_items WHERE active ORDER BY code")]
    return {"homes": homes, "items": items, "staff": len(rows), "per_skill": per_skill,
            "elders": len(homes)}


# ----------------------------------------------------------------------------- one run
async def wait_decided(db: asyncpg.Connection, lo: int, total: int, grace_s: float) -> int:
    """Poll until every order of the run is decided, or nothing moved for grace_s."""
    last, moved = -1, time.monotonic()
    while True:
        n = await db.fetchval("SELECT count(*) FROM orders WHERE id > $1"
                              " AND state IN ('offered', 'no_candidate')", lo)
        if n >= total:
            return int(n)
        if n != last:
            last, moved = n, time.monotonic()
        elif time.monotonic() - moved > grace_s:
            return int(n)
        await asyncio.sleep(0.05)


async def analyse(db: asyncpg.Connection, lo: int, outbox_lo: int) -> dict[str, Any]:
    """Latencies, throughput window and integrity checks of the orders with id > lo."""
    hi = await db.fetchval("SELECT coalesce(max(id), $1) FROM orders", lo)
    states = {r_["state"]: r_["n"] for r_ in await db.fetch(
        "SELECT state, count(*) AS n FROM orders WHERE id > $1 GROUP BY state", lo)}
    enq = {r_["id"]: r_["at"].timestamp() for r_ in await db.fetch(
        "SELECT (payload->>'order_id')::bigint AS id, created_at AS at FROM outbox"
        " WHERE id > $1 AND topic = 'dispatch' AND kind = 'order.queued'", outbox_lo)}
    decided = [(r_["id"], r_["kind"], r_["at"].timestamp()) for r_ in await db.fetch(
        "SELECT (payload->'order'->>'id')::bigint AS id, kind, created_at AS at FROM outbox"
        " WHERE id > $1 AND topic = 'live' AND kind IN ('order.offer', 'order.no_candidate')",
        outbox_lo)]
    created = {r_["id"]: r_["created_at"].timestamp() for r_ in await db.fetch(
        "SELECT id, created_at FROM orders WHERE id > $1", lo)}
    lat = [(at - enq[i]) * 1000 for i, kind, at in decided if kind == "order.offer" and i in enq]
    lat_nc = [(at - enq[i]) * 1000 for i, kind, at in decided
              if kind == "order.no_candidate" and i in enq]
    c2o = [(at - created[i]) * 1000 for i, kind, at in decided
           if kind == "order.offer" and i in created]
    doubles_live = await db.fetch(
        "SELECT o.id FROM offers f JOIN orders o ON o.id = f.order_id"
        " WHERE o.id > $1 AND f.state IN ('pending', 'accepted') GROUP BY o.id, o.kind"
        " HAVING count(*) > CASE WHEN o.kind = 'emergency_check' THEN 3 ELSE 1 END", lo)
    doubles_accepted = await db.fetch(
        "SELECT order_id FROM offers WHERE order_id > $1 AND state = 'accepted'"
        " GROUP BY order_id HAVING count(*) > 1", lo)
    doubles_decided = await db.fetch(  # offers live an hour here and nobody declines
        "SELECT entity_id FROM events WHERE entity_type = 'order' AND entity_id > $1"
        " AND payload->>'event' IN ('offer', 'no_candidate')"
        " GROUP BY entity_id HAVING count(*) > 1", lo)
    offered_without = await db.fetchval(
        "SELECT count(*) FROM orders o WHERE o.id > $1 AND o.state = 'offered' AND"
        " (SELECT count(*) FROM offers f WHERE f.order_id = o.id AND f.state = 'pending')"
        " <> CASE WHEN o.kind = 'emergency_check' THEN 3 ELSE 1 END", lo)
    busiest = await db.fetchrow(
        "SELECT count(DISTINCT staff_id) AS people, count(*) AS offers,"
        " (SELECT max(n) FROM (SELECT count(*) AS n FROM offers WHERE order_id > $1"
        "   AND state = 'pending' GROUP BY staff_id) x) AS most"
        " FROM offers WHERE order_id > $1", lo)
    ids = sorted(set(enq) | {i for i, _, _ in decided})
    return {
        "lo": lo, "hi": hi, "states": states, "lat": lat, "lat_nc": lat_nc, "c2o": c2o,
        "first_enqueue": min(enq.values()) if enq else float("nan"),
        "last_decision": max((at for _, _, at in decided), default=float("nan")),
        "offered": sum(1 for _, kind, _ in decided if kind == "order.offer"),
        "no_candidate": sum(1 for _, kind, _ in decided if kind == "order.no_candidate"),
        "doubles": len({r_[0] for r_ in [*doubles_live, *doubles_accepted, *doubles_decided]}),
        "doubles_detail": {"live_offers": len(doubles_live),
                           "accepted": len(doubles_accepted), "decided": len(doubles_decided),
                           "offered_state_mismatch": offered_without},
        "lost": sum(n for st, n in states.items() if st not in ("offered", "no_candidate")),
        "ids": len(ids), "people_offered": busiest["people"], "offers": busiest["offers"],
        "most_pending_on_one": busiest["most"] or 0,
    }


async def one_run(label: str, args: argparse.Namespace, s: Settings, db: asyncpg.Connection,
                  r: aioredis.Redis, world: dict[str, Any], dbname: str, admin_url: str,
                  profile: str, rng: random.Random) -> dict[str, Any]:
    rate = 0.0 if label == "max" else float(label)
    n = int(rate * args.seconds) if rate else (args.orders or int(TARGET_PER_S * args.seconds))
    homes, items = world["homes"], world["items"]
    jobs = [(i, rng.choice(homes)[0], rng.choice(items)[0]) for i in range(n)]
    lo = await db.fetchval("SELECT coalesce(max(id), 0) FROM orders")
    outbox_lo = await db.fetchval("SELECT coalesce(max(id), 0) FROM outbox")
    kids = Children()
    waits: Counter[str] = Counter()
    stop_waits = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    try:
        workers = [kids.spawn(worker_entry, s, f"bench-w{k}", profile if k == 0 else "",
                              name=f"worker{k}") for k in range(args.workers)]
        producers = [kids.spawn(producer_entry, s.database_url, jobs[k::args.producers], rate,
                                args.connections, name=f"producer{k}")
                     for k in range(args.producers)]
        wpids = await Children.ready([p for _, p in workers])
        ppids = await Children.ready([p for _, p in producers])
        groups = {"workers": wpids, "producers": ppids, "bench": [os.getpid()]}

        def sample() -> asyncio.Task[None]:
            return asyncio.create_task(sample_waits(with_database(admin_url, dbname), dbname,
                                                    waits, stop_waits, client="a worker"))

        create_cpu: dict[str, float] = {}
        create_wall = 0.0
        if rate:  # open loop: workers running, then the producers on their schedule
            sampler = sample()
            cpu0, t_go = cpu_sample(groups), time.time()
            for _, p in workers:
                p.send("go")
            t0 = time.time() + 0.2
            for _, p in producers:
                p.send(t0)
            made = await Children.results([p for _, p in producers])
        else:  # closed loop: create everything, then let the workers drain it
            create_cpu0, t0 = cpu_sample(groups), time.time()
            for _, p in producers:
                p.send(t0)
            made = await Children.results([p for _, p in producers])
            create_cpu = cpu_used(create_cpu0, cpu_sample(groups))
            create_wall = time.time() - t0
            sampler = sample()
            cpu0, t_go = cpu_sample(groups), time.time()
            for _, p in workers:
                p.send("go")
        created = sum(len(m["ids"]) for m in made)
        print(f"  run {label}: {created:,} orders created, waiting for the workers", flush=True)
        await wait_decided(db, lo, created, args.grace)
        t_end, cpu1 = time.time(), cpu_sample(groups)
        # the backends serving this run (other databases on a shared server are not ours)
        own_pids = {row["pid"] for row in await db.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1", dbname)}
        for _, p in producers:
            p.send("close")
        made_logs = await Children.results([p for _, p in producers])
        stop_waits.set()
        await sampler
        for _, p in workers:
            p.send("stop")
        done = await Children.results([p for _, p in workers])
    finally:
        if sampler is not None and not sampler.done():
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        kids.reap()
    a = await analyse(db, lo, outbox_lo)
    start = a["first_enqueue"] if rate else t_go
    window = max(a["last_decision"] - start, 1e-9)
    starts = [x for m in made for x in m["start"]]
    create_window = max((max(x for m in made for x in m["done"]) - min(starts)) if starts else 0,
                        1e-9)
    stream_left = stream_pending = 0
    for urgent in (True, False):
        key = redis_key(s, outbox.DISPATCH_STREAMS[urgent])
        stream_left += int(await r.xlen(key))
        stream_pending += int((await r.xpending(key, GROUP))["pending"])
        if not a["lost"]:  # only stale duplicates are left: the next run starts clean
            await r.xtrim(key, maxlen=0)
    decided = a["offered"] + a["no_candidate"]
    return {
        "label": label, "rate": rate or None, "orders": created,
        "create_errors": sum(m["errors"] for m in made),
        "create_first_error": next((m["first_error"] for m in made if m["first_error"]), ""),
        "created_per_s": created / create_window,
        "create_p50_ms": pct([(d - st) * 1000 for m in made
                              for st, d in zip(m["start"], m["done"], strict=True)], 0.5),
        "create_p99_ms": pct([(d - st) * 1000 for m in made
                              for st, d in zip(m["start"], m["done"], strict=True)], 0.99),
        "lag_p99_ms": pct([(st - sc) * 1000 for m in made
                           for st, sc in zip(m["start"], m["sched"], strict=True)], 0.99),
        "orders_per_s": decided / window, "offered_per_s": a["offered"] / window,
        "window_s": window, "offered": a["offered"], "no_candidate": a["no_candidate"],
        "p50_ms": pct(a["lat"], 0.5), "p99_ms": pct(a["lat"], 0.99),
        "max_ms": max(a["lat"]) if a["lat"] else float("nan"),
        "created_to_offer_p50_ms": pct(a["c2o"], 0.5),
        "created_to_offer_p99_ms": pct(a["c2o"], 0.99),
        "no_candidate_p50_ms": pct(a["lat_nc"], 0.5),
        "doubles": a["doubles"], "doubles_detail": a["doubles_detail"], "lost": a["lost"],
        "states": a["states"], "stream_left": stream_left, "stream_pending": stream_pending,
        "handled": {d["name"]: d["handled"] for d in done},
        "duplicates_skipped": sum(d["handled"] for d in done) - decided,
        "worker_warnings": sum(d.get("warnings", 0) for d in done),
        "producer_warnings": sum(m.get("warnings", 0) for m in made_logs),
        "first_warnings": [w for d in [*done, *made_logs]
                           for w in d.get("first_warnings", [])][:3],
        "people_offered": a["people_offered"], "offers": a["offers"],
        "most_pending_on_one": a["most_pending_on_one"],
        "cpu_wall_s": t_end - t_go,
        "cpu": cpu_used(cpu0, cpu1),
        "cpu_postgres_own": sum(v - cpu0["postgres"].get(pid, 0.0)
                                for pid, v in cpu1["postgres"].items() if pid in own_pids),
        "cpu_workers_own": sum(d["cpu_s"] for d in done),
        "create_cpu": create_cpu, "create_wall_s": create_wall,
        "waits": dict(waits.most_common(10)),
        "round_trips": next((d["round_trips"] for d in done if d.get("round_trips")), {}),
        "profile_handled": done[0]["handled"] if done else 0,
    }


async def baseline(s: Settings, args: argparse.Namespace, world: dict[str, Any],
                   rng: random.Random, mode: str) -> dict[str, Any]:
    homes, items = world["homes"], world["items"]
    points = []
    for _ in range(20000):
        _, lat, lon, radius, _ = rng.choice(homes)
        points.append((rng.choice(items)[1], lat, lon, radius))
    kids = Children()
    try:
        procs = [kids.spawn(geo_entry, s, points, args.baseline_seconds,
                            args.baseline_concurrency, mode, name=f"{mode}{k}")
                 for k in range(args.workers)]
        pids = await Children.ready([p for _, p in procs])
        cpu0, t0 = cpu_sample({"clients": pids}), time.time() + 0.2
        for _, p in procs:
            p.send(t0)
        res = await Children.results([p for _, p in procs])
        cpu1 = cpu_sample({"clients": pids})
    finally:
        kids.reap()
    calls = sum(x["calls"] for x in res)
    seconds = max(x["seconds"] for x in res)
    return {"mode": mode, "calls": calls, "per_s": calls / seconds,
            "found_avg": sum(x["found"] for x in res) / max(calls, 1),
            "cpu": cpu_used(cpu0, cpu1),
            "seconds": seconds}


# ----------------------------------------------------------------------------- report
def print_runs(runs: list[dict[str, Any]], base: dict[str, Any], search: dict[str, Any],
               args: argparse.Namespace, world: dict[str, Any]) -> None:
    print(f"\ndispatch: {world['staff']:,} staff on shift, {world['elders']:,} located elders, "
          f"{args.workers} worker process(es), {args.producers} producer process(es) × "
          f"{args.connections} connections, {os.cpu_count()} CPUs; times in ms")
    head = (f"{'run':>5} {'orders':>6} {'made/s':>7} {'lag99':>6} | {'orders/s':>8} "
            f"{'offer/s':>7} {'no_cand':>7} {'e→o p50':>7} {'p99':>7} {'max':>7} "
            f"{'c→o p99':>7} | {'double':>6} {'lost':>4} | {'geo/s':>7} {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for x in runs:
        print(f"{x['label']:>5} {x['orders']:>6} {fmt(x['created_per_s'], 0):>7} "
              f"{fmt(x['lag_p99_ms'], 0):>6} | {fmt(x['orders_per_s'], 0):>8} "
              f"{fmt(x['offered_per_s'], 0):>7} {x['no_candidate']:>7} {fmt(x['p50_ms']):>7} "
              f"{fmt(x['p99_ms']):>7} {fmt(x['max_ms'], 0):>7} "
              f"{fmt(x['created_to_offer_p99_ms']):>7} | {x['doubles']:>6} {x['lost']:>4} | "
              f"{fmt(base['per_s'], 0):>7} {x['ratio']:>6.3f}")
    print(f"\nbaseline, {args.workers} process(es) × {args.baseline_concurrency} in flight, "
          f"{base['seconds']:.1f} s each: raw GEOSEARCH {base['per_s']:,.0f}/s "
          f"({base['found_avg']:.1f} members per answer); staff_index.search (GEOSEARCH + "
          f"HMGET pipeline + parsing) {search['per_s']:,.0f}/s")
    print("\nCPU cores busy during each run (CPU s / wall s, workers' start to the last decision; "
          "a rate run includes creating the orders, a max run shows that separately):")
    groups = ["workers", "producers", "postgres", "redis", "bench"]
    print(f"{'run':>5} " + " ".join(f"{g:>9}" for g in groups) + f" {'others':>7} "
          f"{'machine':>7} | CPU ms per order: workers postgres (this database's backends)")
    for x in runs:
        wall = max(x["cpu_wall_s"], 1e-9)
        used = [x["cpu"].get(g, 0.0) / wall for g in groups]
        machine = x["cpu"].get("machine", 0.0) / wall
        per = [1000 * x["cpu"].get("workers", 0.0) / max(x["orders"], 1),
               1000 * x["cpu"].get("postgres", 0.0) / max(x["orders"], 1),
               1000 * x["cpu_postgres_own"] / max(x["orders"], 1)]
        print(f"{x['label']:>5} " + " ".join(f"{u:>9.2f}" for u in used)
              + f" {machine - sum(used):>7.2f} {machine:>7.2f} | {per[0]:>7.2f} {per[1]:>8.2f}"
              f" ({per[2]:.2f}), redis {1000 * x['cpu'].get('redis', 0.0) / max(x['orders'], 1):.2f}")
    for x in runs:
        if x["create_cpu"]:
            wall = max(x["create_wall_s"], 1e-9)
            print(f"{x['label']:>5} creating the orders first (workers idle): " + ", ".join(
                f"{g} {x['create_cpu'].get(g, 0.0) / wall:.2f}" for g in [*groups, "machine"])
                + " cores; CPU ms per order: producers "
                f"{1000 * x['create_cpu'].get('producers', 0.0) / max(x['orders'], 1):.2f}, "
                f"postgres {1000 * x['create_cpu'].get('postgres', 0.0) / max(x['orders'], 1):.2f}")
    for x in runs:
        print(f"\nrun {x['label']}: states {x['states']}; entries handled per worker "
              f"{x['handled']} (duplicate entries, skipped: {x['duplicates_skipped']}); "
              f"dispatch stream entries left {x['stream_left']} (pending "
              f"{x['stream_pending']}); create p50/p99 {fmt(x['create_p50_ms'])}/"
              f"{fmt(x['create_p99_ms'])} ms, errors {x['create_errors']} "
              f"{x['create_first_error']}; e→no_candidate p50 {fmt(x['no_candidate_p50_ms'])} ms;"
              f" {x['offers']:,} offers went to {x['people_offered']:,} people (most pending "
              f"on one person: {x['most_pending_on_one']}); doubles {x['doubles_detail']}; "
              f"warnings logged: workers {x['worker_warnings']}, producers "
              f"{x['producer_warnings']}")
        for w in x["first_warnings"]:
            print(f"    {w[:400]}")
        total = sum(x["waits"].values()) or 1
        print("  PostgreSQL client backends of the scratch database (sampled every 20 ms):")
        for key, n in x["waits"].items():
            print(f"    {100 * n / total:5.1f}%  {key}")
    print("\norders/s: orders decided (offered + no_candidate) per second, first enqueue (rate) "
          "or workers' start (max) to the last decision; made/s: orders created per second; "
          "lag99: how late the producer started an order (p99); e→o: dispatch outbox row "
          "(end of the creating transaction) → order.offer outbox row (end of the worker's "
          "transaction), PostgreSQL clock; c→o: the order's created_at (start of orders.create) "
          "→ the same; ratio: orders/s ÷ raw GEOSEARCH/s.")


def print_profile(path: str, run: dict[str, Any], top: int) -> None:
    if not Path(path).exists():
        print(f"(no profile written at {path})")
        return
    handled = max(run["profile_handled"], 1)
    print(f"\n=== worker 0 of run {run['label']} under cProfile (CPU time): "
          f"{run['profile_handled']} entries handled (the profiler slows it down) ===")
    trips = Counter(run["round_trips"])
    pg = sum(n for k, n in trips.items() if k.startswith("pg"))
    rd = sum(n for k, n in trips.items() if k.startswith("redis"))
    print(f"round trips per order handled: PostgreSQL {pg / handled:.1f}, Redis {rd / handled:.1f}"
          " (relay, timers and idle polls included); by statement:")
    for key, n in trips.most_common(top):
        print(f"  {n / handled:6.2f}  {key}")
    stats = pstats.Stats(path)
    stats.strip_dirs().sort_stats("tottime")
    print(f"\ncProfile, top {top} by own time:")
    stats.print_stats(top)
    stats.sort_stats("cumulative")
    print(f"cProfile, top {top} by cumulative time (dispatch/ and callcenter/ only):")
    stats.print_stats(r"engine|orders|staff_index|matching|outbox|worker|offers", top)


# ----------------------------------------------------------------------------- main
def revision() -> str:
    """The commit measured, `+dirty` when dispatch/ or callcenter/ differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "dispatch", "callcenter"],
                               cwd=ROOT, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


async def bench(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    name = f"anxin_bench_dispatch_{os.getpid()}"
    db_url = with_database(admin_url, name)
    prefix = f"anxin-bench:{uuid.uuid4().hex[:10]}:"
    s = load_settings(environ={}, database_url=db_url, redis_url=redis_url, redis_prefix=prefix,
                      location_fresh_s=ORDER_FRESH_S, offer_s=ORDER_FRESH_S,
                      log_level="WARNING", secret_key="bench")
    tmp = Path(tempfile.mkdtemp(prefix="anxin-bench-dispatch-"))
    rev = revision()
    r = new_redis(redis_url)
    admin = await asyncpg.connect(admin_url)
    db: asyncpg.Connection | None = None
    failed = False
    try:
        timings: dict[str, float] = {}
        t = time.monotonic()
        await admin.execute(f'CREATE DATABASE "{name}"')
        db = await asyncpg.connect(db_url)
        await migrate(db)
        timings["database"] = time.monotonic() - t
        world = await build_world(db, r, s, args, timings)
        pool = await new_pool(db_url, 2)
        try:  # the dispatch streams' group and epoch, as a running worker leaves them
            await Worker(pool, r, s, name="bench-setup").recover_if_lost()
        finally:
            await pool.close()
        pg = {row["name"]: row["setting"] for row in await db.fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync',"
            " 'shared_buffers', 'max_connections')")}
        print(f"code {rev}; scratch database {name}, Redis prefix {prefix!r}: "
              f"{world['staff']:,} staff "
              f"({len(world['per_skill'])} skills, {min(world['per_skill'].values()):,}-"
              f"{max(world['per_skill'].values()):,} per GEO set), {world['elders']:,} elders, "
              f"{len(world['items'])} items; set-up " + ", ".join(
                  f"{k} {v:.1f} s" for k, v in timings.items()) + f"; PostgreSQL {pg}",
              flush=True)
        rng = random.Random(args.seed + 1)
        runs = []
        for n, label in enumerate(args.rate.split(",")):
            profile = str(tmp / f"worker0-{n}.prof") if args.profile else ""
            run = await one_run(label.strip(), args, s, db, r, world, name, admin_url, profile,
                                rng)
            run["profile"] = profile
            runs.append(run)
            print(f"  run {label}: {run['orders_per_s']:,.0f} orders/s, e→o p50/p99 "
                  f"{fmt(run['p50_ms'])}/{fmt(run['p99_ms'])} ms, doubles {run['doubles']}, "
                  f"lost {run['lost']}", flush=True)
        base = await baseline(s, args, world, rng, "geosearch")
        search = await baseline(s, args, world, rng, "search")
        for run in runs:
            run["ratio"] = run["orders_per_s"] / base["per_s"] if base["per_s"] else float("nan")
        print_runs(runs, base, search, args, world)
        for run in runs:
            if run["profile"]:
                print_profile(run["profile"], run, args.profile_top)
        failed = any(run["doubles"] or run["lost"] for run in runs)
        if args.json:
            first = runs[0]
            result = {
                "orders_per_s": first["orders_per_s"], "offered_per_s": first["offered_per_s"],
                "p50_ms": first["p50_ms"], "p99_ms": first["p99_ms"],
                "doubles": sum(x["doubles"] for x in runs), "lost": sum(x["lost"] for x in runs),
                "baseline_per_s": base["per_s"], "ratio": first["ratio"],
                "search_per_s": search["per_s"], "staff": world["staff"],
                "elders": world["elders"], "workers": args.workers,
                "producers": args.producers, "rate": first["rate"], "target_per_s": TARGET_PER_S,
                "cpus": os.cpu_count(), "setup_s": timings, "postgres": pg, "code": rev,
                "runs": [{k: v for k, v in x.items() if k not in ("round_trips",)}
                         for x in runs],
                "ok": not failed,
            }
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=1, default=str,
                                                  ensure_ascii=False))
            print(f"\nresults written to {args.json}")
        if failed:
            print("\nINTEGRITY CHECK FAILED: doubles or lost orders (see above)")
    finally:
        if db is not None:
            await db.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
        for i in range(0, len(keys), 5000):
            await r.delete(*keys[i:i + 5000])
        await r.aclose()
        print(f"cleaned up: dropped {name}, deleted {len(keys):,} Redis keys under {prefix}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", default=None,
                        help="orders/s per run, comma-separated; 'max' = closed loop "
                             "(default 1000)")
    parser.add_argument("--seconds", type=float, default=None, help="per run (default 10)")
    parser.add_argument("--orders", type=int, default=0,
                        help="orders of a 'max' run (default 1000 × seconds)")
    parser.add_argument("--staff", type=int, default=None, help="default 100,000")
    parser.add_argument("--elders", type=int, default=None, help="default 20,000")
    parser.add_argument("--workers", type=int, default=2, help="dispatch worker processes")
    parser.add_argument("--producers", type=int, default=1, help="order-creating processes")
    parser.add_argument("--connections", type=int, default=16, help="pool of each producer")
    parser.add_argument("--grace", type=float, default=15.0,
                        help="end a run when no order was decided for this long (s)")
    parser.add_argument("--baseline-seconds", type=float, default=None)
    parser.add_argument("--baseline-concurrency", type=int,
                        default=getattr(worker_module, "CONCURRENCY", 1),
                        help="calls in flight per baseline process (default: as many orders as "
                             "a worker handles at once)")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 staff, 5,000 elders, 3 s: under a minute")
    parser.add_argument("--profile", action="store_true", help="cProfile worker 0")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--seed", type=int, default=12349)
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args()
    defaults = ({"rate": "1000", "seconds": 3.0, "staff": 10_000, "elders": 5_000,
                 "baseline_seconds": 2.0} if args.quick else
                {"rate": "1000", "seconds": 10.0, "staff": 100_000, "elders": 20_000,
                 "baseline_seconds": 5.0})
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    run_main(bench(args))


if __name__ == "__main__":
    main()
