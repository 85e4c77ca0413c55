"""The demo's pretend devices: now and then an elder's SOS phone or bracelet sends a signed event
to this very server, through the same HTTP path a real device uses. Demo mode only; the full
simulator (calls, heartbeats, provider movement) is `callcenter simulate` in a later step."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from callcenter import keys, tasks
from callcenter.device_events import sign

log = logging.getLogger("callcenter.demo_feed")
# what a pretend device sends, and how often, relative to each other
MIX: dict[str, float] = {"sos": 5, "fall": 2, "heartbeat": 8, "low_battery": 1, "smoke": 1}


def pick_event(rng: random.Random) -> str:
    return rng.choices(list(MIX), list(MIX.values()))[0]


def feed_ctx(every_s: float, seed: int = 12349
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        halt = asyncio.Event()
        task = asyncio.create_task(_feed(app, every_s, random.Random(seed), halt),
                                   name="demo-feed")
        yield
        await tasks.stop(task, halt)
    return ctx


async def _feed(app: web.Application, every_s: float, rng: random.Random,
                halt: asyncio.Event) -> None:
    s = app[keys.SETTINGS]
    base = f"http://{'127.0.0.1' if s.host in ('0.0.0.0', '::') else s.host}:{s.port}"
    async with aiohttp.ClientSession() as http:
        while not halt.is_set():
            await asyncio.sleep(rng.uniform(0.5, 1.5) * every_s)
            kind = pick_event(rng)
            device_kind = "bracelet" if kind == "low_battery" else "sos_phone"
            row = await app[keys.DB].fetchrow(
                "SELECT serial, secret FROM devices WHERE kind = $1 AND status = 'active'"
                " AND elder_id IS NOT NULL ORDER BY random() LIMIT 1", device_kind)
            if row is None:
                continue
            body = json.dumps({"event_id": uuid.uuid4().hex, "type": kind,
                               "occurred_at": dt.datetime.now(dt.UTC).isoformat(),
                               "battery": 9 if kind == "low_battery" else 80}).encode()
            stamp = int(time.time())
            try:
                async with http.post(f"{base}/api/v1/devices/{row['serial']}/events", data=body,
                                     headers={"X-Anxin-Timestamp": str(stamp),
                                              "X-Anxin-Signature": sign(row["secret"], stamp,
                                                                        body),
                                              "Content-Type": "application/json"}) as resp:
                    log.info("demo device %s sent %s: %s", row["serial"], kind, resp.status)
            except aiohttp.ClientError as exc:
                log.warning("demo device could not reach the server: %s", exc)
