"""The live channel (SPEC §6): consoles hold a websocket; every web process reads the one Redis
Stream the outbox relay writes, and forwards each entry to its own consoles that may see it.

`seq` is the stream entry id ("1700000000000-0"). A console that reconnects with its last seq
gets what it missed from the stream; if that has been trimmed away (or no seq is given) it gets a
fresh snapshot. The connection is registered before the replay or snapshot is read, and each
connection drops entries at or below the last seq it sent, so there is no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from callcenter import alarms, auth, keys, tasks
from callcenter.errors import Forbidden
from callcenter.keys import redis_key
from callcenter.outbox import LIVE_STREAM
from callcenter.routing import ALL_ROLES, Routes
from dispatch import orders, states

log = logging.getLogger("callcenter.live")
routes = Routes("live", "实时通道 (live channel, websocket)")
PENDING_MAX = 1000  # entries held for a console while its catch-up is being sent
WRITE_BUFFER_MAX = 1 << 20  # unsent bytes beyond which a console is told to resync
PROVIDER_ROLES = frozenset({"provider_staff", "provider_admin"})


def seq_key(seq: str) -> tuple[int, int]:
    ms, _, n = seq.partition("-")
    return int(ms), int(n or 0)


def text_frame(text: str) -> bytes:
    """An unmasked, uncompressed websocket text frame (RFC 6455 §5.2), as a server sends it:
    built once per entry and written as is to every console that may see it."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


@dataclass(eq=False)
class Console:
    """One connected console: who it is, the socket's transport, and where it has got to.

    Until its replay or snapshot has been sent the console is not `live`: entries published
    meanwhile wait in `pending`. From then on the hub writes each entry's frame straight to the
    transport, in stream order, in the reader's own pass (no queue and no task per console)."""
    ws: web.WebSocketResponse
    principal: auth.Principal
    transport: asyncio.Transport | None = None
    last: tuple[int, int] = (0, 0)
    live: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)
    overflowed: bool = False
    staff_id: int | None = None  # a provider staff member's record

    def may_see(self, entry: dict[str, Any]) -> bool:
        """Staff roles: what happens in their region. Provider roles: only the orders offered
        or assigned to them (staff) or to their organisation's people (provider admin)."""
        role = self.principal.role
        if role in PROVIDER_ROLES:
            data = entry.get("data")
            audience = data.get("audience") if isinstance(data, dict) else None
            if not isinstance(audience, dict):
                return False
            if role == "provider_staff":
                return self.staff_id is not None and self.staff_id in audience.get("staff", ())
            return self.principal.provider_id in audience.get("providers", ())
        path = entry.get("path") or ""
        return bool(path) and self.principal.covers(path)

    def deliver(self, entry: dict[str, Any]) -> bool:
        """Write the entry unless already sent; False when the console cannot keep up (its
        unsent bytes pass WRITE_BUFFER_MAX): it must be told to resync."""
        key = seq_key(entry["seq"])
        if key <= self.last:
            return True
        transport = self.transport
        if transport is None or transport.is_closing():
            return True  # the socket is going: its handler unregisters it
        if transport.get_write_buffer_size() > WRITE_BUFFER_MAX:
            return False
        self.last = key
        transport.write(entry["frame"])
        return True

    def go_live(self) -> bool:
        """After the catch-up: send what was published meanwhile, then take entries directly."""
        pending, self.pending = self.pending, []
        self.live = True
        return all(self.deliver(entry) for entry in pending)


@dataclass(eq=False)
class Hub:
    consoles: set[Console] = field(default_factory=set)
    closing: set[asyncio.Task[bool]] = field(default_factory=set)

    def publish(self, entry: dict[str, Any]) -> None:
        for console in list(self.consoles):
            if not console.may_see(entry):
                continue
            if not console.live:
                console.pending.append(entry)
                if len(console.pending) <= PENDING_MAX:
                    continue
            elif console.deliver(entry):
                continue
            self.resync(console)

    def resync(self, console: Console) -> None:
        """A stalled console: close it so it reconnects with its last seq and replays what it
        missed from the stream (nothing is lost to it)."""
        console.overflowed = True
        console.pending = []
        self.consoles.discard(console)
        task = asyncio.get_running_loop().create_task(
            console.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"resync"))
        self.closing.add(task)
        task.add_done_callback(self.closing.discard)


