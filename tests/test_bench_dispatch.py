"""A tiny run of bench/dispatch.py: it sets up, dispatches, checks integrity, writes its JSON and
cleans up after itself (speed is not asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_dispatch_bench_smoke(base_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "dispatch.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(DATABASE_URL=base_settings.database_url, REDIS_URL=base_settings.redis_url)
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "dispatch.py"), "--staff", "1000", "--elders", "300",
         "--rate", "40,max", "--seconds", "1", "--orders", "30", "--workers", "1",
         "--baseline-seconds", "0.3", "--grace", "10", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "cleaned up: dropped anxin_bench_dispatch_" in result.stdout
    data = json.loads(out.read_text())
    assert data["doubles"] == 0 and data["lost"] == 0 and data["ok"]
    assert [run["orders"] for run in data["runs"]] == [40, 30]
    assert all(run["offered"] + run["no_candidate"] == run["orders"] for run in data["runs"])
    assert data["orders_per_s"] > 0 and data["baseline_per_s"] > 0 and data["staff"] == 1000
    for key in ("p50_ms", "p99_ms", "ratio", "workers"):
        assert key in data
