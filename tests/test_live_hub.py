"""The per-process hub without sockets: region filter, held entries during the catch-up, a
stalled console told to resync; and the hand-built frame read back by a real client."""

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from callcenter import auth
from callcenter.live import PENDING_MAX, WRITE_BUFFER_MAX, Console, Hub, seq_key, text_frame


class FakeSocket:
    """Stands in for the websocket: records the close the hub asks for."""

    def __init__(self) -> None:
        self.closed_with: int | None = None

    async def close(self, *, code: int, message: bytes = b"") -> bool:
        self.closed_with = code
        return True


class FakeTransport:
    """Records the frames written; `backlog` is the bytes the peer has not read yet."""

    def __init__(self, backlog: int = 0) -> None:
        self.frames: list[bytes] = []
        self.backlog = backlog

    def write(self, data: bytes) -> None:
        self.frames.append(data)

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.backlog


def principal(path: str) -> auth.Principal:
    return auth.Principal(1, "op", "op", "operator", path.split(".")[-1], "x", path, None, "c",
                          b"h")


def entry(n: int, path: str = "371000.371003.371003001") -> dict[str, Any]:
    text = f'{{"seq": "{1000 + n}-0"}}'
    return {"seq": f"{1000 + n}-0", "type": "alarm.new", "region": path.split(".")[-1],
            "path": path, "data": {}, "text": text, "frame": text_frame(text)}


def console(path: str, backlog: int = 0) -> tuple[Console, FakeTransport]:
    transport = FakeTransport(backlog)
    c = Console(FakeSocket(), principal(path), transport, live=True)  # type: ignore[arg-type]
    return c, transport


async def test_region_filter() -> None:
    hub = Hub()
    (wendeng, w), (rongcheng, r), (city, c) = (
        console("371000.371003"), console("371000.371082"), console("371000"))
    hub.consoles |= {wendeng, rongcheng, city}
    hub.publish(entry(1))
    hub.publish(entry(2, "371000.371082.371082001"))
    hub.publish({**entry(3), "path": ""})  # no region: nobody
    assert w.frames == [entry(1)["frame"]] and r.frames == [entry(2)["frame"]]
    assert c.frames == [entry(1)["frame"], entry(2)["frame"]]


async def test_held_during_catch_up_then_sent_once_in_order() -> None:
    hub = Hub()
    c, t = console("371000")
    c.live = False
    hub.consoles.add(c)
    for n in range(1, 5):
        hub.publish(entry(n))
    assert t.frames == []
    c.last = seq_key(entry(2)["seq"])  # the catch-up already sent 1 and 2
    assert c.go_live()
    hub.publish(entry(5))
    hub.publish(entry(5))  # the same entry again is not sent twice
    assert t.frames == [entry(n)["frame"] for n in (3, 4, 5)]


async def test_stalled_console_is_told_to_resync() -> None:
    hub = Hub()
    slow, t = console("371000", backlog=WRITE_BUFFER_MAX + 1)
    hub.consoles.add(slow)
    hub.publish(entry(1))
    assert slow not in hub.consoles and slow.overflowed and t.frames == []
    await asyncio.gather(*hub.closing)
    assert slow.ws.closed_with == aiohttp.WSCloseCode.TRY_AGAIN_LATER  # type: ignore[attr-defined]


async def test_too_much_held_during_catch_up_is_a_resync() -> None:
    hub = Hub()
    c, _ = console("371000")
    c.live = False
    hub.consoles.add(c)
    for n in range(PENDING_MAX + 1):
        hub.publish(entry(n))
    assert c not in hub.consoles and c.overflowed and c.pending == []
    await asyncio.gather(*hub.closing)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
async def test_text_frame_reads_back_through_a_websocket_client(size: int) -> None:
    """The hand-built frame is what a real client reads (aiohttp's reader, every length form)."""
    text = "警" * (size // 3) + "x" * (size % 3)

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        assert request.transport is not None
        request.transport.write(text_frame(text))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"http://127.0.0.1:{port}/") as ws:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == text
    finally:
        await runner.cleanup()


def test_seq_order() -> None:
    assert seq_key("1700000000000-2") > seq_key("1700000000000-1") > seq_key("1699999999999-9")
