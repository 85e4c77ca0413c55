"""Small helpers the benchmarks share: a scratch database's URL, percentiles, number format."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of the values, nearest rank; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def fmt(x: float, digits: int = 1) -> str:
    """1,234.5, or a dash for NaN."""
    return "—" if x != x else f"{x:,.{digits}f}"


async def drop_scratch(admin: Any, name: str, redis_url: str, prefix: str) -> int:
    """Drop the scratch database (then close the admin connection) and delete the run's Redis
    keys; returns how many keys there were."""
    import redis.asyncio as aioredis

    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()
    r = aioredis.from_url(redis_url)
    keys = [k async for k in r.scan_iter(match=prefix + "*", count=1000)]
    if keys:
        await r.delete(*keys)
    await r.aclose()
    return len(keys)


def run_main(coro: Coroutine[Any, Any, int | None]) -> NoReturn:
    """Run a benchmark's coroutine and exit with its status (None: 0); Ctrl-C exits 130 after
    the coroutine's own clean-up has run."""
    try:
        code = asyncio.run(coro) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
