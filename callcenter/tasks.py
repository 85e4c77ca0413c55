"""Background loops that stop for certain. On Python 3.11 a cancellation can be swallowed when it
races a wake-up (asyncio.wait_for, redis-py's blocking XREAD); so each loop also checks a stop
flag every turn, and teardown waits a bounded time, cancelling again if it must."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("callcenter.tasks")


async def stop(task: asyncio.Task[None], flag: asyncio.Event, timeout_s: float = 5.0) -> None:
    flag.set()
    task.cancel()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not task.done():
        await asyncio.wait({task}, timeout=0.2)
        if not task.done():
            if asyncio.get_running_loop().time() > deadline:
                log.error("task %s did not stop in %.0f s", task.get_name(), timeout_s)
                return
            task.cancel()
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s ended with an error", task.get_name(), exc_info=task.exception())
