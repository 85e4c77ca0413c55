"""The city simulator's network clients: a device sender (HMAC-signed events over HTTP), a CTI
poster (bearer token), operator consoles and provider staff (HTTP + a `websockets` live
channel each). Every response is counted; a 5xx, or any status a client did not expect, is
kept as a problem for the run's report."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import websockets

from callcenter import sim_plan
from callcenter.auth import SESSION_COOKIE
from callcenter.device_events import sign

TZ = dt.timezone(dt.timedelta(hours=8))


def now_iso() -> str:
    return dt.datetime.now(TZ).isoformat()


def _when(value: Any) -> dt.datetime | None:
    """A time the server wrote (ISO 8601 or Python's str(datetime)); None if unreadable."""
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass
class Stats:
    """What all clients saw, shared by the run."""
    statuses: Counter[str] = field(default_factory=Counter)
    per_base: Counter[str] = field(default_factory=Counter)  # requests answered, by server
    problems: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)  # CTI call_id -> calls.id
    alarms: set[int] = field(default_factory=set)  # alarms the simulated events raised
    orders: set[int] = field(default_factory=set)
    no_shows: set[int] = field(default_factory=set)
    declines: int = 0
    accepted: int = 0
    completed: int = 0
    handled_alarms: int = 0
    care_calls: int = 0  # outcomes recorded on the outbound care list
    late_s: float = 0.0  # how far behind its schedule a sender fell, at worst

    def server_errors(self) -> int:
        return sum(n for k, n in self.statuses.items() if k.rsplit(" ", 1)[-1].startswith("5"))

    def client_errors(self) -> int:
        """Requests that got no answer (timeouts, refused connections)."""
        return sum(n for k, n in self.statuses.items() if k.endswith(" error"))


