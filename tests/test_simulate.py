"""A CI-sized city-day: the simulator drives an in-process server (with the dispatch worker)
over real HTTP and websockets for a few seconds and its integrity check passes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import asyncpg
from aiohttp.test_utils import TestServer

from callcenter import care, live
from callcenter.app import create_app
from callcenter.seed import seed_city
from callcenter.settings import Settings
from callcenter.sim_plan import Rates
from callcenter.sim_run import simulate
from callcenter.subsidy_rules import SHANGHAI
from callcenter.worker_app import worker_ctx

TOKEN = "sim-cti-token"


async def _close(server: TestServer) -> None:
    """Stop the app; re-cancel a loop whose cancel Python 3.11 dropped (see test_cti.close)."""
    closing = asyncio.ensure_future(server.close())
    while not (await asyncio.wait([closing], timeout=0.5))[0]:
        for task in asyncio.all_tasks():
            if task.get_name() in ("live-reader", "outbox-relay") and task.cancelling():
                task.cancel()
    closing.result()


async def test_short_city_day_passes_integrity(settings: Settings, db: asyncpg.Connection
                                               ) -> None:
    await seed_city(db, elders=200, seed=12349, demo_password="anxin12349")
    now = dt.datetime.now(dt.UTC)
    month = now.astimezone(SHANGHAI).date().replace(day=1)
    plan = await care.generate_month_plan(db, month, now)  # the operators' outbound list
    s = settings.replace(cti_token=TOKEN)
    app = create_app(s)
    app.cleanup_ctx.append(worker_ctx)
    server = TestServer(app, host="127.0.0.1")
    other = TestServer(create_app(s), host="127.0.0.1")  # a second web process's worth
    await server.start_server()
    await other.start_server()
    bases = [str(x.make_url("")).rstrip("/") for x in (server, other)]
    try:
        result = await simulate(
            base_url=",".join(bases), database_url=s.database_url,
            cti_token=TOKEN, seed=4, speed=600, duration_s=5, operators=3, staff=12,
            rates=Rates(calls_per_day=3500, alarm_share=0.05), drain_s=20, quiet=True,
            device_procs=1, care=True)
    finally:
        await _close(other)
        await _close(server)
    assert result["server_errors"] == 0, result["problems"]
    assert result["unfinished"] == [], result
    assert result["ok"], result
    assert result["calls"] >= 50 and result["alarms"] >= 1 and result["orders"] >= 1, result
    assert result["problems"] == [], result["problems"]
    # the simulator's setup gave the extra staff logins it needed
    assert result["staff"] == 12
    # both servers were driven (sessions made on one are good on the other: they live in the
    # database), and the bracelets' events came from the extra sender process
    assert all(result["requests_by_base"][b] > 50 for b in bases), result["requests_by_base"]
    assert result["device_procs"] == 1 and result["planned"]["heartbeats"] > 0, result
    # between alarms the operators worked their care lists: the month's visit rate went up
    assert plan["due"] > 0 and result["care_calls"] > 0, result
    rate = await care.visit_rate(db, month, "371000", SHANGHAI)
    assert 0 < rate["visited"] <= result["care_calls"], rate


async def test_the_demo_never_simulates_the_human_operator(db: asyncpg.Connection) -> None:
    """The demo runs the simulator with the `operator` login excluded: that desk is the human's."""
    from callcenter.demo_sim import HUMAN_LOGINS, SIM_OPERATORS
    from callcenter.sim_run import load_snapshot

    await seed_city(db, elders=50, seed=3, demo_password="anxin12349")
    every = await load_snapshot(db, 100, 0)
    assert "operator" in {o.username for o in every.operators}
    chosen = await load_snapshot(db, SIM_OPERATORS, 0, HUMAN_LOGINS)
    names = [o.username for o in chosen.operators]
    assert len(names) == SIM_OPERATORS and "operator" not in names


async def test_a_cancelled_run_stops_its_actors_quietly(settings: Settings,
                                                         db: asyncpg.Connection) -> None:
    """What the demo does on Ctrl-C: the round is cancelled mid-run; every simulated operator
    and call stops before the HTTP session closes (no 'Session is closed' tracebacks)."""
    await seed_city(db, elders=60, seed=5, demo_password="anxin12349")
    server = TestServer(create_app(settings.replace(cti_token=TOKEN)), host="127.0.0.1")
    await server.start_server()
    loop = asyncio.get_running_loop()
    orphans: list[dict[str, object]] = []
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: orphans.append(ctx))
    try:
        run = asyncio.create_task(simulate(
            base_url=str(server.make_url("/")).rstrip("/"), database_url=settings.database_url,
            cti_token=TOKEN, seed=9, speed=600.0, duration_s=30.0, operators=2, staff=0,
            quiet=True))
        await asyncio.sleep(4.0)
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await run
        await asyncio.sleep(0.5)
        import gc

        gc.collect()  # "Task exception was never retrieved" is reported when the task is freed
        await asyncio.sleep(0)
        assert not [o for o in orphans if "Session is closed" in str(o.get("exception"))], orphans
        # and their live channels are closed too: an open one would hold the server's shutdown
        hub = server.app[live.HUB]
        for _ in range(40):
            if not hub.consoles:
                break
            await asyncio.sleep(0.05)
        assert not hub.consoles
    finally:
        loop.set_exception_handler(old_handler)
        await _close(server)
