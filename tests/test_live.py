"""The live channel (SPEC §6) end to end: real `callcenter serve` processes, real PostgreSQL and
Redis, real websocket clients (the `websockets` package).

- two web processes: every console gets every alarm.new exactly once, whichever process it is
  connected to and whichever process took the device event; the region filter holds;
- resume: reconnecting (to the other process) with ?last_seq= replays exactly what was missed,
  in order, then continues live — also while events keep arriving during the reconnect;
- beyond the replay window: a fresh snapshot listing the alarms still on the console (all but
  the closed ones);
- only staff roles may open the socket (403), and only with a session (401);
- one device's concurrent events are all accepted (regression: they used to deadlock);
- the outbox relay stops when cancelled as a notification arrives (regression: shutdown hung).

Synchronisation is by messages with timeouts, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from callcenter import outbox
from callcenter.app import create_app
from callcenter.embedded import free_port
from callcenter.keys import redis_key
from callcenter.outbox import LIVE_STREAM
from callcenter.settings import Settings
from tests import factories
from tests.factories import PASSWORD, event_body, signed_headers

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 20.0  # generous: CI machines are slow; a healthy run takes a fraction of it


# --------------------------------------------------------------------------- web processes
@dataclass
class WebProcess:
    base: str
    proc: asyncio.subprocess.Process
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def _wait_healthy(http: aiohttp.ClientSession, wp: WebProcess, timeout_s: float) -> None:
    """Poll /healthz until it answers 200 (process start-up; the only polling in this file)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        if wp.proc.returncode is not None:
            raise AssertionError(f"{wp.base} exited {wp.proc.returncode}:\n{wp.log_text()}")
        try:
            async with http.get(wp.base + "/healthz",
                                timeout=aiohttp.ClientTimeout(total=2)) as resp:
                if resp.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        if loop.time() > deadline:
            raise AssertionError(f"{wp.base} did not become healthy:\n{wp.log_text()}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def web_processes(settings: Settings, tmp_path: Path, count: int = 2,
                        **extra_env: str) -> AsyncIterator[list[str]]:
    """`count` × `python -m callcenter serve` on free ports, one database, one Redis prefix,
    background tasks on; yields their base URLs and stops them (SIGINT, then kill)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url,
               ANXIN_REDIS_PREFIX=settings.redis_prefix, ANXIN_SECRET_KEY="live-test-secret",
               ANXIN_LOG_LEVEL="WARNING", ANXIN_DATA_DIR=str(tmp_path / "var"), **extra_env)
    started: list[WebProcess] = []
    try:
        for n in range(count):
            port = free_port()
            log = tmp_path / f"web-{n}.log"
            with log.open("wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "callcenter", "serve", cwd=ROOT,
                    env={**env, "ANXIN_PORT": str(port)}, stdout=out, stderr=out)
            started.append(WebProcess(f"http://127.0.0.1:{port}", proc, log))
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(_wait_healthy(http, wp, 60) for wp in started))
        yield [wp.base for wp in started]
    finally:
        for wp in started:
            if wp.proc.returncode is None:
                wp.proc.send_signal(signal.SIGINT)
        for wp in started:
            try:
                await asyncio.wait_for(wp.proc.wait(), 20)
            except TimeoutError:
                wp.proc.kill()
                await wp.proc.wait()
    for wp in started:  # only reached when the body passed: no tracebacks in the servers' logs
        text = wp.log_text()
        assert "Traceback" not in text and " ERROR " not in text, f"{wp.base}:\n{text}"


@contextlib.asynccontextmanager
async def in_process_app(settings: Settings) -> AsyncIterator[str]:
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


# --------------------------------------------------------------------------- clients
async def login(http: aiohttp.ClientSession, base: str, username: str) -> str:
    """Log in through the JSON API; the session cookie's value."""
    async with http.post(base + "/api/v1/auth/login",
                         json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return resp.cookies["anxin_session"].value


async def post_event(http: aiohttp.ClientSession, base: str, serial: str, kind: str,
                     event_id: str | None = None) -> int:
    """A signed device event; asserts 202 and returns the alarm id."""
    body = event_body(event_id or uuid.uuid4().hex, kind)
    async with http.post(f"{base}/api/v1/devices/{serial}/events", data=body,
                         headers=signed_headers(body)) as resp:
        answer = await resp.json()
        assert resp.status == 202, answer
    assert isinstance(answer["alarm_id"], int), answer
    return int(answer["alarm_id"])


def ws_url(base: str, last_seq: str | None = None) -> str:
    url = "ws" + base.removeprefix("http") + "/ws/console"
    return f"{url}?last_seq={last_seq}" if last_seq else url


@dataclass(eq=False)
class Console:
    """A console websocket whose messages a reader task collects; tests wait on predicates."""
    name: str
    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, name: str, base: str, cookie: str, last_seq: str | None = None
                   ) -> Console:
        ws = await connect(ws_url(base, last_seq), open_timeout=WAIT_S,
                           additional_headers={"Cookie": f"anxin_session={cookie}"})
        console = cls(name, ws)
        console.reader = asyncio.create_task(console._read(), name=f"console {name}")
        return console

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                async with self.changed:
                    self.messages.append(message)
                    self.changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            async with self.changed:
                self.closed = True
                self.changed.notify_all()

    async def wait_for(self, what: str, done: Callable[[Console], bool],
                       timeout_s: float = WAIT_S) -> None:
        async with self.changed:
            try:
                await asyncio.wait_for(self.changed.wait_for(lambda: done(self) or self.closed),
                                       timeout_s)
            except TimeoutError:
                pass
            if not done(self):
                raise AssertionError(f"{self.name}: {what} did not arrive (closed={self.closed});"
                                     f" got {self.summary()}")

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            await self.reader

    # views of what arrived
    def snapshots(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == "snapshot"]

    def events(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] != "snapshot"]

    def new_alarms(self) -> list[int]:
        return [m["data"]["alarm"]["id"] for m in self.messages if m["type"] == "alarm.new"]

    def seq_of(self, alarm_id: int) -> str:
        return next(m["seq"] for m in self.messages
                    if m["type"] == "alarm.new" and m["data"]["alarm"]["id"] == alarm_id)

    def has_alarms(self, ids: set[int]) -> Callable[[Console], bool]:
        return lambda c: ids <= set(c.new_alarms())

    def summary(self) -> list[tuple[str, str, Any]]:
        return [(m.get("seq", ""), m["type"], (m.get("data") or {}).get("alarm", {}).get("id"))
                for m in self.messages]