class Http:
    """One client's HTTP session: its own cookie and CSRF token."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, stats: Stats) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.stats = stats
        self.cookie = ""
        self.csrf = ""

    async def call(self, method: str, path: str, body: Any = None, *, label: str = "",
                   expect: tuple[int, ...] = (200,), headers: dict[str, str] | None = None,
                   data: bytes | None = None) -> tuple[int, Any]:
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = f"{SESSION_COOKIE}={self.cookie}"
        if self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        try:
            async with self.session.request(method, self.base_url + path, data=data,
                                            headers=h) as resp:
                status = resp.status
                text = await resp.text()
                if status == 200 and path == "/api/v1/auth/login":
                    morsel = resp.cookies.get(SESSION_COOKIE)
                    self.cookie = morsel.value if morsel is not None else ""
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.stats.statuses[f"{method} {label or path} error"] += 1
            self.stats.problems.append(f"{method} {path}: {exc!r}")
            return 0, None
        self.stats.statuses[f"{method} {label or path} {status}"] += 1
        self.stats.per_base[self.base_url] += 1
        try:
            out = json.loads(text) if text else None
        except ValueError:
            out = text
        if status not in expect:
            self.stats.problems.append(f"{method} {path} {body if body is not None else ''}"
                                       f" -> {status} {text[:300]}")
        return status, out

    async def login(self, username: str, password: str) -> dict[str, Any]:
        status, out = await self.call("POST", "/api/v1/auth/login",
                                      {"username": username, "password": password})
        if status != 200 or not isinstance(out, dict):
            raise RuntimeError(f"login {username} failed: {status} {out}")
        self.csrf = out["csrf_token"]
        return dict(out["user"])

    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws/console"


class Devices:
    """Sends signed device events, in turn to each web process."""

    def __init__(self, https: list[Http], devices: dict[str, sim_plan.Device]) -> None:
        self.https, self.devices = https, devices
        self.sent = 0

    async def send(self, a: sim_plan.Action) -> None:
        http = self.https[self.sent % len(self.https)]
        self.sent += 1
        body: dict[str, Any] = {"event_id": a.ref, "type": a.event_type,
                                "occurred_at": now_iso()}
        if a.location is not None:
            body["location"] = {"lat": a.location[0], "lon": a.location[1], "crs": "wgs84"}
        if a.battery is not None:
            body["battery"] = a.battery
        raw = json.dumps(body).encode()
        stamp = int(time.time())
        secret = self.devices[a.serial].secret
        headers = {"X-Anxin-Timestamp": str(stamp), "X-Anxin-Signature": sign(secret, stamp, raw)}
        status, out = await http.call("POST", f"/api/v1/devices/{a.serial}/events",
                                      data=raw, headers=headers, expect=(200, 202),
                                      label="/api/v1/devices/{serial}/events")
        if isinstance(out, dict) and out.get("alarm_id"):
            http.stats.alarms.add(int(out["alarm_id"]))


class Cti:
    """Posts a call's CTI events: ringing, answered or abandoned, hangup; each call's events
    to one web process, the calls in turn to each."""

    def __init__(self, https: list[Http], token: str, operators: dict[str, Operator]) -> None:
        self.https, self.token, self.operators = https, token, operators
        self.placed = 0

    async def _post(self, http: Http, a: sim_plan.Action, event: str, **extra: Any
                    ) -> dict[str, Any]:
        body = {"call_id": a.ref, "event": event, "ani": a.ani, "dnis": "12349",
                "at": now_iso(), **extra}
        _, out = await http.call("POST", "/api/v1/cti/events", body,
                                 headers={"Authorization": f"Bearer {self.token}"},
                                 label=f"/api/v1/cti/events {event}")
        return out if isinstance(out, dict) else {}

    async def run(self, a: sim_plan.Action) -> None:
        http = self.https[self.placed % len(self.https)]
        self.placed += 1
        out = await self._post(http, a, "ringing")
        if out.get("id"):
            http.stats.calls[a.ref] = int(out["id"])
        if out.get("alarm_id"):
            http.stats.alarms.add(int(out["alarm_id"]))
        await asyncio.sleep(a.ring_after)
        if a.abandoned:
            await self._post(http, a, "abandoned")
            return
        await self._post(http, a, "answered", agent=a.agent)
        operator = self.operators.get(a.agent)
        if a.item_code and operator is not None and a.elder_id is not None and out.get("id"):
            await operator.create_order(a.elder_id, a.item_code, int(out["id"]))
        await asyncio.sleep(a.talk_after)
        await self._post(http, a, "hangup")


class Live:
    """A `websockets` client on /ws/console that wakes its owner on matching messages."""

    def __init__(self, http: Http, prefix: str, wake: asyncio.Event) -> None:
        self.http, self.prefix, self.wake = http, prefix, wake
        self.task: asyncio.Task[None] | None = None
        self.messages = 0

    async def start(self) -> None:
        ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(ready), name="sim-live")
        await asyncio.wait_for(ready.wait(), 10)

    async def _run(self, ready: asyncio.Event) -> None:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.http.cookie}"}
        async with websockets.connect(self.http.ws_url(), additional_headers=headers,
                                      open_timeout=10) as ws:
            ready.set()
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    self.messages += 1
                    msg = json.loads(raw)
                    if str(msg.get("type", "")).startswith(self.prefix):
                        self.wake.set()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class Actor:
    poll_s = 0.5

    def __init__(self, http: Http, login: sim_plan.Login, password: str, seed: int,
                 speed: float) -> None:
        self.http, self.login_info, self.password = http, login, password
        self.seed, self.speed = seed, speed
        self.wake = asyncio.Event()
        self.user_id = 0
        self.live: Live | None = None
        self.loop_task: asyncio.Task[None] | None = None
        self.jobs: set[asyncio.Task[None]] = set()
        self.halt = asyncio.Event()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)

    async def _loop(self) -> None:
        while not self.halt.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.poll_s)
            self.wake.clear()
            await self.tick()

    async def tick(self) -> None:
        raise NotImplementedError

    async def begin(self, prefix: str) -> None:
        self.live = Live(self.http, prefix, self.wake)
        await self.live.start()
        self.loop_task = asyncio.create_task(self._loop(), name="sim-actor")

    def cancel(self) -> None:
        """Stop at once (the run was cancelled): the loop, the jobs in flight and the live
        channel (whose websocket, left open, would hold the server's shutdown)."""
        self.halt.set()
        live = self.live.task if self.live is not None else None
        for task in [self.loop_task, *self.jobs, live]:
            if task is not None:
                task.cancel()

    async def end(self) -> None:
        self.halt.set()
        if self.loop_task is not None:
            await asyncio.gather(self.loop_task, return_exceptions=True)
        if self.jobs:
            await asyncio.gather(*list(self.jobs), return_exceptions=True)
        if self.live is not None:
            await self.live.stop()


class Operator(Actor):
    """A console: on duty, takes alarms offered to it (or to the whole region, or to someone
    the simulator does not play), records a step, resolves, closes; creates orders for calls.
    With `care_items` (the catalogue's codes) it also works its outbound care list between
    alarms: one elder at a time, a call of about two minutes, an outcome from the seed."""
    care_call_s = 120.0  # a care call, city time

    def __init__(self, *args: Any, colleagues: set[int], care_items: tuple[str, ...] = (),
                 care: bool = False, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.colleagues = colleagues  # user ids of all simulated operators
        self.taken: set[int] = set()
        self.care, self.care_items = care, care_items
        self.care_attempts: Counter[int] = Counter()

    async def start(self) -> None:
        self.user_id = int((await self.http.login(self.login_info.username, self.password))["id"])
        self.colleagues.add(self.user_id)
        await self.http.call("POST", "/api/v1/presence", {"on_duty": True, "available": True})
        await self.begin("alarm.")
        if self.care:
            self.spawn(self.care_loop())

    async def care_loop(self) -> None:
        pause_s = max(self.care_call_s / self.speed, 0.5)
        while not self.halt.is_set():
            await asyncio.sleep(pause_s)
            if len(self.jobs) > 1:  # alarms first: this loop is one of the jobs
                continue
            status, out = await self.http.call("GET", "/api/v1/care/worklist?limit=20",
                                               label="/api/v1/care/worklist")
            items = out.get("items", []) if status == 200 and isinstance(out, dict) else []
            now = _when(out.get("now")) if isinstance(out, dict) else None
            # the server lists what this operator may work: theirs, then the pool's
            due = [i for i in items if self._due(i.get("next_attempt_at"), now)]
            if due:
                await self.care_call(due[0])

    @staticmethod
    def _due(next_attempt_at: Any, now: dt.datetime | None) -> bool:
        if not next_attempt_at:
            return True
        at = _when(next_attempt_at)
        return at is not None and now is not None and at <= now

    async def care_call(self, item: dict[str, Any]) -> None:
        task_id = int(item["task_id"])
        self.care_attempts[task_id] += 1
        body = sim_plan.care_outcome_for(self.seed, task_id, self.care_attempts[task_id],
                                         self.care_items)
        status, _ = await self.http.call("POST", f"/api/v1/care/tasks/{task_id}/outcome", body,
                                         label="/api/v1/care/tasks/{id}/outcome",
                                         expect=(200, 409))  # 409: a colleague got there first
        if status == 200:
            self.http.stats.care_calls += 1

    async def stop(self) -> None:
        await self.end()
        await self.http.call("POST", "/api/v1/presence", {"on_duty": False})

    async def tick(self) -> None:
        _, out = await self.http.call("GET", "/api/v1/alarms?limit=500", label="/api/v1/alarms")
        for card in (out or {}).get("items", []) if isinstance(out, dict) else []:
            aid, to = int(card["id"]), card.get("offered_to")
            if aid in self.taken or card["state"] not in ("queued", "offered"):
                continue
            if to in (None, self.user_id) or to not in self.colleagues:
                self.taken.add(aid)
                self.spawn(self.handle(aid))

    async def handle(self, alarm_id: int) -> None:
        status, _ = await self.http.call("POST", f"/api/v1/alarms/{alarm_id}/acknowledge",
                                         label="/api/v1/alarms/{id}/acknowledge",
                                         expect=(200, 409))
        if status != 200:
            return
        await asyncio.sleep(min(60.0 / self.speed, 2.0))
        await self.http.call("POST", f"/api/v1/alarms/{alarm_id}/actions",
                             {"action": "call_elder", "result": "reached"},
                             label="/api/v1/alarms/{id}/actions")
        await asyncio.sleep(min(90.0 / self.speed, 2.0))
        outcome = sim_plan.outcome_for(self.seed, alarm_id)
        await self.http.call("POST", f"/api/v1/alarms/{alarm_id}/resolve",
                             {"outcome": outcome, "note": "模拟处置 (simulated)"},
                             label="/api/v1/alarms/{id}/resolve")
        status, _ = await self.http.call("POST", f"/api/v1/alarms/{alarm_id}/close",
                                         label="/api/v1/alarms/{id}/close")
        if status == 200:
            self.http.stats.handled_alarms += 1

    async def create_order(self, elder_id: int, item_code: str, call_id: int) -> None:
        body: dict[str, Any] = {"elder_id": elder_id, "item_code": item_code,
                                "call_id": call_id, "note": "来电预约 (simulated call)"}
        status, out = await self.http.call("POST", "/api/v1/orders", body, expect=(201, 409))
        if status == 409 and isinstance(out, dict) and out.get("error") == "over_budget":
            # the operator tells the elder the subsidy does not cover it all; the elder agrees
            status, out = await self.http.call(
                "POST", "/api/v1/orders", {**body, "self_pay_confirmed": True}, expect=(201,))
        elif status == 409:
            self.http.stats.problems.append(f"POST /api/v1/orders 409: {out}")
        if status == 201 and isinstance(out, dict):
            self.http.stats.orders.add(int(out["id"]))


class Staff(Actor):
    """A provider staff member: on shift, shares a location, answers offers (some declines,
    some no-shows), travels, checks in near the elder's home and checks out."""

    def __init__(self, *args: Any, decline_share: float, no_show_share: float, **kw: Any
                 ) -> None:
        super().__init__(*args, **kw)
        self.decline_share, self.no_show_share = decline_share, no_show_share
        self.answered: set[int] = set()
        self.where = self.login_info.home or (37.51, 122.12)
        self.last_fix = 0.0

    async def start(self) -> None:
        self.user_id = int((await self.http.login(self.login_info.username, self.password))["id"])
        await self.http.call("POST", "/api/v1/me/shift", {"on_shift": True})
        await self.report(self.where)
        await self.begin("order.")

    async def stop(self) -> None:
        await self.end()
        await self.http.call("POST", "/api/v1/me/shift", {"on_shift": False})

    async def report(self, where: tuple[float, float]) -> None:
        self.where, self.last_fix = where, time.monotonic()
        await self.http.call("POST", "/api/v1/me/location", {"lat": where[0], "lon": where[1]})

    async def tick(self) -> None:
        if time.monotonic() - self.last_fix > 60 and not self.jobs:
            await self.report(self.where)  # stays fresh for matching (5 minutes)
        _, out = await self.http.call("GET", "/api/v1/me/offers")
        for item in (out or {}).get("items", []) if isinstance(out, dict) else []:
            offer_id = int(item["offer_id"])
            if offer_id in self.answered:
                continue
            self.answered.add(offer_id)
            choice = sim_plan.staff_choice(self.seed, self.login_info.username, offer_id,
                                           self.decline_share, self.no_show_share)
            order = item["order"]
            if choice == "decline":
                self.http.stats.declines += 1
                await self.http.call("POST", f"/api/v1/offers/{offer_id}/decline",
                                     {"reason": "模拟拒单 (simulated decline)"},
                                     label="/api/v1/offers/{id}/decline", expect=(200, 409))
                continue
            status, _ = await self.http.call("POST", f"/api/v1/offers/{offer_id}/accept", {},
                                             label="/api/v1/offers/{id}/accept",
                                             expect=(200, 409))
            if status != 200:
                continue
            self.http.stats.accepted += 1
            if choice == "no_show":
                self.http.stats.no_shows.add(int(order["id"]))
            else:
                self.spawn(self.job(order))

    async def job(self, order: dict[str, Any]) -> None:
        oid = int(order["id"])
        loc = order["elder"].get("location")
        home = (float(loc["lat"]), float(loc["lon"])) if loc else self.where
        path = f"/api/v1/jobs/{oid}"
        await self.http.call("POST", f"{path}/travel", {}, label="/api/v1/jobs/{id}/travel")
        start = self.where
        for step in (1, 2, 3):  # ~15 city minutes on the road
            await asyncio.sleep(min(300.0 / self.speed, 1.0))
            f = step / 4
            await self.report((start[0] + (home[0] - start[0]) * f,
                               start[1] + (home[1] - start[1]) * f))
        near = (home[0] + 30 / 111_320.0, home[1])  # 30 m north of the door
        await self.report(near)
        status, _ = await self.http.call("POST", f"{path}/check_in",
                                         {"lat": near[0], "lon": near[1]},
                                         label="/api/v1/jobs/{id}/check_in")
        if status != 200:
            return
        minutes = float(order["item"].get("duration_min") or 30)
        await asyncio.sleep(min(minutes * 60.0 / self.speed, 2.0))
        status, _ = await self.http.call("POST", f"{path}/check_out",
                                         {"note": "模拟服务完成 (simulated visit done)"},
                                         label="/api/v1/jobs/{id}/check_out")
        if status == 200:
            self.http.stats.completed += 1
