"""Demo history: last month's completed, subsidy-eligible visits of a few providers, with their
check-in/check-out (EVV) data, event rows and ledger debits, so the demo city's settlement of
last month has statements to download. Orders are written as they would stand after the real
dispatch path (state completed, staff and provider set, timestamps in order); each debit is
booked by subsidy.debit_order, the function the check-out itself calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import zoneinfo
from typing import Any

import asyncpg

from callcenter import settlement_rules, subsidy
from callcenter import subsidy_rules as rules
from dispatch.orders import event_json

log = logging.getLogger("callcenter.seed_history")

_CANDIDATES = """
SELECT p.id AS provider_id, i.code AS item_code, i.duration_min, e.id AS elder_id,
       e.region_code, (SELECT s.id FROM staff s JOIN staff_skills k ON k.staff_id = s.id
                       WHERE s.provider_id = p.id AND s.active AND k.skill_code = i.skill_code
                       ORDER BY s.id LIMIT 1) AS staff_id
FROM providers p
JOIN provider_items pi ON pi.provider_id = p.id
JOIN service_items i ON i.code = pi.item_code AND i.subsidy_eligible AND i.active
                        AND i.duration_min BETWEEN 15 AND 120
JOIN provider_regions pr ON pr.provider_id = p.id JOIN regions prr ON prr.code = pr.region_code
JOIN regions r ON r.path = prr.path OR r.path LIKE prr.path || '.%'
JOIN elders e ON e.region_code = r.code AND e.status = 'active'
WHERE p.active AND EXISTS (
    SELECT 1 FROM subsidy_eligibility s WHERE s.elder_id = e.id AND s.starts_on <= $2
      AND (s.ends_on IS NULL OR s.ends_on >= $1))
ORDER BY p.id, i.code, e.id
"""

_ORDER = """
INSERT INTO orders (elder_id, item_code, kind, state, priority, note, created_at, updated_at,
    region_code, source, window_start, window_end, price_cents, subsidy_eligible, staff_id,
    provider_id, accepted_at, en_route_at, checked_in_at, checkin_distance_m, checked_out_at,
    checkout_note)
SELECT $1, i.code, 'service', 'completed', 3, '', $3, $8, $4, 'console', $5, $6,
       i.price_cents, true, $7, s.provider_id, $9, $10, $11, $12, $8, '服务完成'
FROM service_items i, staff s WHERE i.code = $2 AND s.id = $7
RETURNING id
"""


def _visit(rng: random.Random, month: dt.date, duration_min: int, tz: zoneinfo.ZoneInfo
           ) -> dict[str, Any]:
    """One visit's times: a two-hour window on a day of the month, check-in within it, on site
    for 70-130 % of the standard duration (so some are capped)."""
    day = month.replace(day=rng.randint(1, rules.month_end(month).day))
    start = dt.datetime.combine(day, dt.time(rng.randint(8, 15)), tz)
    check_in = start + dt.timedelta(minutes=rng.randint(0, 25))
    on_site = dt.timedelta(seconds=int(duration_min * 60 * rng.uniform(0.7, 1.3)))
    return {"created": start - dt.timedelta(hours=rng.randint(2, 30)), "start": start,
            "end": start + dt.timedelta(hours=2),
            "accepted": start - dt.timedelta(minutes=rng.randint(40, 90)),
            "en_route": check_in - dt.timedelta(minutes=rng.randint(10, 30)),
            "check_in": check_in, "check_out": check_in + on_site,
            "distance_m": rng.randint(5, 180)}


async def _events(conn: asyncpg.Connection, order_id: int, staff_id: int, v: dict[str, Any]
                  ) -> None:
    steps: list[tuple[str | None, str, str, str, dt.datetime, dict[str, Any]]] = [
        (None, "created", "create", "system", v["created"], {"source": "console"}),
        ("created", "queued", "enqueue", "system", v["created"], {}),
        ("queued", "accepted", "assign", "system", v["accepted"], {"staff_id": staff_id}),
        ("accepted", "en_route", "travel", "staff", v["en_route"], {"staff_id": staff_id}),
        ("en_route", "on_site", "check_in", "staff", v["check_in"],
         {"staff_id": staff_id, "distance_m": v["distance_m"]}),
        ("on_site", "completed", "check_out", "staff", v["check_out"],
         {"staff_id": staff_id,
          "duration_s": int((v["check_out"] - v["check_in"]).total_seconds())})]
    await conn.executemany(
        "INSERT INTO events (entity_type, entity_id, at, actor_kind, from_state, to_state,"
        " payload) VALUES ('order', $1, $2, $3, $4, $5, $6::text::jsonb)",
        [(order_id, at, "system" if actor == "system" else "user", before, after,
          event_json(event, actor, payload))
         for before, after, event, actor, at, payload in steps])


async def seed_history(conn: asyncpg.Connection, *, now: dt.datetime | None = None,
                       providers: int = 6,
                       per_provider: int = 10, seed: int = 12349,
                       tz: zoneinfo.ZoneInfo = rules.SHANGHAI) -> int:
    """Write last month's visits (a few providers × a few orders) and their debits; returns the
    number of orders. Does nothing if last month already has completed orders."""
    month = settlement_rules.previous_month((now or dt.datetime.now(dt.UTC)).astimezone(tz).date())
    start, end = rules.month_bounds(month, tz)
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM orders WHERE checked_out_at >= $1"
                           " AND checked_out_at < $2)", start, end):
        return 0
    rng = random.Random(seed)
    by_provider: dict[int, list[asyncpg.Record]] = {}
    for row in await conn.fetch(_CANDIDATES, month, rules.month_end(month)):
        if row["staff_id"] is not None:
            by_provider.setdefault(row["provider_id"], []).append(row)
    chosen = sorted(by_provider)[:providers]
    written: list[tuple[dt.datetime, int]] = []
    async with conn.transaction():
        for pid in chosen:
            for c in rng.sample(by_provider[pid], min(per_provider, len(by_provider[pid]))):
                v = _visit(rng, month, c["duration_min"], tz)
                order_id = await conn.fetchval(
                    _ORDER, c["elder_id"], c["item_code"], v["created"], c["region_code"],
                    v["start"], v["end"], c["staff_id"], v["check_out"], v["accepted"],
                    v["en_route"], v["check_in"], v["distance_m"])
                await _events(conn, order_id, c["staff_id"], v)
                written.append((v["check_out"], order_id))
        for out_at, order_id in sorted(written):  # in check-out order, as they happened
            await subsidy.debit_order(conn, order_id, out_at, tz=tz)
    log.info("seeded history month=%s providers=%d orders=%d", month, len(chosen), len(written))
    return len(written)
