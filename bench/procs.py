"""Server processes of the benchmarks: start `python -m callcenter …` on a port with its log
file, wait until /healthz answers, and stop them all (SIGINT, then kill)."""

from __future__ import annotations

import asyncio
import contextlib
import pstats
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    base: str
    log: Path


def start(name: str, argv: list[str], env: dict[str, str], port: int, logdir: Path,
          preexec: Callable[[], None] | None = None) -> Proc:
    log = logdir / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(argv, env={**env, "ANXIN_PORT": str(port)}, cwd=ROOT,
                                 stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec)
    return Proc(name, popen, f"http://127.0.0.1:{port}", log)


async def wait_healthy(http: aiohttp.ClientSession, p: Proc, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if p.popen.poll() is not None:
            raise SystemExit(f"{p.name} exited:\n{p.log.read_text(errors='replace')}")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(p.base + "/healthz") as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise SystemExit(f"{p.name} did not come up:\n{p.log.read_text(errors='replace')}")
        await asyncio.sleep(0.1)


def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.popen.wait(30)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()


def print_profile(path: Path, top: int, who: str = "web process 0") -> None:
    """Own time, then inclusive time under the project's functions (no strip_dirs: the
    directory is what the filter matches; for coroutines, time while running, not awaiting)."""
    if not path.exists():
        print(f"(no profile written at {path})")
        return
    stats = pstats.Stats(str(path))
    print(f"\ncProfile of {who} (top {top} by own time):")
    stats.sort_stats("tottime").print_stats(top)
    print(f"cProfile of {who} (top {top} by cumulative time, project code only):")
    stats.sort_stats("cumulative").print_stats(f"{ROOT}/(callcenter|dispatch)/", top)


async def sample_waits(dsn: str, dbname: str, into: dict[str, int], stop: asyncio.Event,
                       client: str = "the web process") -> None:
    """What the scratch database's client backends are doing, sampled every 20 ms until `stop`:
    where the time goes (`client`: who a backend waiting on ClientRead waits for)."""
    conn = await asyncpg.connect(dsn)
    try:
        while not stop.is_set():
            for r in await conn.fetch(
                    "SELECT state, wait_event_type, wait_event, left(query, 60) AS query"
                    " FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'", dbname):
                if r["state"] == "idle":
                    key = "idle (connection not in use)"
                elif r["wait_event_type"] == "Client":
                    key = f"{r['state']}: waiting for {client} ({r['wait_event']})"
                elif r["wait_event_type"]:
                    key = f"{r['state']}: {r['wait_event_type']}/{r['wait_event']}"
                    if r["wait_event_type"] in ("Lock", "LWLock"):
                        key += f"  [{r['query']}]"
                else:
                    key = f"{r['state']}: running  [{r['query']}]"
                into[key] = into.get(key, 0) + 1
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
