"""Benchmark the elders importer (SPEC §3.1) against a bare COPY of the same rows.

    .venv/bin/python bench/bench_import.py --elders 210000 [--profile]

Creates a scratch database on DATABASE_URL's server (default
postgresql://postgres@127.0.0.1:5432/test), migrates it, adds Weihai regions, generates a valid
roster CSV, then times: the import, a re-import of the same file (everything unchanged), and two
baselines with no validation at all: COPY of the CSV file into a table of text columns, and
COPY of ready-made records into a copy of the elders table (same indexes and checks).
The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import datetime as dt
import io
import os
import pstats
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import with_database  # noqa: E402
from callcenter.import_files import read_table
from callcenter.import_rows import validate_elders
from callcenter.imports import import_elders
from callcenter.migrate import migrate
from callcenter.validation import make_id_number

HEADER = ["name", "id_number", "phone", "address", "region_code", "lat", "lon", "risk_groups",
          "phone2", "contact_name", "contact_phone", "contact_relation"]
TOWNS = [f"371002{n:03d}" for n in range(1, 11)]
REGIONS: list[tuple[str, str | None, str, str, str, str]] = [
    ("371000", None, "city", "威海市", "urban", "371000"),
    ("371002", "371000", "district", "环翠区", "urban", "371000.371002"),
    ("371003", "371000", "district", "文登区", "rural", "371000.371003"),
    ("371082", "371000", "district", "荣成市", "rural", "371000.371082"),
] + [(code, "371002", "town", f"街道{code[-2:]}", "urban", f"371000.371002.{code}")
     for code in TOWNS]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "秀英桂兰玉珍凤兰淑珍建国德明国华志强振华学文"
GROUPS = ["独居", "空巢", "失能", "高龄", "低保", "独居;高龄", "空巢;失能", "", "", ""]
MOBILE_PREFIXES = ["138", "139", "158", "186", "137", "150", "135", "187"]



def roster(n: int, seed: int = 12349) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    base = dt.date(1930, 1, 1)
    for i in range(n):
        birth = base + dt.timedelta(days=(i // 1000) * 61 + 7)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        contact = i % 2 == 0
        writer.writerow([
            name,
            make_id_number(rng.choice(["371002", "371003", "371082"]), birth, i % 1000),
            f"{MOBILE_PREFIXES[i % 8]}{i:08d}",
            f"威海市环翠区某某路{i % 500}号{i % 37}单元",
            TOWNS[i % len(TOWNS)] if i % 5 else "371003",
            f"{37.40 + rng.random() * 0.2:.6f}",
            f"{122.00 + rng.random() * 0.2:.6f}",
            GROUPS[i % len(GROUPS)],
            f"0631-5{i % 1000000:06d}" if i % 3 == 0 else "",
            rng.choice(SURNAMES) + "小明" if contact else "",
            f"139{i:08d}" if contact else "",
            "子女" if contact else "",
        ])
    return out.getvalue().encode("utf-8")


def naive_records(data: bytes) -> list[tuple[Any, ...]]:
    """The same rows as elders records with no validation at all (for the COPY baseline)."""
    records = []
    for _, r in read_table(data, "x.csv"):
        number = r["id_number"]
        phones = [r["phone"]] + ([r["phone2"]] if r["phone2"] else [])
        lat, lon = float(r["lat"]), float(r["lon"])
        records.append((
            r["name"], number, "M" if int(number[16]) % 2 else "F",
            dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14])), phones,
            r["address"], r["region_code"], lat, lon, lat, lon,
            r["risk_groups"].split(";") if r["risk_groups"] else []))
    return records


async def run(url: str, n: int, profile: bool) -> None:
    name = f"anxin_bench_{os.getpid()}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        conn = await asyncpg.connect(with_database(url, name))
        try:
            await bench(conn, n, profile)
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def bench(conn: asyncpg.Connection, n: int, profile: bool) -> None:
    await migrate(conn)
    await conn.executemany(
        "INSERT INTO regions (code, parent_code, level, name, kind, service_radius_m,"
        " service_minutes, path) VALUES ($1, $2, $3, $4, $5, 3000, 15, $6)", REGIONS)

    started = time.perf_counter()
    data = roster(n)
    print(f"generated {n} rows, {len(data) / 1e6:.1f} MB CSV in "
          f"{time.perf_counter() - started:.1f}s")

    if profile:
        rows = read_table(data, "roster.csv")
        levels = {r[0]: r[2] for r in REGIONS}
        profiler = cProfile.Profile()
        profiler.enable()
        validate_elders(rows, levels)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)

    started = time.perf_counter()
    first = await import_elders(conn, data, "roster.csv")
    import_s = time.perf_counter() - started
    assert first.ok and first.inserted == n, first.format_text()[:2000]

    started = time.perf_counter()
    again = await import_elders(conn, data, "roster.csv")
    reimport_s = time.perf_counter() - started
    assert again.ok and again.unchanged == n and again.inserted == again.updated == 0

    # Baseline 1: the server parses the CSV into text columns. No Python work at all.
    await conn.execute("CREATE TABLE baseline_raw (" + ", ".join(f"{h} text" for h in HEADER)
                       + ")")
    started = time.perf_counter()
    await conn.copy_to_table("baseline_raw", source=io.BytesIO(data), format="csv", header=True)
    raw_s = time.perf_counter() - started

    # Baseline 2: read the CSV in Python, build records without validating anything, COPY them
    # into a copy of the elders table (same indexes and checks, no foreign keys).
    await conn.execute("CREATE TABLE baseline_elders (LIKE elders INCLUDING ALL)")
    started = time.perf_counter()
    records = naive_records(data)
    await conn.copy_records_to_table(
        "baseline_elders", records=records,
        columns=["name", "id_number", "sex", "birth_date", "phones", "address", "region_code",
                 "lat", "lon", "lat_gcj02", "lon_gcj02", "risk_groups"])
    table_s = time.perf_counter() - started

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"import:    {import_s:7.2f}s  {n / import_s:9,.0f} rows/s  "
          f"(inserted {first.inserted}, contacts {await conn.fetchval('SELECT count(*) FROM elder_contacts')})")
    print(f"re-import: {reimport_s:7.2f}s  {n / reimport_s:9,.0f} rows/s  "
          f"(unchanged {again.unchanged})")
    print(f"baseline, COPY csv -> text table:           {raw_s:6.2f}s  "
          f"{n / raw_s:9,.0f} rows/s  import/baseline = {import_s / raw_s:.1f}x")
    print(f"baseline, parse + COPY records -> elders copy: {table_s:6.2f}s  "
          f"{n / table_s:9,.0f} rows/s  import/baseline = {import_s / table_s:.1f}x")
    print(f"peak RSS {rss_mb:.0f} MB; budget 120s for 210,000 rows: "
          f"{'OK' if import_s * 210_000 / n < 120 else 'OVER'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elders", type=int, default=210_000)
    parser.add_argument("--profile", action="store_true",
                        help="also profile validation alone (cProfile, top 15 by own time)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    asyncio.run(run(url, args.elders, args.profile))


if __name__ == "__main__":
    main()