HUB = web.AppKey("live_hub", Hub)


Entries = list[tuple[str, dict[str, str]]]


async def _range(r: aioredis.Redis, stream: str, *, reverse: bool = False, **kw: Any) -> Entries:
    """XRANGE / XREVRANGE with the client's loose typing narrowed (decode_responses=True)."""
    raw: Any = await (r.xrevrange(stream, **kw) if reverse else r.xrange(stream, **kw))
    return list(raw or [])


def _entry(entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A stream entry, with its console message serialised once for every console."""
    entry = {"seq": entry_id, "type": fields.get("type", ""), "region": fields.get("region", ""),
             "path": fields.get("path", ""), "data": json.loads(fields.get("data", "{}"))}
    entry["text"] = message(entry)
    entry["frame"] = text_frame(entry["text"])
    return entry


def message(entry: dict[str, Any]) -> str:
    return json.dumps({k: entry[k] for k in ("seq", "type", "region", "data")},
                      ensure_ascii=False, default=str)


async def _read_stream(app: web.Application, r: aioredis.Redis, halt: asyncio.Event) -> None:
    s, hub = app[keys.SETTINGS], app[HUB]
    stream = redis_key(s, LIVE_STREAM)
    last = "$"
    backoff_s = 0.1
    while not halt.is_set():
        try:
            if last == "$":
                top = await _range(r, stream, reverse=True, count=1)
                last = top[0][0] if top else "0-0"
            batches: Any = await r.xread({stream: last}, block=1000, count=500)
            backoff_s = 0.1
        except (RedisError, OSError) as exc:
            log.warning("live reader waiting for Redis: %s", exc.__class__.__name__)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 5.0)
            continue
        for _, entries in batches or []:
            for entry_id, fields in entries:
                last = entry_id
                hub.publish(_entry(entry_id, fields))


async def close_consoles(app: web.Application) -> None:
    """On shutdown, before the server waits for its open connections: every console is closed
    GOING_AWAY (it reconnects to another process), so no websocket holds the shutdown."""
    for console in list(app[HUB].consoles):
        await console.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The per-process stream reader; consoles are closed GOING_AWAY on shutdown."""
    s = app[keys.SETTINGS]
    app[HUB] = Hub()
    reader = aioredis.from_url(s.redis_url, decode_responses=True, socket_connect_timeout=2,
                               socket_timeout=10)
    halt = asyncio.Event()
    task = asyncio.create_task(_read_stream(app, reader, halt), name="live-reader")
    yield
    await tasks.stop(task, halt)
    await close_consoles(app)  # any that connected after the shutdown began
    await reader.aclose()


async def snapshot(request: web.Request, p: auth.Principal) -> dict[str, Any]:
    """Open alarms, queue counts and operators on duty in the user's region."""
    db = request.app[keys.DB]
    today = dt.datetime.now(request.app[keys.SETTINGS].tz).date()
    rows = await db.fetch(
        alarms.CARD_SQL + f" WHERE a.state <> 'closed' AND {auth.scope_sql(1)}"
        " ORDER BY a.priority, a.created_at LIMIT 500", *auth.scope_args(p))
    cards = [alarms.card(row, today) for row in rows]
    counts: dict[str, int] = {}
    for c in cards:
        counts[c["state"]] = counts.get(c["state"], 0) + 1
    operators = await db.fetch(
        "SELECT u.id, u.display_name, u.region_code, p.available FROM operator_presence p"
        " JOIN users u ON u.id = p.user_id JOIN regions r ON r.code = u.region_code"
        f" WHERE p.on_duty AND {auth.scope_sql(1)} ORDER BY u.display_name",
        *auth.scope_args(p))
    active = await db.fetch(
        orders.CARD_SQL + f" WHERE o.state = ANY($3::text[]) AND {auth.scope_sql(1)}"
        " ORDER BY o.id DESC LIMIT 300", *auth.scope_args(p), list(states.ACTIVE_STATES))
    return {"alarms": cards, "queue": counts, "operators": [dict(o) for o in operators],
            "orders": [orders.card(o) for o in active]}


async def provider_snapshot(request: web.Request, p: auth.Principal, staff_id: int | None
                            ) -> dict[str, Any]:
    """A staff member's pending offers and jobs in hand; a provider admin's active jobs."""
    db = request.app[keys.DB]
    now = dt.datetime.now(dt.UTC)
    if p.role == "provider_staff":
        pending = await db.fetch(
            "SELECT id, order_id, expires_at, distance_m FROM offers WHERE staff_id = $1"
            " AND state = 'pending' AND expires_at > $2 ORDER BY offered_at", staff_id, now)
        offers = [{"offer_id": f["id"], "expires_at": f["expires_at"],
                   "distance_m": f["distance_m"],
                   "order": await orders.load_card(db, f["order_id"])} for f in pending]
        where, owner = "o.staff_id = $1", staff_id
    else:
        offers, where, owner = [], "o.provider_id = $1", p.provider_id
    jobs = await db.fetch(orders.CARD_SQL + f" WHERE {where} AND o.state = ANY($2::text[])"
                          " ORDER BY o.id DESC LIMIT 200", owner, list(states.ASSIGNED_STATES))
    return {"offers": offers, "jobs": [orders.card(j) for j in jobs]}


@routes.get("/ws/console", name="live_console", roles=ALL_ROLES, page=False,
            summary="实时通道 (live websocket: snapshot, then {seq, type, region, data}; "
                    "reconnect with ?last_seq= to replay what was missed; consoles see their "
                    "region, provider staff their own offers and jobs, provider admins their "
                    "organisation's)")
async def console_socket(request: web.Request) -> web.StreamResponse:
    p = auth.principal(request)
    app = request.app
    r, s, hub = app[keys.REDIS], app[keys.SETTINGS], app[HUB]
    stream = redis_key(s, LIVE_STREAM)
    origin = request.headers.get("Origin")
    if origin and origin.split("://", 1)[-1] != request.host:
        raise Forbidden("跨站连接被拒绝 (cross-site websocket refused)",
                        fields={"Origin": "与本站不符 (not this site)"})
    # uncompressed: one frame is built per entry and written as is to every console
    ws = web.WebSocketResponse(heartbeat=20, compress=False)
    await ws.prepare(request)
    console = Console(ws, p, request.transport)
    if p.role == "provider_staff":
        console.staff_id = await app[keys.DB].fetchval(
            "SELECT id FROM staff WHERE user_id = $1", p.user_id)
    hub.consoles.add(console)  # registered first: what is published from now on is held
    try:
        try:
            await _catch_up(request, console, r, stream)
        except ConnectionResetError:  # gone during the catch-up (or told to resync)
            return ws
        # only now send what was held: entries the catch-up already sent are skipped by seq
        if not console.overflowed and not console.go_live():
            hub.resync(console)
        async for msg in ws:  # only this handler reads the socket
            if msg.type == WSMsgType.TEXT:
                await _client_message(console, msg.data)
            elif msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.consoles.discard(console)
    return ws


async def _catch_up(request: web.Request, console: Console, r: aioredis.Redis, stream: str
                    ) -> None:
    last_seq = request.query.get("last_seq", "")
    first = await _range(r, stream, count=1)
    if last_seq and _valid_seq(last_seq) and first and seq_key(first[0][0]) <= seq_key(last_seq):
        for entry_id, fields in await _range(r, stream, min=f"({last_seq}", max="+"):
            entry = _entry(entry_id, fields)
            if console.may_see(entry):
                await console.ws.send_str(entry["text"])
            console.last = seq_key(entry_id)
        console.last = max(console.last, seq_key(last_seq))
        return
    top = await _range(r, stream, reverse=True, count=1)
    seq = top[0][0] if top else "0-0"
    console.last = seq_key(seq)
    if console.principal.role in PROVIDER_ROLES:
        data = await provider_snapshot(request, console.principal, console.staff_id)
    else:
        data = await snapshot(request, console.principal)
    await console.ws.send_str(json.dumps({"seq": seq, "type": "snapshot", "region":
                                          console.principal.region_code, "data": data},
                                         ensure_ascii=False, default=str))


def _valid_seq(seq: str) -> bool:
    ms, _, n = seq.partition("-")
    return ms.isdigit() and (n == "" or n.isdigit()) and len(seq) < 40


async def _client_message(console: Console, text: str) -> None:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("type") == "ping":
        await console.ws.send_str(json.dumps({"type": "pong"}))
    else:
        await console.ws.send_str(json.dumps(
            {"type": "error", "data": {"message": "只接受 ping (only ping is accepted; use the "
                                                  "HTTP API for actions)"}}))