def seq_key(seq: str) -> tuple[int, int]:
    ms, _, n = seq.partition("-")
    return int(ms), int(n or 0)


def assert_in_order_without_duplicates(console: Console) -> None:
    seqs = [seq_key(m["seq"]) for m in console.events()]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), \
        f"{console.name}: out of order or repeated: {console.summary()}"


async def has_snapshot(console: Console) -> dict[str, Any]:
    await console.wait_for("the snapshot", lambda c: bool(c.messages))
    first = console.messages[0]
    assert first["type"] == "snapshot", console.summary()
    return first


# --------------------------------------------------------------------------- 1. two processes
N_EVENTS = 20


async def test_two_web_processes_every_console_gets_every_alarm_exactly_once(
        settings: Settings, db: asyncpg.Connection, world: dict[str, int],
        tmp_path: Path) -> None:
    # Falls from sensors of elder_wendeng, SOS presses from distinct elders of 文登区 (an
    # elder's repeated SOS within two minutes joins the open alarm, so it would not be new).
    # One event per device: see the xfail test at the end for one device's concurrent events.
    for n in range(N_EVENTS // 2):
        await factories.device(db, f"FALL-WD-{n:04d}", world["elder_wendeng"], "fall_sensor")
        elder = await factories.elder(db, f"文登老人{n}", "371003001", 300 + n)
        await factories.device(db, f"SOS-WD-{n:04d}", elder)
    await factories.device(db, "SOS-RC-0001", world["elder_rongcheng"])

    async with web_processes(settings, tmp_path) as (a, b), aiohttp.ClientSession() as http:
        cookie = {u: await login(http, a, u)
                  for u in ("op.wendeng", "op.city", "supervisor", "op.rongcheng")}
        seeing = [await Console.open("op.wendeng@A", a, cookie["op.wendeng"]),
                  await Console.open("op.city@B", b, cookie["op.city"]),
                  await Console.open("op.city@A", a, cookie["op.city"]),
                  await Console.open("supervisor@B", b, cookie["supervisor"])]
        blind = [await Console.open("op.rongcheng@A", a, cookie["op.rongcheng"]),
                 await Console.open("op.rongcheng@B", b, cookie["op.rongcheng"])]
        try:
            for c in seeing + blind:
                snap = await has_snapshot(c)
                assert snap["data"]["alarms"] == []

            # N events, alternately to A and B, all at once
            plan = [((f"FALL-WD-{i // 2:04d}", "fall") if i % 2 == 0
                     else (f"SOS-WD-{i // 2:04d}", "sos"), (a, b)[i % 2]) for i in range(N_EVENTS)]
            ids = await asyncio.gather(*(post_event(http, base, serial, kind)
                                         for (serial, kind), base in plan))
            expected = set(ids)
            assert len(expected) == N_EVENTS, ids
            for c in seeing:
                await c.wait_for(f"{N_EVENTS} alarms", c.has_alarms(expected))

            # Barriers: once these arrive, anything wrongly sent earlier would have arrived too
            # (each process forwards the one stream in order).
            rc_barrier = await post_event(http, b, "SOS-RC-0001", "sos")
            wd_barrier = await post_event(http, a, "FALL-WD-0000", "fall")
            for c in seeing:
                await c.wait_for("the barrier", c.has_alarms({wd_barrier}))
            for c in seeing[1:] + blind:
                await c.wait_for("the Rongcheng barrier", c.has_alarms({rc_barrier}))
        finally:
            for c in seeing + blind:
                await c.close()

    # exactly once, none missing, in stream order
    for c in seeing:
        counts = Counter(c.new_alarms())
        assert all(n == 1 for n in counts.values()), f"{c.name} duplicates: {counts}"
        visible = expected | {wd_barrier} | (set() if c.name == "op.wendeng@A" else {rc_barrier})
        assert set(counts) == visible, f"{c.name}: missing {visible - set(counts)}"
        assert_in_order_without_duplicates(c)
    # every console got the same stream entry for an alarm: one fan-out, not one per process
    for alarm_id in expected:
        assert len({c.seq_of(alarm_id) for c in seeing}) == 1
    # region filter, both ways
    for c in blind:
        assert c.new_alarms() == [rc_barrier], f"{c.name}: {c.summary()}"
        assert all(m["region"].startswith("371082") for m in c.events()), c.summary()
    assert all(m["region"].startswith("371003") for m in seeing[0].events()), seeing[0].summary()


# --------------------------------------------------------------------------- 2. resume
async def test_resume_with_last_seq_replays_exactly_what_was_missed(
        settings: Settings, db: asyncpg.Connection, world: dict[str, int],
        tmp_path: Path) -> None:
    for n in range(3):
        await factories.device(db, f"FALL-WD-{n:04d}", world["elder_wendeng"], "fall_sensor")
    counter = iter(range(10_000))

    async def post(base: str) -> int:
        n = next(counter)
        return await post_event(http, base, f"FALL-WD-{n % 3:04d}", "fall", f"fall-{n}")

    async with web_processes(settings, tmp_path) as (a, b), aiohttp.ClientSession() as http:
        cookie = await login(http, a, "op.city")
        witness = await Console.open("witness@A", a, cookie)
        resumer = await Console.open("resumer@A", a, cookie)
        again: Console | None = None
        try:
            await has_snapshot(witness)
            await has_snapshot(resumer)
            before = {await post((a, b)[n % 2]) for n in range(3)}
            await resumer.wait_for("the first alarms", resumer.has_alarms(before))
            assert set(resumer.new_alarms()) == before
            last_seq = resumer.events()[-1]["seq"]
            await resumer.close()

            missed = {await post((a, b)[n % 2]) for n in range(5)}  # while it is away
            await witness.wait_for("the missed alarms", witness.has_alarms(missed))

            # reconnect to the OTHER process while events keep arriving
            poster = asyncio.create_task(_post_many(post, (b, a), 10))
            again = await Console.open("resumer@B", b, cookie, last_seq=last_seq)
            during = await poster
            after = {await post(a)}  # and it continues live
            everything = before | missed | during | after
            await witness.wait_for("all alarms", witness.has_alarms(everything))
            await again.wait_for("all alarms", again.has_alarms(missed | during | after))
        finally:
            await witness.close()
            await resumer.close()
            if again is not None:
                await again.close()

    assert not again.snapshots(), f"replay expected, got a snapshot: {again.summary()}"
    expected = [m["seq"] for m in witness.events() if seq_key(m["seq"]) > seq_key(last_seq)]
    got = [m["seq"] for m in again.events()]
    assert got == expected, f"gap or duplicate after resume:\n got {got}\nwant {expected}"
    assert set(again.new_alarms()) == missed | during | after
    assert_in_order_without_duplicates(again)


async def _post_many(post: Callable[[str], Any], bases: tuple[str, str], n: int) -> set[int]:
    return {await post(bases[i % 2]) for i in range(n)}


# --------------------------------------------------------------------------- 3. beyond window
async def test_beyond_the_replay_window_a_fresh_snapshot(
        settings: Settings, db: asyncpg.Connection, world: dict[str, int]) -> None:
    s = settings.replace(live_replay_events=5)
    serials = [f"FALL-WD-{n:04d}" for n in range(8)]
    for serial in serials:
        await factories.device(db, serial, world["elder_wendeng"], "fall_sensor")
    redis = aioredis.from_url(s.redis_url, decode_responses=True)
    stream = redis_key(s, LIVE_STREAM)

    async def oldest_seq() -> str:
        first = await redis.xrange(stream, count=1)
        return str(first[0][0]) if first else "0-0"

    async with in_process_app(s) as base, aiohttp.ClientSession() as http:
        cookie = await login(http, base, "op.city")
        watcher = await Console.open("watcher", base, cookie)
        try:
            await has_snapshot(watcher)
            first = await post_event(http, base, serials[0], "fall")
            await watcher.wait_for("the first alarm", watcher.has_alarms({first}))
            old_seq = watcher.seq_of(first)
            # Post until Redis has trimmed the first entry away (MAXLEN ~ trims whole stream
            # nodes: some 100 entries at a time, so more than 5 entries stay).
            raised = {first}
            for _ in range(40):
                batch = await asyncio.gather(*(post_event(http, base, serial, "fall")
                                               for serial in serials))
                raised |= set(batch)
                await watcher.wait_for("the batch", watcher.has_alarms(set(batch)))
                if seq_key(await oldest_seq()) > seq_key(old_seq):
                    break
            else:
                raise AssertionError("the live stream was never trimmed")
            length = await redis.xlen(stream)
            assert length < len(raised), (length, len(raised))

            # meanwhile one alarm is closed (off the console) and one resolved (stays on it until
            # closed, so the operator can still close it)
            closed_id, resolved_id = sorted(raised)[:2]
            await db.execute("UPDATE alarms SET state = 'closed' WHERE id = $1", closed_id)
            await db.execute("UPDATE alarms SET state = 'resolved' WHERE id = $1", resolved_id)
            listed = {r["id"] for r in await db.fetch(
                "SELECT id FROM alarms WHERE state <> 'closed'")}
            assert listed == raised - {closed_id}

            # a seq inside the window still replays
            recent_seq = watcher.events()[-3]["seq"]
            replayed = await Console.open("recent", base, cookie, last_seq=recent_seq)
            await replayed.wait_for("two entries", lambda c: len(c.messages) >= 2)
            assert not replayed.snapshots()
            assert [m["seq"] for m in replayed.messages] == \
                [m["seq"] for m in watcher.events()[-2:]]
            await replayed.close()

            # a seq beyond it gets a fresh snapshot with every open alarm, then live events
            stale = await Console.open("stale", base, cookie, last_seq=old_seq)
            snap = await has_snapshot(stale)
            assert {card["id"] for card in snap["data"]["alarms"]} == listed
            assert snap["data"]["queue"] == {"offered": len(listed) - 1, "resolved": 1}
            assert seq_key(snap["seq"]) >= seq_key(watcher.events()[-1]["seq"])
            live = await post_event(http, base, serials[1], "fall")
            await stale.wait_for("a live alarm", stale.has_alarms({live}))
            assert stale.new_alarms() == [live]
            await stale.close()
        finally:
            await watcher.close()
            await redis.aclose()


# --------------------------------------------------------------------------- 4. who may connect
async def test_only_users_with_a_session_may_open_the_live_socket(
        settings: Settings, world: dict[str, int]) -> None:
    async with in_process_app(settings) as base, aiohttp.ClientSession() as http:
        for username in ("ps.001", "pa.001"):  # provider roles: their offers and jobs only
            console = await Console.open(username, base, await login(http, base, username))
            snap = await has_snapshot(console)
            assert "alarms" not in snap["data"] and snap["data"]["jobs"] == [], username
            await console.close()

        with pytest.raises(InvalidStatus) as anonymous:
            await connect(ws_url(base), open_timeout=WAIT_S)
        assert anonymous.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as forged:
            await connect(ws_url(base), open_timeout=WAIT_S,
                          additional_headers={"Cookie": "anxin_session=not-a-session"})
        assert forged.value.response.status_code == 401

        # a logged-in operator from another site is refused too (cross-site websocket)
        cookie = await login(http, base, "op.city")
        with pytest.raises(InvalidStatus) as cross_site:
            await connect(ws_url(base), open_timeout=WAIT_S, origin="http://evil.example",
                          additional_headers={"Cookie": f"anxin_session={cookie}"})
        assert cross_site.value.response.status_code == 403

        for username in ("op.city", "supervisor", "admin"):  # and staff get in
            console = await Console.open(username, base, await login(http, base, username))
            await has_snapshot(console)
            await console.close()


async def test_shutting_down_tells_every_console_to_go_away_first(
        settings: Settings, world: dict[str, int]) -> None:
    """The shutdown hooks close the consoles GOING_AWAY before the server waits for its open
    connections (regression: an open console held `callcenter demo`'s Ctrl-C for ~20 s)."""
    server = TestServer(create_app(settings))
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            console = await Console.open("op.city", base, await login(http, base, "op.city"))
            await has_snapshot(console)
            await server.app.shutdown()  # what the runner does before that wait
            assert console.reader is not None
            await asyncio.wait_for(console.reader, WAIT_S)  # its reader ends with the socket
            assert console.ws.close_code == 1001  # GOING_AWAY: reconnect elsewhere
    finally:
        await server.close()


# --------------------------------------------------------------------------- one device, at once
# Regression: ingest() used to INSERT the event (its foreign key takes FOR KEY SHARE on the
# device row) and only then SELECT ... FOR UPDATE the device; two concurrent events of one device
# deadlocked and one answered 500 with its event lost. Fixed in 1ea3f29 (FOR NO KEY UPDATE first).
async def test_concurrent_events_of_one_device_are_all_accepted(
        settings: Settings, db: asyncpg.Connection, world: dict[str, int]) -> None:
    await factories.device(db, "FALL-WD-0000", world["elder_wendeng"], "fall_sensor")
    async with in_process_app(settings) as base, aiohttp.ClientSession() as http:
        async def one(n: int) -> int:
            body = event_body(f"burst-{n}", "fall")
            async with http.post(f"{base}/api/v1/devices/FALL-WD-0000/events", data=body,
                                 headers=signed_headers(body)) as resp:
                return resp.status

        statuses = await asyncio.gather(*(one(n) for n in range(8)))
    stored = await db.fetchval("SELECT count(*) FROM device_events")
    assert statuses == [202] * 8 and stored == 8, (statuses, stored)


# --------------------------------------------------------------------------- server bug
class WatchedEvent(asyncio.Event):
    """An asyncio.Event that tells when someone is waiting on it."""

    def __init__(self) -> None:
        super().__init__()
        self.parked = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.parked.set()
        return await super().wait()


async def test_the_outbox_relay_stops_when_cancelled_as_a_notification_arrives(
        settings: Settings) -> None:
    app = create_app(settings.replace(background_tasks=False))  # we run the relay loop ourselves
    server = TestServer(app)
    await server.start_server()
    wake = WatchedEvent()
    relay = asyncio.create_task(outbox._relay_loop(app, wake, asyncio.Event()),
                                name="relay under test")
    try:
        await asyncio.wait_for(wake.parked.wait(), WAIT_S)  # nothing to relay: it parks
        wake.set()  # what the NOTIFY callback does ...
        relay.cancel()  # ... just as relay_ctx stops the relay at shutdown
        done, _ = await asyncio.wait({relay}, timeout=2)
    finally:
        while not relay.done():  # a second cancel, not racing a wake-up, does stop it
            relay.cancel()
            await asyncio.wait({relay}, timeout=2)
        await server.close()
    assert relay in done and relay.cancelled(), "the relay kept running after cancel()"
