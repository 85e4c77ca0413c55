"""The command line against a real database: migrate, users add, imports' exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

from tests import factories


def run(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "ANXIN_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "callcenter", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_migrate_is_idempotent_from_the_cli(empty_db_url: str) -> None:
    first = run(empty_db_url, "migrate")
    assert first.returncode == 0, first.stderr
    assert "001_core.sql" in first.stdout
    second = run(empty_db_url, "migrate")
    assert second.returncode == 0 and "up to date" in second.stdout


async def test_users_add_validates_and_creates(db_url: str, db: asyncpg.Connection) -> None:
    await factories.regions(db)
    bad = run(db_url, "users", "add", "X", "--role", "king", "--region", "999999",
              stdin="short\n")
    assert bad.returncode == 2
    for field in ("username", "role", "region", "password"):
        assert f"{field}:" in bad.stderr
    assert await db.fetchval("SELECT count(*) FROM users") == 0
    ok = run(db_url, "users", "add", "chief", "--role", "admin", "--region", "371000",
             stdin="a-long-enough-password\n")
    assert ok.returncode == 0, ok.stderr
    assert await db.fetchval("SELECT role FROM users WHERE username = 'chief'") == "admin"


async def test_import_exit_codes(db_url: str, db: asyncpg.Connection, tmp_path: Path) -> None:
    await factories.regions(db)
    good = factories.id_number(11)
    csv = tmp_path / "roster.csv"
    csv.write_text("name,id_number,phone,address,region_code,lat,lon,risk_groups\n"
                   f"李玉兰,{good},13806315555,龙山街道1号,371003001,37.19,122.05,独居\n"
                   "王强,371003194505061230,13806315556,龙山街道2号,371003001,,,\n",
                   encoding="utf-8-sig")
    refused = run(db_url, "elders", "import", str(csv))
    assert refused.returncode == 1
    assert "3" in refused.stdout and "id_number" in refused.stdout
    assert await db.fetchval("SELECT count(*) FROM elders") == 0
    skipped = run(db_url, "elders", "import", str(csv), "--skip-bad")
    assert skipped.returncode == 1  # bad rows were reported, even though good ones were written
    assert await db.fetchval("SELECT count(*) FROM elders") == 1
    missing = run(db_url, "elders", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "nope.csv" in missing.stderr
    wrong = tmp_path / "roster.txt"
    wrong.write_text("hello")
    assert run(db_url, "elders", "import", str(wrong)).returncode == 2
