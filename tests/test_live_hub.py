"""The per-process hub without sockets: region filter, and a stalled console told to resync."""

import asyncio
from typing import Any

from callcenter import auth
from callcenter.live import QUEUE_MAX, Console, Hub, seq_key


class FakeSocket:
    """Stands in for the websocket object only; the hub never touches it."""


def principal(path: str) -> auth.Principal:
    return auth.Principal(1, "op", "op", "operator", path.split(".")[-1], "x", path, None, "c",
                          b"h")


def entry(n: int, path: str = "371000.371003.371003001") -> dict[str, Any]:
    return {"seq": f"{1000 + n}-0", "type": "alarm.new", "region": path.split(".")[-1],
            "path": path, "data": {}}


async def test_region_filter() -> None:
    hub = Hub()
    wendeng = Console(FakeSocket(), principal("371000.371003"))  # type: ignore[arg-type]
    rongcheng = Console(FakeSocket(), principal("371000.371082"))  # type: ignore[arg-type]
    city = Console(FakeSocket(), principal("371000"))  # type: ignore[arg-type]
    hub.consoles |= {wendeng, rongcheng, city}
    hub.publish(entry(1))
    hub.publish(entry(2, "371000.371082.371082001"))
    hub.publish({**entry(3), "path": ""})  # no region: nobody
    assert wendeng.queue.qsize() == 1 and rongcheng.queue.qsize() == 1
    assert city.queue.qsize() == 2


async def test_stalled_console_gets_the_resync_sentinel() -> None:
    hub = Hub()
    slow = Console(FakeSocket(), principal("371000"))  # type: ignore[arg-type]
    hub.consoles.add(slow)
    for n in range(QUEUE_MAX + 1):
        hub.publish(entry(n))
    assert slow not in hub.consoles and slow.overflowed
    items = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert items[-1] is None  # the sender closes the socket; the console reconnects and replays
    await asyncio.sleep(0)


def test_seq_order() -> None:
    assert seq_key("1700000000000-2") > seq_key("1700000000000-1") > seq_key("1699999999999-9")
