"""Alarm ingest benchmark (issue 3; SPEC §7: ≥ 2,000 events/s on 2 cores, p99 device→console
< 50 ms), against a bare aiohttp JSON POST handler as the baseline, in the same run.

    .venv/bin/python bench/alarm_ingest.py --rates 500,1000,2000 --seconds 10 --consoles 50

Creates a scratch database on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test) and a unique Redis key prefix on REDIS_URL (default
redis://127.0.0.1:6379/0), migrates, seeds a small Weihai (2,000 elders), starts `--processes`
× `python -m callcenter serve` (background tasks on; escalation pushed out of the way with
ANXIN_ALARM_OFFER_S=600 ANXIN_ALARM_CITY_S=1200) and as many bare baseline servers, and
connects `--consoles` console websockets (the city operator `operator`) spread over our servers.

For each rate a loader PROCESS fires signed device events (sos/fall/smoke over the seeded
devices, keep-alive connection pool, spread over the servers) on a fixed schedule (open loop; a
rate of `max` is a closed loop of `--concurrency` workers), then the same schedule against the
baseline. Measured: accepted events/s, HTTP p50/p99 (just before the POST → answer), device→
console p50/p99 (just before the POST → a console's receipt of the matching alarm.new, matched
by the alarm_id of the 202 answer; over every console × alarm), and the lost count: alarms
answered 202 that some console had not received 5 s after the run (must be 0). An elder's repeated
SOS within two minutes joins the open alarm (SPEC §4.2 merge): such events are counted as
"merged", not new. CPU seconds per process group show where the time goes; --profile runs the
first server under cProfile and prints its top functions. The scratch database is dropped at the
end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_scratch, fmt, pct, with_database  # noqa: E402
from bench.procs import Proc, print_profile, sample_waits, start, stop_all, wait_healthy  # noqa: E402
from callcenter.device_events import sign  # noqa: E402
from callcenter.embedded import free_port  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import seed_city  # noqa: E402

DEMO_PASSWORD = "anxin12349"
SETTLE_S = 5.0  # how long after a run an alarm may take to reach every console
TZ = dt.timezone(dt.timedelta(hours=8))
NEW_ALARM = re.compile(r'\{"seq": "([0-9-]+)", "type": "alarm\.new", "region": "[^"]*", '
                       r'"data": \{"alarm": \{"id": (\d+)')




# ----------------------------------------------------------------------------- baseline server
def baseline_server(port: int) -> None:
    """The baseline: parse the JSON body, answer 202. Nothing else."""
    async def event(request: web.Request) -> web.Response:
        data = await request.json()
        return web.json_response({"event_id": data["event_id"], "alarm_id": None,
                                  "duplicate": False}, status=202)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/devices/{serial}/events", event)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ----------------------------------------------------------------------------- loader process
@dataclass
class LoadSpec:
    targets: list[str]
    devices: list[tuple[str, str]]  # serial, secret
    types: list[str]
    rate: float  # 0: closed loop
    seconds: float
    concurrency: int
    connections: int
    tag: str


@dataclass
class LoadResult:
    sched: list[float] = field(default_factory=list)
    sent: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    alarm: list[int] = field(default_factory=list)
    cpu_s: float = 0.0


def loader_entry(conn: Any, spec: LoadSpec) -> None:
    started = time.process_time()
    result = asyncio.run(fire(spec))
    result.cpu_s = time.process_time() - started
    conn.send(result)
    conn.close()


async def fire(spec: LoadSpec) -> LoadResult:
    out = LoadResult()
    rng = random.Random(spec.tag)
    connector = aiohttp.TCPConnector(limit=spec.connections, limit_per_host=spec.connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        async def one(i: int, sched: float) -> None:
            serial, secret = spec.devices[i % len(spec.devices)]
            stamp = time.time()
            body = json.dumps({
                "event_id": f"{spec.tag}-{i}", "type": rng.choice(spec.types),
                "occurred_at": dt.datetime.now(TZ).isoformat(timespec="seconds"),
                "extra": {"sent_at": stamp}}).encode()
            headers = {"X-Anxin-Timestamp": str(int(stamp)), "Content-Type": "application/json",
                       "X-Anxin-Signature": sign(secret, int(stamp), body)}
            url = f"{spec.targets[i % len(spec.targets)]}/api/v1/devices/{serial}/events"
            sent = time.monotonic()
            try:
                async with http.post(url, data=body, headers=headers) as resp:
                    answer = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status, answer = 0, b""
            done = time.monotonic()
            alarm = -1
            if status == 202:
                alarm_id = json.loads(answer).get("alarm_id")
                alarm = -1 if alarm_id is None else int(alarm_id)
            out.sched.append(sched)
            out.sent.append(sent)
            out.done.append(done)
            out.status.append(status)
            out.alarm.append(alarm)

        t0 = time.monotonic() + 0.05
        if spec.rate > 0:
            tasks = []
            for i in range(int(spec.rate * spec.seconds)):
                sched = t0 + i / spec.rate
                delay = sched - time.monotonic()
                if delay > 0.001:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, sched)))
            await asyncio.gather(*tasks)
        else:
            counter = iter(range(10**9))
            end = t0 + spec.seconds

            async def worker() -> None:
                while time.monotonic() < end:
                    await one(next(counter), time.monotonic())

            await asyncio.gather(*(worker() for _ in range(spec.concurrency)))
    return out


def run_loader(spec: LoadSpec) -> LoadResult:
    """Blocking: the loader in its own process (spawned, so it has its own interpreter)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=loader_entry, args=(child, spec), name="loader")
    proc.start()
    child.close()
    result: LoadResult = parent.recv()
    proc.join()
    return result


