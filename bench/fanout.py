"""Live fan-out benchmark (SPEC §6; target: 2,000 consoles, p99 publish → receipt < 100 ms),
against a bare aiohttp websocket broadcast as the baseline, in the same run.

    .venv/bin/python bench/fanout.py --consoles 100,1000,2000 --events 200 --rate 50
    .venv/bin/python bench/fanout.py --quick

Creates a scratch database on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test) and a unique Redis key prefix on REDIS_URL (default
redis://127.0.0.1:6379/0), migrates and seeds a small Weihai (`--elders`). For each console
count N it starts two fresh `python -m callcenter serve` processes, opens N console websockets
(the city operator `operator`, one session shared by all) split evenly over them from
`--clients` client PROCESSES (the `websockets` library), waits for every snapshot, then
publishes `--events` live events at `--rate`/s by inserting outbox rows directly
(`outbox.add(conn, "bench.ping", "371000", {"n", "t"})`, one transaction each; the web
processes' relay → Redis stream → every web process → its consoles). Latency: `t` (taken just
before the transaction) → time.time() at the console's receipt (client process; same clock),
over every console × event; missed: pairs not received `--settle` s after the last publish
(must be 0; exit status 1 otherwise). Duplicates and out-of-order receipts are counted too.

The baseline is a bare aiohttp websocket server (this file, a separate process) that sends each
body POSTed to it to every connected client; same N, same events, same client processes.

Memory: RSS (psutil) of each web process before the consoles connect and after all are
connected → KiB per connection (and the same for the baseline server).

`--profile` runs web process 0 of the largest size under cProfile and prints its top functions.
The processes are stopped, the scratch database dropped and the Redis keys deleted at the end,
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import signal
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

from bench.common import drop_scratch, fmt, pct, run_main, with_database  # noqa: E402
from bench.procs import Proc, print_profile, start, stop_all, wait_healthy  # noqa: E402
from callcenter import outbox  # noqa: E402
from callcenter.embedded import free_port  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import seed_city  # noqa: E402

DEMO_PASSWORD = "anxin12349"
CITY = "371000"
KIND = "bench.ping"
PROCESSES = 2


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ----------------------------------------------------------------------------- baseline server
def baseline_server(port: int) -> None:
    """The baseline: hold websockets; send every POSTed body to all of them. Nothing else."""
    raise_nofile()
    clients: set[web.WebSocketResponse] = set()

    async def socket(request: web.Request) -> web.StreamResponse:
        # uncompressed, as the consoles' sockets are: both sides pay the same framing
        ws = web.WebSocketResponse(heartbeat=20, compress=False)
        await ws.prepare(request)
        clients.add(ws)
        try:
            await ws.send_str('{"type": "snapshot"}')
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    # one broadcaster task, fed by a queue: the POST answers at once (the publisher keeps its
    # schedule, as the outbox insert does for ours) and messages go out in order
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def broadcaster() -> None:
        while True:
            text = await queue.get()
            for ws in list(clients):
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.send_str(text)

    async def publish(request: web.Request) -> web.Response:
        queue.put_nowait(await request.text())
        return web.json_response({"clients": len(clients)})

    async def broadcaster_ctx(app: web.Application) -> Any:
        task = asyncio.create_task(broadcaster())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "clients": len(clients)})

    app = web.Application()
    app.cleanup_ctx.append(broadcaster_ctx)
    app.router.add_get("/ws", socket)
    app.router.add_post("/publish", publish)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                backlog=4096)


# ----------------------------------------------------------------------------- client process
@dataclass
class ClientSpec:
    targets: list[str]  # one websocket URL per console of this client process
    cookie: str
    connect_concurrency: int = 50


@dataclass
class ClientResult:
    received: list[dict[int, float]] = field(default_factory=list)  # per console: n -> receipt
    duplicates: int = 0
    out_of_order: int = 0
    closed: int = 0  # connections that ended before the collection did
    failed: int = 0  # connections that never got a snapshot
    cpu_s: float = 0.0


def client_entry(conn: Any, spec: ClientSpec) -> None:
    """A client process: connect, report ready, receive until told to collect, report."""
    raise_nofile()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    started = time.process_time()
    result = asyncio.run(run_clients(conn, spec))
    result.cpu_s = time.process_time() - started
    conn.send(result)
    conn.close()


async def run_clients(conn: Any, spec: ClientSpec) -> ClientResult:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    out = ClientResult(received=[{} for _ in spec.targets])
    ready = [asyncio.Event() for _ in spec.targets]
    expected = 0
    complete = asyncio.Event()
    done_count = 0
    gate = asyncio.Semaphore(spec.connect_concurrency)

    async def one(i: int, url: str) -> None:
        nonlocal done_count
        got = out.received[i]
        last = -1
        try:
            async with gate:
                ws = await connect(url, additional_headers={"Cookie": f"anxin_session={spec.cookie}"},
                                   max_size=None, ping_interval=None, open_timeout=120,
                                   close_timeout=1, compression=None)
                first = await ws.recv()
            if '"snapshot"' not in first[:200]:
                raise RuntimeError(f"first message is not a snapshot: {first[:200]!r}")
            ready[i].set()
            async for text in ws:
                now = time.time()
                if KIND not in text:  # other live events (alarms, presence…) are not ours
                    continue
                data = json.loads(text)
                if data.get("type") != KIND:
                    continue
                n = data["data"]["n"]
                if n in got:
                    out.duplicates += 1
                    continue
                if n < last:
                    out.out_of_order += 1
                last = max(last, n)
                got[n] = now
                if expected and len(got) >= expected:
                    done_count += 1
                    if done_count >= len(spec.targets):
                        complete.set()
        except ConnectionClosed:
            out.closed += 1
        except (OSError, RuntimeError, TimeoutError) as exc:
            if not ready[i].is_set():
                out.failed += 1
                print(f"client: console {i} failed: {exc!r}", file=sys.stderr, flush=True)
                ready[i].set()
            else:
                out.closed += 1
        with contextlib.suppress(Exception):
            await ws.close()

    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(one(i, url)) for i, url in enumerate(spec.targets)]
    await asyncio.gather(*(r.wait() for r in ready))
    conn.send(("ready", len(spec.targets) - out.failed))
    command, value = await loop.run_in_executor(None, conn.recv)  # ("collect", m, deadline)
    assert command == "collect"
    m, deadline = value
    expected = m
    done_count = sum(1 for got in out.received if len(got) >= m)
    if done_count < len(spec.targets):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(complete.wait(), max(0.0, deadline - time.time()))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return out


class Clients:
    """The client processes of one run (spawned: their own interpreters and CPUs)."""

    def __init__(self, targets: list[str], cookie: str, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        for k in range(processes):
            part = targets[k::processes]
            if not part:
                continue
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=client_entry, args=(child, ClientSpec(part, cookie)),
                               name=f"fanout-client{k}", daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    async def ready(self, timeout_s: float) -> int:
        def wait() -> int:
            total = 0
            for pipe in self.pipes:
                if not pipe.poll(timeout_s):
                    raise SystemExit("client processes did not connect in time")
                what, n = pipe.recv()
                assert what == "ready"
                total += n
            return total
        return await asyncio.to_thread(wait)

    async def collect(self, events: int, deadline: float) -> list[ClientResult]:
        def wait() -> list[ClientResult]:
            for pipe in self.pipes:
                pipe.send(("collect", (events, deadline)))
            results = [pipe.recv() for pipe in self.pipes]
            for proc in self.procs:
                proc.join(10)
            return results
        return await asyncio.to_thread(wait)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()
                proc.join(5)


# ----------------------------------------------------------------------------- processes
def rss(pids: list[int]) -> list[int]:
    return [psutil.Process(pid).memory_info().rss for pid in pids]


# ----------------------------------------------------------------------------- one measurement
@dataclass
class Side:
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    missed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    closed: int = 0
    failed: int = 0
    connected: int = 0
    kib_per_console: float = float("nan")
    connect_s: float = 0.0
    publish_lag_p99: float = float("nan")  # how late the publisher was against its schedule
    client_cpu_s: float = 0.0


def summarise(side: Side, results: list[ClientResult], sent: dict[int, float]) -> None:
    lat: list[float] = []
    for r in results:
        side.duplicates += r.duplicates
        side.out_of_order += r.out_of_order
        side.closed += r.closed
        side.failed += r.failed
        side.client_cpu_s += r.cpu_s
        for got in r.received:
            for n, t in sent.items():
                if n in got:
                    lat.append((got[n] - t) * 1000)
                else:
                    side.missed += 1
    side.p50, side.p99 = pct(lat, 0.5), pct(lat, 0.99)
    side.max = max(lat) if lat else float("nan")


async def publish_schedule(events: int, rate: float, send: Any) -> tuple[dict[int, float], float]:
    """Call send(n, t) on a fixed schedule; returns {n: t} and the p99 lateness (ms)."""
    sent: dict[int, float] = {}
    late: list[float] = []
    t0 = time.monotonic() + 0.05
    for n in range(events):
        sched = t0 + n / rate
        delay = sched - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append((time.monotonic() - sched) * 1000)
        t = time.time()
        sent[n] = t
        await send(n, t)
    return sent, pct(late, 0.99)


async def connect_clients(targets: list[str], cookie: str, args: argparse.Namespace,
                          side: Side) -> Clients:
    t = time.monotonic()
    clients = Clients(targets, cookie, args.clients)
    side.connected = await clients.ready(args.connect_timeout)
    side.connect_s = time.monotonic() - t
    return clients


async def measure_ours(n: int, args: argparse.Namespace, env: dict[str, str], logdir: Path,
                       db: asyncpg.Connection, http: aiohttp.ClientSession, profile: Path | None
                       ) -> Side:
    side = Side()
    procs: list[Proc] = []
    clients: Clients | None = None
    try:
        for k in range(PROCESSES):
            argv = [sys.executable, "-m", "callcenter", "serve"]
            if k == 0 and profile is not None:
                argv = [sys.executable, "-m", "cProfile", "-o", str(profile),
                        "-m", "callcenter", "serve"]
            procs.append(start(f"web{k}-n{n}", argv, env, free_port(), logdir,
                                 preexec=raise_nofile))
        await asyncio.gather(*(wait_healthy(http, p) for p in procs))
        async with http.post(procs[0].base + "/api/v1/auth/login", json={
                "username": "operator", "password": DEMO_PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            cookie = resp.cookies["anxin_session"].value
        await asyncio.sleep(0.5)  # let start-up work (relay rebuild etc.) settle
        pids = [p.popen.pid for p in procs]
        before = rss(pids)
        targets = ["ws" + procs[i % PROCESSES].base.removeprefix("http") + "/ws/console"
                   for i in range(n)]
        clients = await connect_clients(targets, cookie, args, side)
        await asyncio.sleep(0.5)
        after = rss(pids)
        side.kib_per_console = (sum(after) - sum(before)) / 1024 / max(side.connected, 1)

        async def send(i: int, t: float) -> None:
            async with db.transaction():
                await outbox.add(db, KIND, CITY, {"n": i, "t": t})

        sent, side.publish_lag_p99 = await publish_schedule(args.events, args.rate, send)
        results = await clients.collect(args.events, time.time() + args.settle)
        summarise(side, results, sent)
    finally:
        if clients is not None:
            clients.stop()
        stop_all(procs)
        for p in procs:
            text = p.log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"!! {p.name}: {text.count('Traceback')} traceback(s) in {p.log}; first:\n"
                      + text[text.find("Traceback"):][:1500])
    return side


async def measure_baseline(n: int, args: argparse.Namespace, env: dict[str, str],
                           logdir: Path, http: aiohttp.ClientSession) -> Side:
    side = Side()
    port = free_port()
    proc = start(f"baseline-n{n}", [sys.executable, __file__, "--baseline-server", str(port)],
                 env, port, logdir, preexec=raise_nofile)
    clients: Clients | None = None
    try:
        await wait_healthy(http, proc)
        before = rss([proc.popen.pid])
        targets = ["ws" + proc.base.removeprefix("http") + "/ws"] * n
        clients = await connect_clients(targets, "-", args, side)
        await asyncio.sleep(0.5)
        after = rss([proc.popen.pid])
        side.kib_per_console = (sum(after) - sum(before)) / 1024 / max(side.connected, 1)

        posts: list[asyncio.Task[None]] = []

        async def post(body: str) -> None:
            async with http.post(proc.base + "/publish", data=body) as resp:
                await resp.read()

        async def send(i: int, t: float) -> None:
            # open loop, like the outbox insert: a busy baseline server must not slow the
            # publisher down (POSTs may then reach it out of order; not counted against it)
            body = json.dumps({"seq": f"{int(t * 1000)}-0", "type": KIND, "region": CITY,
                               "data": {"n": i, "t": t}})
            posts.append(asyncio.create_task(post(body)))

        sent, side.publish_lag_p99 = await publish_schedule(args.events, args.rate, send)
        await asyncio.gather(*posts)
        results = await clients.collect(args.events, time.time() + args.settle)
        summarise(side, results, sent)
    finally:
        if clients is not None:
            clients.stop()
        stop_all([proc])
    return side


# ----------------------------------------------------------------------------- report
def print_table(rows: list[tuple[int, Side, Side]], args: argparse.Namespace) -> None:
    print(f"\nlive fan-out: {PROCESSES} web processes, {args.clients} client processes, "
          f"{args.events} events at {args.rate:g}/s, {os.cpu_count()} CPUs; times in ms")
    head = (f"{'consoles':>8} {'conn':>5} {'p50':>7} {'p99':>7} {'max':>7} {'missed':>6} "
            f"{'dup':>3} {'ooo':>3} {'KiB/conn':>8} {'conn s':>6} | {'b p50':>6} {'b p99':>6} "
            f"{'b max':>6} {'b miss':>6} {'b KiB':>6} | {'p99/b':>6}")
    print(head)
    print("-" * len(head))
    for n, ours, base in rows:
        ratio = ours.p99 / base.p99 if base.p99 and base.p99 == base.p99 else float("nan")
        print(f"{n:>8,} {ours.connected:>5} {fmt(ours.p50):>7} {fmt(ours.p99):>7} "
              f"{fmt(ours.max, 0):>7} {ours.missed:>6} {ours.duplicates:>3} "
              f"{ours.out_of_order:>3} {fmt(ours.kib_per_console):>8} {fmt(ours.connect_s):>6} | "
              f"{fmt(base.p50):>6} {fmt(base.p99):>6} {fmt(base.max, 0):>6} {base.missed:>6} "
              f"{fmt(base.kib_per_console):>6} | {fmt(ratio):>6}")
    print("\np50/p99/max: publish (just before the outbox transaction / the baseline POST) → a "
          "console's receipt, over every console × event; missed: pairs not received "
          f"{args.settle:g} s after the last publish; dup/ooo: duplicate / out-of-order receipts; "
          "KiB/conn: web RSS growth per connected console; conn s: time to connect all and get "
          "every snapshot; b: the bare aiohttp broadcast baseline.")
    for n, ours, base in rows:
        extra = []
        for label, side in (("ours", ours), ("baseline", base)):
            if side.closed or side.failed:
                extra.append(f"{label}: {side.closed} closed early, {side.failed} failed")
            extra.append(f"{label} publisher lateness p99 {fmt(side.publish_lag_p99)} ms, "
                         f"client CPU {side.client_cpu_s:.1f} s")
        print(f"  {n:,}: " + "; ".join(extra))


# ----------------------------------------------------------------------------- main
async def bench(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    name = f"anxin_bench_fanout_{os.getpid()}"
    db_url = with_database(admin_url, name)
    prefix = f"anxin-bench-fanout:{uuid.uuid4().hex[:10]}:"
    logdir = Path(tempfile.mkdtemp(prefix="anxin-fanout-"))
    sizes = [int(x) for x in args.consoles.split(",") if x.strip()]
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    db: asyncpg.Connection | None = None
    rows: list[tuple[int, Side, Side]] = []
    profile = logdir / "web0.prof" if args.profile else None
    try:
        db = await asyncpg.connect(db_url)
        t = time.monotonic()
        await migrate(db)
        await seed_city(db, elders=args.elders, demo_password=DEMO_PASSWORD)
        print(f"scratch database {name}: seeded {args.elders} elders in "
              f"{time.monotonic() - t:.1f} s; logs in {logdir}", flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
        env.update(DATABASE_URL=db_url, REDIS_URL=redis_url, ANXIN_REDIS_PREFIX=prefix,
                   ANXIN_SECRET_KEY="bench-secret", ANXIN_LOG_LEVEL=args.log_level,
                   ANXIN_DATA_DIR=str(logdir / "var"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            for n in sizes:
                prof = profile if n == max(sizes) else None
                ours = await measure_ours(n, args, env, logdir, db, http, prof)
                print(f"  ours {n:,} consoles: p50 {fmt(ours.p50)} ms, p99 {fmt(ours.p99)} ms, "
                      f"missed {ours.missed}, {fmt(ours.kib_per_console)} KiB/console",
                      flush=True)
                base = await measure_baseline(n, args, env, logdir, http)
                print(f"  baseline {n:,} consoles: p50 {fmt(base.p50)} ms, p99 "
                      f"{fmt(base.p99)} ms, missed {base.missed}", flush=True)
                rows.append((n, ours, base))
        print_table(rows, args)
        if profile is not None:
            print_profile(profile, args.profile_top, "web process 0 at the largest size")
    finally:
        if db is not None:
            await db.close()
        keys = await drop_scratch(admin, name, redis_url, prefix)
        print(f"cleaned up: dropped {name}, deleted {keys} Redis keys", flush=True)

    # the integrity check: every console got every event (a console that never connected
    # counts every event as missed); duplicates and reordering are reported, not failed on
    ok = bool(rows) and all(o.missed == 0 for _, o, _ in rows)
    if args.json:
        largest = max(rows, key=lambda row: row[0])
        n, ours, base = largest

        def num(x: float) -> float | None:
            return None if x != x else round(x, 2)

        Path(args.json).write_text(json.dumps({
            "consoles": n, "p50_ms": num(ours.p50), "p99_ms": num(ours.p99),
            "missed": sum(o.missed for _, o, _ in rows),
            "baseline_p99_ms": num(base.p99), "kib_per_console": num(ours.kib_per_console),
            "ok": ok, "events": args.events, "rate": args.rate, "processes": PROCESSES,
            "runs": [{"consoles": n, "connected": o.connected, "p50_ms": num(o.p50),
                      "p99_ms": num(o.p99), "max_ms": num(o.max), "missed": o.missed,
                      "duplicates": o.duplicates, "out_of_order": o.out_of_order,
                      "baseline_p50_ms": num(b.p50), "baseline_p99_ms": num(b.p99),
                      "baseline_missed": b.missed, "kib_per_console": num(o.kib_per_console),
                      "baseline_kib_per_console": num(b.kib_per_console)}
                     for n, o, b in rows]}, indent=2) + "\n")
        print(f"wrote {args.json}")
    if not ok:
        print("INTEGRITY CHECK FAILED: some console missed an event")
    for n, o, _ in rows:
        if o.duplicates or o.out_of_order:
            print(f"warning: {n:,} consoles: {o.duplicates} duplicate and {o.out_of_order} "
                  "out-of-order receipts (events arrived in another order than published)")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consoles", default="100,1000,2000", help="console counts per run")
    parser.add_argument("--events", type=int, default=200, help="events per run")
    parser.add_argument("--rate", type=float, default=50, help="events/s")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--settle", type=float, default=10,
                        help="seconds after the last publish before a receipt counts as missed")
    parser.add_argument("--connect-timeout", type=float, default=180)
    parser.add_argument("--elders", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="100,500 consoles, 50 events")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--log-level", default="WARNING", help="ANXIN_LOG_LEVEL of the servers")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile web process 0 at the largest size")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server(args.baseline_server)
        return
    if args.quick:
        args.consoles, args.events = "100,500", 50
    raise_nofile()
    run_main(bench(args))


if __name__ == "__main__":
    main()
