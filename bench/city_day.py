"""A city day (SPEC §7-8): the simulator replays a Weihai day — ~3,500 calls, the alarms, the
orders, the bracelets' heartbeats and locations — compressed to minutes, against real processes:
two `callcenter serve` and two `callcenter worker` on a scratch database seeded with the demo
city. Prints the wall time, each process's peak CPU and memory (RSS), and checks that every
call, alarm and order reached its final state (exit status 1 if not; speed is not asserted).

Calls, alarms and orders are replayed at full volume. The bracelets' heartbeats and locations
are a sample: the whole city's 40,000 bracelets send about 67 events/s in real time, which ×288
would be ~19,000/s, beyond what one small machine ingests; by default enough bracelets are
simulated to send about 125 events/s (`--device-rate`, or `--bracelets N`), from a separate
simulator process (`--device-procs`). The sample and the whole city's real-time rate are printed
and recorded. The simulator spreads its requests over all web processes.

    .venv/bin/python bench/city_day.py                 # the whole day in about 5 minutes
    .venv/bin/python bench/city_day.py --quick         # one city hour in about 30 s
    .venv/bin/python bench/city_day.py --json var/city_day.json

Uses DATABASE_URL's server (default postgresql://postgres@127.0.0.1:5432/test) for a scratch
database and REDIS_URL (default redis://127.0.0.1:6379/0) under a unique key prefix; both are
removed at the end, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_scratch, run_main, with_database  # noqa: E402
from bench.procs import Proc, start, stop_all, wait_healthy  # noqa: E402
from callcenter.embedded import free_port  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import seed_city  # noqa: E402
from callcenter.sim_plan import (  # noqa: E402
    Rates,
    bracelets_for_rate,
    device_events_per_day,
)
from callcenter.sim_run import simulate  # noqa: E402

DAY_S = 86400
CITY_BRACELETS = 40_000  # Weihai's bracelets: the whole city's periodic events, for scale
TOKEN = "bench-city-day-token"


class Sampler:
    """Peak RSS (MB) and CPU (cores, over 1 s windows) of each named process, sampled."""

    def __init__(self, procs: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in procs.items()}
        self.peak_rss_mb = dict.fromkeys(self.procs, 0.0)
        self.peak_cpu = dict.fromkeys(self.procs, 0.0)
        self.last: dict[str, tuple[float, float]] = {}

    def add(self, procs: dict[str, int]) -> None:
        """More processes to watch (the simulator's device senders, once started)."""
        for name, pid in procs.items():
            self.procs[name] = psutil.Process(pid)
            self.peak_rss_mb.setdefault(name, 0.0)
            self.peak_cpu.setdefault(name, 0.0)

    def sample(self) -> None:
        now = time.monotonic()
        for name, p in list(self.procs.items()):
            try:
                rss = p.memory_info().rss / 2**20
                cpu = sum(p.cpu_times()[:2])
            except psutil.Error:
                continue
            self.peak_rss_mb[name] = max(self.peak_rss_mb[name], rss)
            if name in self.last:
                t0, c0 = self.last[name]
                if now - t0 >= 1.0:
                    self.peak_cpu[name] = max(self.peak_cpu[name], (cpu - c0) / (now - t0))
                    self.last[name] = (now, cpu)
            else:
                self.last[name] = (now, cpu)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            await asyncio.sleep(0.25)


async def bench(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    name = f"anxin_bench_day_{os.getpid()}"
    prefix = f"anxin-bench:{uuid.uuid4().hex[:10]}:"
    db_url = with_database(admin_url, name)
    logs = ROOT / "bench" / "out" / "city_day"
    logs.mkdir(parents=True, exist_ok=True)
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    procs: list[Proc] = []
    status = 1
    try:
        conn = await asyncpg.connect(db_url)
        started = time.monotonic()
        await migrate(conn)
        await seed_city(conn, elders=args.elders, seed=args.seed, demo_password="anxin12349")
        seeded = int(await conn.fetchval(
            "SELECT count(*) FROM devices d JOIN elders e ON e.id = d.elder_id WHERE d.kind ="
            " 'bracelet' AND d.status = 'active' AND e.status = 'active'"))
        await conn.close()
        print(f"seeded {args.elders} elders ({seeded} bracelets) in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url,
               "ANXIN_REDIS_PREFIX": prefix, "ANXIN_SECRET_KEY": "b" * 40,
               "ANXIN_CTI_TOKEN": TOKEN, "ANXIN_LOG_LEVEL": "WARNING"}
        for old in logs.glob("*.log"):
            old.unlink()
        cli = [sys.executable, "-m", "callcenter"]
        webs = [start(f"web{i}", [*cli, "serve"], env, free_port(), logs)
                for i in range(args.web)]
        procs += webs
        procs += [start(f"worker{i}", [*cli, "worker", "--name", f"day{i}"], env, free_port(),
                        logs) for i in range(args.workers)]
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(wait_healthy(http, p) for p in webs))
        bases = [p.base for p in webs]
        sampler = Sampler({**{p.name: p.popen.pid for p in procs}, "simulator": os.getpid()})
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop))
        city_s = args.city_hours * 3600
        speed = city_s / args.minutes / 60
        rates = Rates(calls_per_day=args.calls_per_day)
        sample = args.bracelets if args.bracelets is not None else min(
            seeded, bracelets_for_rate(rates, speed, args.device_rate))
        rates = Rates(calls_per_day=args.calls_per_day, bracelets=sample)
        per_day = device_events_per_day(rates)
        sample_per_s = sample * per_day * speed / DAY_S
        city_per_s = CITY_BRACELETS * per_day / DAY_S
        print(f"simulating {args.city_hours:g} city hours at ×{speed:.0f} "
              f"({args.minutes:g} min), {args.calls_per_day:g} calls a day, over {len(bases)} "
              f"web processes, {args.device_procs} device sender process(es)", flush=True)
        print(f"bracelets: a sample of {sample} of {seeded} seeded ≈ {sample_per_s:.0f} "
              f"events/s at ×{speed:.0f}; the whole city, {CITY_BRACELETS:,} bracelets ≈ "
              f"{city_per_s:.0f} events/s real time", flush=True)
        result = await simulate(
            base_url=bases, database_url=db_url, cti_token=TOKEN, seed=args.seed,
            speed=speed, duration_s=args.minutes * 60, rates=rates,
            operators=args.operators, staff=args.staff, drain_s=args.drain,
            device_procs=args.device_procs, on_clients=sampler.add)
        stop.set()
        await sampling
        out = {"wall_s": result["wall_s"], "city_s": result.get("city_s"),
               "speed": round(speed, 1), "calls": result["calls"], "alarms": result["alarms"],
               "orders": result["orders"], "unfinished": len(result["unfinished"]),
               "unfinished_items": result["unfinished"][:50],
               "server_errors": result["server_errors"], "ok": result["ok"],
               "client_errors": result["client_errors"],
               "requests_by_base": result["requests_by_base"],
               "planned": result["planned"], "requests": result["requests"],
               "simulator_behind_s": result["behind_s"],
               "bracelets": {"sample": sample, "seeded": seeded,
                             "sample_events_per_s": round(sample_per_s, 1),
                             "city_bracelets": CITY_BRACELETS,
                             "city_events_per_s_real_time": round(city_per_s, 1)},
               "web_processes": len(bases), "device_procs": args.device_procs,
               "peak_rss_mb": round(max(sampler.peak_rss_mb.values()), 1),
               "processes": {n: {"peak_rss_mb": round(sampler.peak_rss_mb[n], 1),
                                 "peak_cpu_cores": round(sampler.peak_cpu[n], 2)}
                             for n in sampler.procs},
               "order_states": result.get("order_states"), "elders": args.elders}
        print("\nprocess         peak RSS MB  peak CPU (cores, 1 s windows)")
        for n, figures in out["processes"].items():
            print(f"{n:<15} {figures['peak_rss_mb']:>11.1f}  {figures['peak_cpu_cores']:>5.2f}")
        print(f"\ncity day: {out['wall_s']} s wall, calls {out['calls']}, alarms {out['alarms']}, "
              f"orders {out['orders']}, unfinished {out['unfinished']}, 5xx "
              f"{out['server_errors']}: {'ok' if out['ok'] else 'INTEGRITY CHECK FAILED'}")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
            print(f"results written to {args.json}")
        status = 0 if result["ok"] else 1
    finally:
        stop_all(procs)
        keys = await drop_scratch(admin, name, redis_url, prefix)
        print(f"cleaned up: dropped {name}, deleted {keys} Redis keys")
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elders", type=int, default=20000)
    parser.add_argument("--city-hours", type=float, default=24.0, help="how much of a day")
    parser.add_argument("--minutes", type=float, default=5.0, help="wall minutes for it")
    parser.add_argument("--calls-per-day", type=float, default=3500.0)
    parser.add_argument("--bracelets", type=int, default=None,
                        help="simulated bracelets (default: a sample sending --device-rate)")
    parser.add_argument("--device-rate", type=float, default=125.0,
                        help="bracelet events per wall second the default sample sends")
    parser.add_argument("--device-procs", type=int, default=1,
                        help="extra simulator processes sending the bracelets' events")
    parser.add_argument("--operators", type=int, default=8)
    parser.add_argument("--staff", type=int, default=60)
    parser.add_argument("--web", type=int, default=2, help="web processes")
    parser.add_argument("--workers", type=int, default=2, help="dispatch worker processes")
    parser.add_argument("--drain", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=12349)
    parser.add_argument("--quick", action="store_true",
                        help="2,000 elders, an hour of the city in 20 s")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.elders, args.city_hours, args.minutes = 2000, 1.0, 1 / 3
        args.operators, args.staff, args.drain = 4, 20, 30.0
    run_main(bench(args))


if __name__ == "__main__":
    main()
