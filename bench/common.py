"""Small helpers the benchmarks share: a scratch database's URL, percentiles, number format."""

from __future__ import annotations

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
