"""The demo's city: `callcenter simulate` run inside the demo process at a gentle pace, round
after round, so the console is alive — calls ring and pop, district operators (simulated) take
alarms and book services, bracelets report. The human's login (`operator`, the city desk) is
never one of the simulated operators, and provider staff are left to the demo's pretend staff
(demo_providers), so a human can still take any alarm and watch orders through to the door.
Demo mode only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from callcenter import keys, sim_plan, tasks
from callcenter.sim_run import simulate

log = logging.getLogger("callcenter.demo_sim")
ROUND_S = 600.0  # wall seconds per simulator round; each round checks its own integrity
HUMAN_LOGINS = ("operator",)
SIM_OPERATORS = 4


def sim_ctx(speed: float, password: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        halt = asyncio.Event()
        task = asyncio.create_task(_rounds(app, speed, password, halt), name="demo-sim")
        yield
        await tasks.stop(task, halt)
    return ctx


async def _rounds(app: web.Application, speed: float, password: str, halt: asyncio.Event
                  ) -> None:
    s = app[keys.SETTINGS]
    await asyncio.sleep(3.0)  # let the server start listening
    n = 0
    while not halt.is_set():
        n += 1
        try:
            result = await simulate(
                base_url=f"http://127.0.0.1:{s.port}", database_url=s.database_url,
                cti_token=s.cti_token, seed=s.port * 1000 + n, speed=speed, duration_s=ROUND_S,
                rates=sim_plan.Rates(), operators=SIM_OPERATORS, staff=0, password=password,
                drain_s=60.0, quiet=True, exclude_operators=HUMAN_LOGINS, care=True)
            log.info("demo simulator round %d: %s calls, %s alarms, %s orders, %s care calls, ok=%s",
                     n, result["calls"], result["alarms"], result["orders"],
                     result["care_calls"], result["ok"])
        except asyncio.CancelledError:
            raise
        except Exception:  # the demo goes on; the next round starts afresh
            log.exception("demo simulator round %d failed", n)
            await asyncio.sleep(10.0)
