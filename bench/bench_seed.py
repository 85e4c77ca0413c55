"""Time `seed_city` against a bare COPY of the same elder rows, on scratch databases.

    python bench/bench_seed.py --elders 210000

Creates two scratch databases from DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test)
and migrates both. BASELINE: the elder rows are generated beforehand (untimed), the regions and
providers they reference copied in (untimed), then only `COPY elders` is timed: no generation, no
validation, no other table. SEED: `seed_city` on the other database, timed as a whole
(generation, password hash, COPY of every table, sequences, ANALYZE). Both scratch databases are
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import with_database  # noqa: E402
from callcenter.migrate import migrate  # noqa: E402
from callcenter.seed import COLUMNS, load_districts, seed_city  # noqa: E402
from callcenter.seed_data import generate_city  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_SECONDS = 120.0



async def _create(admin_url: str, name: str) -> str:
    """Create and migrate a scratch database; return its URL."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return url


async def _drop(admin_url: str, name: str) -> None:
    """Drop a scratch database."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def baseline_copy_s(url: str, elders: int, seed: int) -> float:
    """Seconds for a bare COPY of pre-generated elder rows (regions, providers put in first)."""
    city = generate_city(load_districts(), elders=elders, seed=seed)
    conn = await asyncpg.connect(url)
    try:
        for table, rows in (("regions", city.regions), ("providers", city.providers)):
            await conn.copy_records_to_table(table, records=rows, columns=COLUMNS[table])
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("elders", records=city.elders,
                                             columns=COLUMNS["elders"])
        return time.perf_counter() - started
    finally:
        await conn.close()


async def main(elders: int, seed: int, url: str) -> int:
    """Run the baseline and the seed; print the figures."""
    tag = f"{os.getpid()}"
    seed_db, base_db = f"anxin_bench_seed_{tag}", f"anxin_bench_base_{tag}"
    try:
        base_url = await _create(url, base_db)
        seed_url = await _create(url, seed_db)
        baseline_s = await baseline_copy_s(base_url, elders, seed)
        await _drop(url, base_db)
        conn = await asyncpg.connect(seed_url)
        try:
            report = await seed_city(conn, elders=elders, seed=seed)
        finally:
            await conn.close()
    finally:
        await _drop(url, base_db)
        await _drop(url, seed_db)
    ratio = report.seconds / baseline_s if baseline_s else float("inf")
    print(f"elders:                 {elders:,}")
    print(f"rows written:           {report.elders:,} elders, {report.elder_contacts:,} contacts, "
          f"{report.devices:,} devices, {report.regions} regions, {report.providers} providers, "
          f"{report.staff} staff, {report.users} users")
    print(f"seed total seconds:     {report.seconds:.2f}  (target < {TARGET_SECONDS:.0f})")
    print(f"  generate seconds:     {report.generate_seconds:.2f}")
    print(f"  write seconds:        {report.write_seconds:.2f}")
    print(f"seed elders/s:          {elders / report.seconds:,.0f}")
    print(f"baseline seconds:       {baseline_s:.2f}  (bare COPY of {elders:,} pre-generated "
          "elder rows)")
    print(f"baseline elders/s:      {elders / baseline_s:,.0f}")
    print(f"ratio seed/baseline:    {ratio:.1f}x")
    return 0 if report.seconds < TARGET_SECONDS else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elders", type=int, default=210_000, help="elders to seed")
    parser.add_argument("--seed", type=int, default=12349, help="random seed")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL),
                        help="server to create the scratch databases on (default: DATABASE_URL)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(args.elders, args.seed, args.database_url)))
