"""The simulator's device-event senders in their own processes: each plays a disjoint slice
of the bracelets' periodic events (`sim_plan.stream(..., shard=(k, n))`, deterministic under
the seed) so one Python process is not the bottleneck of a compressed city day. The parent
starts them, waits until each is ready, gives them one start time, and merges what they saw
(statuses, problems, alarm ids, planned counts) into its own `Stats` at the end."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from callcenter import sim_actors as act
from callcenter import sim_plan as plan

PROBLEMS_KEPT = 200


@dataclass(frozen=True)
class ShardJob:
    seed: int
    snapshot: plan.Snapshot
    rates: plan.Rates
    speed: float
    duration_s: float
    run_id: str
    shard: tuple[int, int]
    bases: tuple[str, ...]


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                 connector=aiohttp.TCPConnector(limit=200),
                                 cookie_jar=aiohttp.DummyCookieJar())


async def play(actions: Iterable[plan.Action], t0: float, duration_s: float, stats: act.Stats,
               run: Callable[[plan.Action], Coroutine[Any, Any, None]]) -> None:
    """Start each action at its time after `t0` (monotonic), then wait for them all; records
    in `stats.late_s` how far behind the schedule the sender fell at worst."""
    pending: set[asyncio.Task[None]] = set()
    try:
        for a in actions:
            delay = a.at - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                stats.late_s = max(stats.late_s, -delay)
            task = asyncio.create_task(run(a))  # kept in `pending` until done, awaited below
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.sleep(max(0.0, duration_s - (time.monotonic() - t0)))
    except asyncio.CancelledError:  # stopped (the demo shutting down): stop what is in flight
        for task in list(pending):
            task.cancel()
        await asyncio.gather(*list(pending), return_exceptions=True)
        raise
    if pending:
        await asyncio.gather(*list(pending), return_exceptions=True)


async def _send_shard(job: ShardJob, conn: Connection) -> dict[str, Any]:
    counts: dict[str, int] = {}
    actions = plan.stream(job.seed, job.snapshot, job.rates, job.speed, job.duration_s,
                          job.run_id, counts=counts, parts=("bracelets",), shard=job.shard)
    stats = act.Stats()
    async with session() as http:
        devices = act.Devices([act.Http(b, http, stats) for b in job.bases],
                              {d.serial: d for d in job.snapshot.devices})
        conn.send("ready")
        start_epoch = await asyncio.to_thread(conn.recv)
        t0 = time.monotonic() + (float(start_epoch) - time.time())
        await play(actions, t0, job.duration_s, stats, devices.send)
    return {"statuses": dict(stats.statuses), "per_base": dict(stats.per_base),
            "problems": stats.problems[:PROBLEMS_KEPT], "alarms": sorted(stats.alarms), "counts": counts, "late_s": stats.late_s}


def _child(job: ShardJob, conn: Connection) -> None:
    try:
        conn.send(asyncio.run(_send_shard(job, conn)))
    except BaseException as exc:  # the parent reports it; a child must never hang it
        conn.send({"error": f"device sender {job.shard}: {exc!r}"})
        raise
    finally:
        conn.close()


class Senders:
    """The parent's handle on the device-sender processes."""

    def __init__(self, jobs: list[ShardJob]) -> None:
        ctx = multiprocessing.get_context("spawn")  # no forked event loop or sockets
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for job in jobs:
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_child, args=(job, theirs), daemon=True,
                               name=f"sim-devices-{job.shard[0]}")
            proc.start()
            theirs.close()
            self.pipes.append(mine)
            self.procs.append(proc)

    def pids(self) -> dict[str, int]:
        return {f"sim-devices{i}": int(p.pid) for i, p in enumerate(self.procs)}

    async def ready(self, timeout_s: float = 120.0) -> None:
        for pipe in self.pipes:
            if not await asyncio.to_thread(pipe.poll, timeout_s):
                raise RuntimeError("a device sender did not start")
            first = pipe.recv()
            if first != "ready":
                raise RuntimeError(f"device sender failed: {first}")

    def go(self, start_epoch: float) -> None:
        for pipe in self.pipes:
            pipe.send(start_epoch)

    async def results(self, stats: act.Stats, counts: dict[str, int]) -> None:
        """Wait for every sender and fold its figures into the run's."""
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            try:
                out = await asyncio.to_thread(pipe.recv)
            except EOFError:
                out = {"error": f"device sender {proc.name} exited {proc.exitcode}"}
            if "error" in out:
                stats.statuses["device sender error"] += 1
                stats.problems.append(out["error"])
                continue
            stats.statuses.update(out["statuses"])
            stats.per_base.update(out["per_base"])
            stats.problems += out["problems"]
            stats.alarms.update(out["alarms"])
            stats.late_s = max(stats.late_s, out["late_s"])
            for k, n in out["counts"].items():
                counts[k] = counts.get(k, 0) + n
        for proc in self.procs:
            await asyncio.to_thread(proc.join, 30)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