# ----------------------------------------------------------------------------- consoles
@dataclass
class ConsoleStats:
    received: dict[int, float] = field(default_factory=dict)  # alarm id -> first receipt
    duplicates: int = 0
    out_of_order: int = 0
    reconnects: int = 0
    resnapshots: int = 0
    last_seq: str = ""


def seq_key(seq: str) -> tuple[int, int]:
    ms, _, n = seq.partition("-")
    return int(ms), int(n or 0)


async def console(http: aiohttp.ClientSession, base: str, cookie: str, stats: ConsoleStats,
                  ready: asyncio.Event, stop: asyncio.Event) -> None:
    """One console: snapshot, then alarm.new receipts; reconnects with ?last_seq= if dropped."""
    first = True
    while not stop.is_set():
        url = "ws" + base.removeprefix("http") + "/ws/console"
        if stats.last_seq:
            url += f"?last_seq={stats.last_seq}"
        try:
            async with http.ws_connect(url, headers={"Cookie": f"anxin_session={cookie}"},
                                       heartbeat=None, max_msg_size=0) as ws:
                async for msg in ws:
                    now = time.monotonic()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    text: str = msg.data
                    m = NEW_ALARM.match(text)  # the hot path: no full JSON parse
                    if m:
                        seq, alarm_id = m.group(1), int(m.group(2))
                    else:
                        data = json.loads(text)
                        seq, kind = data.get("seq", ""), data.get("type")
                        if kind == "snapshot":
                            if not first:
                                stats.resnapshots += 1
                            for card in data["data"]["alarms"]:
                                stats.received.setdefault(card["id"], now)
                            stats.last_seq = seq
                            first = False
                            ready.set()
                            continue
                        alarm_id = data["data"]["alarm"]["id"] if kind == "alarm.new" else -1
                    if alarm_id >= 0:
                        if alarm_id in stats.received:
                            stats.duplicates += 1
                        else:
                            stats.received[alarm_id] = now
                    if seq:
                        if stats.last_seq and seq_key(seq) <= seq_key(stats.last_seq):
                            stats.out_of_order += 1
                        stats.last_seq = seq
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.1)
        if not stop.is_set():
            stats.reconnects += 1


