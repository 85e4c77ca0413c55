"""Active-care benchmark (issue 7; no SPEC target): the month's plan, the day's sweep, the visit
rate a dashboard fetches and an operator's outbound list, at city scale, against the bare
indexed reads they are built on as baselines.

    .venv/bin/python bench/care_lists.py                 # 210,000 elders (Weihai)
    .venv/bin/python bench/care_lists.py --quick         # 20,000 elders

Creates a scratch database on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test), migrates, seeds `--elders` with seed_city and
ANALYZEs. Then, timed once each: care.generate_month_plan (every due elder gets one task, spread
over the district operators), the same again (idempotent: nothing new), care.daily_sweep. A
`--reached` share of the due elders get a reaching visit (one INSERT), ANALYZE, and then, each
`--repeat` times (the median is reported):
  visit_rate_city / visit_rate_district — care.visit_rate of the city and of its largest district
      (per child region, with the first 200 not reached): what the dashboard fetches;
  worklist — care.worklist of that district's operator (a page of 50 with elders, contacts and
      last visits, and the counts): what the console fetches;
  baseline — the bare read under both: the month's monthly tasks counted by region path, and
      the district's open tasks' first 50 ids in worklist order.
Integrity (exit 1 if broken): every due elder has exactly one monthly task, and the visit rate's
`visited` equals the visits inserted. The scratch database is dropped at the end (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import fmt, run_main, with_database  # noqa: E402
from callcenter import care  # noqa: E402
from callcenter import care_rules as rules  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import seed_city  # noqa: E402
from callcenter.subsidy_rules import SHANGHAI  # noqa: E402

BARE_DUE = """
SELECT count(*) FROM outreach_tasks t JOIN regions r ON r.code = t.region_code
WHERE t.month = $2 AND t.reason = 'monthly' AND (r.path = $1 OR r.path LIKE $1 || '.%')
"""
BARE_PAGE = """
SELECT t.id FROM outreach_tasks t JOIN regions r ON r.code = t.region_code
WHERE t.state = 'open' AND (r.path = $1 OR r.path LIKE $1 || '.%')
ORDER BY t.next_attempt_at NULLS FIRST, t.id LIMIT 50
"""


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    """The median wall time of `repeat` calls (ms) and the last answer."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = await fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


async def bench(args: argparse.Namespace) -> int:
    admin_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    name = f"anxin_bench_care_{os.getpid()}"
    admin = await asyncpg.connect(admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pool: asyncpg.Pool | None = None
    try:
        url = with_database(admin_url, name)
        db = await asyncpg.connect(url)
        await migrate(db)
        t = time.monotonic()
        await seed_city(db, elders=args.elders, seed=args.seed, demo_password="anxin12349")
        await db.execute("ANALYZE")
        print(f"scratch database {name}: seed_city({args.elders:,} elders) + ANALYZE "
              f"{time.monotonic() - t:.1f} s", flush=True)
        await db.close()
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        assert pool is not None
        now = dt.datetime.now(dt.UTC)
        month = rules.month_of(now)
        t = time.monotonic()
        plan = await care.generate_month_plan(pool, month, now)
        plan_s = time.monotonic() - t
        t = time.monotonic()
        again = await care.generate_month_plan(pool, month, now)
        again_s = time.monotonic() - t
        t = time.monotonic()
        sweep = await care.daily_sweep(pool, now)
        sweep_s = time.monotonic() - t
        print(f"plan: {plan['due']:,} due, {plan['created']:,} tasks in {plan_s:.2f} s; again "
              f"{again['created']} new in {again_s:.2f} s; sweep {sweep} in {sweep_s:.2f} s")
        reached = await pool.fetchval(
            "WITH v AS (INSERT INTO care_visits (task_id, elder_id, method, outcome, step,"
            " attempt, at) SELECT id, elder_id, 'phone', 'well', 'call', 1, $2 FROM"
            " outreach_tasks WHERE month = $1 AND reason = 'monthly'"
            " AND random() < $3 RETURNING 1) SELECT count(*) FROM v", month, now, args.reached)
        await pool.execute("ANALYZE outreach_tasks; ANALYZE care_visits")
        city = await pool.fetchrow("SELECT code, path FROM regions WHERE level = 'city'")
        district = await pool.fetchrow(
            "SELECT r.code, r.path, u.id AS operator FROM outreach_tasks t"
            " JOIN users u ON u.id = t.assigned_to JOIN regions r ON r.code = u.region_code"
            " WHERE t.month = $1 GROUP BY r.code, r.path, u.id ORDER BY count(*) DESC LIMIT 1",
            month)
        city_ms, rate = await timed(lambda: care.visit_rate(pool, month, city["code"], SHANGHAI),
                                    args.repeat)
        district_ms, _ = await timed(
            lambda: care.visit_rate(pool, month, district["code"], SHANGHAI), args.repeat)
        worklist_ms, page = await timed(lambda: care.worklist(
            pool, region_path=district["path"], operator_id=district["operator"], now=now,
            limit=50), args.repeat)
        base_due_ms, _ = await timed(lambda: pool.fetchval(BARE_DUE, city["path"], month),
                                     args.repeat)
        base_page_ms, _ = await timed(lambda: pool.fetch(BARE_PAGE, district["path"]),
                                      args.repeat)
        tasks, elders = await pool.fetchrow(
            "SELECT count(*), count(DISTINCT elder_id) FROM outreach_tasks"
            " WHERE month = $1 AND reason = 'monthly'", month)
        ok = tasks == elders == plan["due"] and rate["visited"] == reached \
            and again["created"] == 0 and len(page["items"]) == min(50, page["counts"]["open"])
        figures = {
            "elders": args.elders, "due": plan["due"], "plan_s": round(plan_s, 2),
            "plan_again_s": round(again_s, 2), "sweep_s": round(sweep_s, 2),
            "visit_rate_city_ms": round(city_ms, 1),
            "visit_rate_district_ms": round(district_ms, 1),
            "worklist_ms": round(worklist_ms, 1), "baseline_due_ms": round(base_due_ms, 1),
            "baseline_page_ms": round(base_page_ms, 1),
            "ratio": round(city_ms / base_due_ms, 2) if base_due_ms else None,
            "visited": rate["visited"], "integrity_ok": ok}
        print(f"visit rate: city {fmt(city_ms)} ms, district {district['code']} "
              f"{fmt(district_ms)} ms (baseline: counting the due {fmt(base_due_ms)} ms); "
              f"worklist {fmt(worklist_ms)} ms (baseline: the bare page {fmt(base_page_ms)} ms); "
              f"{rate['visited']:,} of {rate['due']:,} visited; integrity "
              f"{'ok' if ok else 'BROKEN'}")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        return 0 if ok else 1
    finally:
        if pool is not None:
            await pool.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elders", type=int, default=210_000)
    parser.add_argument("--quick", action="store_true", help="20,000 elders")
    parser.add_argument("--reached", type=float, default=0.2,
                        help="share of the due elders visited before the reads are timed")
    parser.add_argument("--repeat", type=int, default=7, help="timed calls per read")
    parser.add_argument("--seed", type=int, default=12349)
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.elders = 20_000
    run_main(bench(args))


if __name__ == "__main__":
    main()