# ----------------------------------------------------------------------------- processes
class CpuMeter:
    """CPU seconds used per process group between two samples (psutil)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def _pids(self) -> dict[str, list[int]]:
        found = {name: list(pids) for name, pids in self.groups.items()}
        found["postgres"], found["redis"] = [], []
        for p in psutil.process_iter(["name"]):
            if p.info["name"] == "postgres":
                found["postgres"].append(p.pid)
            elif (p.info["name"] or "").startswith("redis-server"):
                found["redis"].append(p.pid)
        return found

    def sample(self) -> dict[str, dict[int, float]]:
        t = psutil.cpu_times()
        out: dict[str, dict[int, float]] = {"machine": {0: sum(t) - t.idle - t.iowait}}
        for name, pids in self._pids().items():
            out[name] = {}
            for pid in pids:
                try:
                    t = psutil.Process(pid).cpu_times()
                    out[name][pid] = t.user + t.system
                except psutil.Error:
                    pass
        return out

    @staticmethod
    def used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
             ) -> dict[str, float]:
        return {name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
                for name, pids in after.items()}


# ----------------------------------------------------------------------------- one run
@dataclass
class Row:
    label: str
    offered: int
    accepted: int
    errors: int
    per_s: float
    http_p50: float
    http_p99: float
    late_p99: float
    new: int = 0
    merged: int = 0
    dc_p50: float = float("nan")
    dc_p99: float = float("nan")
    dc_max: float = float("nan")
    lost: int = 0
    missing: int = 0
    dups: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # answers other than 202
    waits: dict[str, int] = field(default_factory=dict)  # sampled PostgreSQL backend states
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group
    cpu_wall_s: float = 0.0  # the wall time those CPU seconds were measured over
    wall_s: float = 0.0


def summarise(label: str, r: LoadResult) -> Row:
    ok = [i for i, s in enumerate(r.status) if s == 202]
    start_t = min(r.sched) if r.sched else 0.0
    end_t = max(r.done) if r.done else 0.0
    wall = max(end_t - start_t, 1e-9)
    statuses: dict[int, int] = {}
    for st in r.status:
        if st != 202:
            statuses[st] = statuses.get(st, 0) + 1
    return Row(label, len(r.status), len(ok), len(r.status) - len(ok), len(ok) / wall,
               pct([(r.done[i] - r.sent[i]) * 1000 for i in ok], 0.5),
               pct([(r.done[i] - r.sent[i]) * 1000 for i in ok], 0.99),
               pct([(r.sent[i] - r.sched[i]) * 1000 for i in range(len(r.sent))], 0.99),
               statuses=statuses, wall_s=wall)


async def measure_ours(label: str, spec: LoadSpec, consoles: list[ConsoleStats],
                       seen_before: set[int], meter: CpuMeter, db: asyncpg.Connection,
                       db_url: str, dbname: str) -> tuple[Row, set[int]]:
    for c in consoles:
        c.received.clear()
        c.duplicates = c.out_of_order = 0
    before, cpu0, t0 = meter.sample(), time.process_time(), time.monotonic()
    waits: dict[str, int] = {}
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_waits(db_url, dbname, waits, stop_sampling))
    try:
        result = await asyncio.to_thread(run_loader, spec)
    finally:
        stop_sampling.set()
        await sampler
    row = summarise(label, result)
    row.waits = waits
    first_send: dict[int, float] = {}
    for alarm_id, sent, status in zip(result.alarm, result.sent, result.status, strict=True):
        if status == 202 and alarm_id >= 0 and alarm_id not in seen_before:
            first_send[alarm_id] = min(sent, first_send.get(alarm_id, sent))
    row.new = len(first_send)
    row.merged = row.accepted - row.new
    expected = set(first_send)
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and not all(expected <= c.received.keys()
                                                  for c in consoles):
        await asyncio.sleep(0.02)
    after = meter.sample()
    row.cpu = CpuMeter.used(before, after)
    row.cpu["loader"] = result.cpu_s
    row.cpu["consoles"] = time.process_time() - cpu0
    row.cpu_wall_s = time.monotonic() - t0
    lat = [(c.received[a] - first_send[a]) * 1000 for c in consoles for a in expected
           if a in c.received]
    row.dc_p50, row.dc_p99 = pct(lat, 0.5), pct(lat, 0.99)
    row.dc_max = max(lat) if lat else float("nan")
    row.lost = sum(1 for a in expected if any(a not in c.received for c in consoles))
    row.missing = sum(1 for c in consoles for a in expected if a not in c.received)
    row.dups = sum(c.duplicates + c.out_of_order for c in consoles)
    while await db.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
        await asyncio.sleep(0.1)  # the next run starts with an empty outbox
    return row, seen_before | expected


async def measure_baseline(label: str, spec: LoadSpec, meter: CpuMeter) -> Row:
    before, t0 = meter.sample(), time.monotonic()
    result = await asyncio.to_thread(run_loader, spec)
    row = summarise(label, result)
    row.cpu = CpuMeter.used(before, meter.sample())
    row.cpu_wall_s = time.monotonic() - t0
    row.cpu["loader"] = result.cpu_s
    return row


# ----------------------------------------------------------------------------- report

def print_table(pairs: list[tuple[Row, Row]], consoles: int, processes: int) -> None:
    print(f"\nalarm ingest: {processes} web process(es), {consoles} consoles, "
          f"{os.cpu_count()} CPUs; times in ms")
    head = (f"{'rate':>6} {'sent':>6} {'acc/s':>7} {'err':>4} {'http50':>7} {'http99':>7} "
            f"{'d→c50':>7} {'d→c99':>7} {'d→cmax':>7} {'new':>6} {'merged':>6} {'lost':>4} "
            f"{'dup':>3} | {'base/s':>7} {'b50':>5} {'b99':>6} {'ours/base':>9} {'lag99':>6}")
    print(head)
    print("-" * len(head))
    for ours, base in pairs:
        print(f"{ours.label:>6} {ours.offered:>6} {fmt(ours.per_s, 0):>7} {ours.errors:>4} "
              f"{fmt(ours.http_p50):>7} {fmt(ours.http_p99):>7} {fmt(ours.dc_p50):>7} "
              f"{fmt(ours.dc_p99):>7} {fmt(ours.dc_max, 0):>7} {ours.new:>6} {ours.merged:>6} "
              f"{ours.lost:>4} {ours.dups:>3} | {fmt(base.per_s, 0):>7} "
              f"{fmt(base.http_p50):>5} {fmt(base.http_p99):>6} "
              f"{ours.per_s / base.per_s if base.per_s else float('nan'):>9.2f} "
              f"{fmt(ours.late_p99):>6}")
    print("\nCPU cores busy during each run (CPU seconds / wall seconds, loader start to "
          "the last console receipt):")
    groups = ["web", "postgres", "redis", "loader", "consoles"]
    print(f"{'rate':>6} " + " ".join(f"{g:>9}" for g in groups) + f" {'others':>7} "
          f"{'machine':>7}  | CPU ms per event: web, postgres | baseline run: server + loader")
    for ours, base in pairs:
        used = [ours.cpu.get(g, 0) / ours.cpu_wall_s for g in groups]
        machine = ours.cpu.get("machine", 0) / ours.cpu_wall_s
        per_event = [1000 * ours.cpu.get(g, 0) / max(ours.accepted, 1)
                     for g in ("web", "postgres")]
        cells = " ".join(f"{u:>9.2f}" for u in used)
        print(f"{ours.label:>6} {cells} {machine - sum(used):>7.2f} {machine:>7.2f}  | "
              f"{per_event[0]:>5.2f} {per_event[1]:>5.2f}"
              f"{'':>17}| {base.cpu.get('baseline', 0) / base.cpu_wall_s:.2f} + "
              f"{base.cpu.get('loader', 0) / base.cpu_wall_s:.2f}")
    print("(others: processes outside this benchmark — on a shared machine they take CPU too)")
    print("\nacc/s: events answered 202 per second of run; http: POST → answer; d→c: POST → a "
          "console's alarm.new (all consoles × alarms); new/merged: alarms created / events "
          "joined to an open alarm (an elder's repeated SOS); lost: alarms some console lacked "
          f"{SETTLE_S:.0f} s after the run; dup: duplicate or out-of-order deliveries; lag99: "
          "how late the loader sent (p99).")


def print_waits(pairs: list[tuple[Row, Row]], top: int = 12) -> None:
    print("\nPostgreSQL client backends of the scratch database, sampled every 20 ms during "
          "each run (share of samples):")
    for ours, _ in pairs:
        total = sum(ours.waits.values()) or 1
        print(f"  rate {ours.label}: non-202 answers {ours.statuses or 'none'}")
        for key, n in sorted(ours.waits.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {100 * n / total:5.1f}%  {key}")


def start_py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not exe:
        print("(py-spy not found: pip install py-spy)")
        return None
    return subprocess.Popen([exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds))),
                             "-r", "250", "--nonblocking", "-f", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_py_spy(path: Path, top: int) -> None:
    """Summarise py-spy's collapsed stacks: own time per frame, and time under our functions."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    if not path.exists():
        print(f"(no py-spy output at {path})")
        return
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            if "callcenter/" in frame and "cli.py" not in frame and "__main__" not in frame:
                under[frame] = under.get(frame, 0) + n
    print(f"\npy-spy of web process 0 ({total} on-CPU samples); own time, top {top}:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {frame}")
    print(f"time under callcenter functions (inclusive), top {top}:")
    for frame, n in sorted(under.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {100 * n / total:5.1f}%  {frame}")


# ----------------------------------------------------------------------------- main
def write_json(args: argparse.Namespace, pairs: list[tuple[Row, Row]]) -> dict[str, Any]:
    """The figures for `python -m bench`: the best rate with nothing lost is the headline."""
    runs = [{"rate": ours.label, "events_per_s": ours.per_s, "http_p99_ms": ours.http_p99,
             "p50_ms": ours.dc_p50, "p99_ms": ours.dc_p99, "lost": ours.lost,
             "baseline_per_s": bare.per_s, "baseline_http_p99_ms": bare.http_p99}
            for ours, bare in pairs]
    best = max(runs, key=lambda r: r["events_per_s"])
    out = {**best, "lost": sum(r["lost"] for r in runs),
           "ratio": best["events_per_s"] / best["baseline_per_s"] if best["baseline_per_s"]
           else float("nan"), "consoles": args.consoles, "processes": args.processes,
           "runs": runs}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        print(f"results written to {args.json}")
    return out


async def bench(args: argparse.Namespace) -> int:
    status = 0  # 1 when an alarm answered 202 never reached a console
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    name = f"anxin_bench_{os.getpid()}"
    db_url = with_database(admin_url, name)
    prefix = f"anxin-bench:{uuid.uuid4().hex[:10]}:"
    logdir = Path(tempfile.mkdtemp(prefix="anxin-bench-"))
    procs: list[Proc] = []
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db: asyncpg.Connection | None = None
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    profile = logdir / "web0.prof"
    try:
        db = await asyncpg.connect(db_url)
        t = time.monotonic()
        await migrate(db)
        await seed_city(db, elders=args.elders, demo_password=DEMO_PASSWORD)
        devices = [(r["serial"], r["secret"]) for r in await db.fetch(
            "SELECT serial, secret FROM devices WHERE status = 'active' AND elder_id IS NOT NULL"
            " ORDER BY id")]
        print(f"scratch database {name}: seeded {args.elders} elders, {len(devices)} devices "
              f"in {time.monotonic() - t:.1f} s; logs in {logdir}", flush=True)

        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, ANXIN_REDIS_PREFIX=prefix,
                   ANXIN_SECRET_KEY="bench-secret", ANXIN_LOG_LEVEL=args.log_level,
                   ANXIN_DATA_DIR=str(logdir / "var"), ANXIN_ALARM_OFFER_S="600",
                   ANXIN_ALARM_CITY_S="1200")
        serve = [sys.executable, "-m", "callcenter", "serve"]
        for n in range(args.processes):
            argv = serve
            if n == 0 and args.profile:
                argv = [sys.executable, "-m", "cProfile", "-o", str(profile),
                        "-m", "callcenter", "serve"]
            procs.append(start(f"web{n}", argv, env, free_port(), logdir))
        bases = [p.base for p in procs]
        for n in range(args.processes):
            port = free_port()
            procs.append(start(f"baseline{n}", [sys.executable, __file__, "--baseline-server",
                                                str(port)], env, port, logdir))
        baseline_bases = [p.base for p in procs if p.name.startswith("baseline")]

        http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        try:
            await asyncio.gather(*(wait_healthy(http, p) for p in procs))
            cookies = []
            for base in bases:  # one login per process; every console of it shares the session
                async with http.post(base + "/api/v1/auth/login", json={
                        "username": "operator", "password": DEMO_PASSWORD}) as resp:
                    assert resp.status == 200, await resp.text()
                    cookies.append(resp.cookies["anxin_session"].value)
            stats = [ConsoleStats() for _ in range(args.consoles)]
            readies = [asyncio.Event() for _ in range(args.consoles)]
            ws_http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            for n in range(args.consoles):
                k = n % len(bases)
                tasks.append(asyncio.create_task(console(ws_http, bases[k], cookies[k],
                                                         stats[n], readies[n], stop)))
            await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
            print(f"{args.consoles} consoles connected over {len(bases)} process(es)", flush=True)

            pid_groups = {"web": [p.popen.pid for p in procs if p.name.startswith("web")],
                          "baseline": [p.popen.pid for p in procs
                                       if p.name.startswith("baseline")]}
            meter = CpuMeter(pid_groups)
            seen: set[int] = set()
            pairs: list[tuple[Row, Row]] = []
            spy_out = logdir / "web0.py-spy.txt"
            spy: subprocess.Popen[bytes] | None = None
            for n, label in enumerate(args.rates.split(",")):
                if args.py_spy and n == 0:
                    spy = start_py_spy(procs[0].popen.pid, args.seconds, spy_out)
                rate = 0.0 if label == "max" else float(label)

                def spec(targets: list[str], tag: str, rate: float = rate, label: str = label
                         ) -> LoadSpec:
                    return LoadSpec(targets, devices, args.types.split(","), rate, args.seconds,
                                    args.concurrency, args.connections,
                                    f"{tag}{label}-{uuid.uuid4().hex[:6]}")

                ours, seen = await measure_ours(label, spec(bases, "r"), stats, seen, meter, db,
                                                db_url, name)
                print(f"  ours {label}/s: {ours.per_s:,.0f} accepted/s, http p99 "
                      f"{fmt(ours.http_p99)} ms, d→c p99 {fmt(ours.dc_p99)} ms, lost {ours.lost},"
                      f" errors {ours.errors}", flush=True)
                bare = await measure_baseline(label, spec(baseline_bases, "b"), meter)
                print(f"  baseline {label}/s: {bare.per_s:,.0f} accepted/s, http p99 "
                      f"{fmt(bare.http_p99)} ms", flush=True)
                pairs.append((ours, bare))
            reconnects = sum(s.reconnects for s in stats)
            resnaps = sum(s.resnapshots for s in stats)
            print_table(pairs, args.consoles, args.processes)
            results = write_json(args, pairs)
            status = 1 if results["lost"] else 0
            print_waits(pairs)
            if spy is not None:
                spy.wait(60)
                print_py_spy(spy_out, args.profile_top)
            print(f"console reconnects: {reconnects}, fresh snapshots after reconnect: {resnaps}")
            await ws_http.close()
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.close()
    finally:
        stop_all(procs)
        for p in procs:
            text = p.log.read_text(errors="replace")
            if "Traceback" in text or " ERROR " in text:
                errors = text.count("Traceback")
                print(f"!! {p.name}: {errors} traceback(s) in {p.log}; first:\n"
                      + text[text.find("Traceback"):][:1500])
        if args.profile:
            print_profile(profile, args.profile_top)
        if db is not None:
            await db.close()
        await drop_scratch(admin, name, redis_url, prefix)
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="500,1000,2000",
                        help="events/s per run, comma-separated; 'max' = closed loop")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--processes", type=int, default=2, choices=(1, 2, 3, 4))
    parser.add_argument("--elders", type=int, default=2000)
    parser.add_argument("--types", default="sos,fall,smoke", help="event types to spread")
    parser.add_argument("--concurrency", type=int, default=64, help="workers for rate 'max'")
    parser.add_argument("--connections", type=int, default=256, help="loader keep-alive pool")
    parser.add_argument("--log-level", default="WARNING", help="ANXIN_LOG_LEVEL of the servers")
    parser.add_argument("--profile", action="store_true", help="cProfile web process 0")
    parser.add_argument("--py-spy", action="store_true",
                        help="sample web process 0 with py-spy during the first rate")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="one rate, 1000/s for 3 s, 10 consoles, 500 elders")
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server(args.baseline_server)
        return
    if args.quick:
        args.rates, args.seconds, args.consoles, args.elders = "1000", 3.0, 10, 500
    sys.exit(asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
