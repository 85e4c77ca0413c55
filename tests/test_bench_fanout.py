"""A tiny run of bench/fanout.py: it sets up, fans out, checks integrity (no console missed an
event), writes its JSON and cleans up after itself (speed is not asserted here)."""

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


def test_fanout_bench_smoke(base_settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "fanout.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(DATABASE_URL=base_settings.database_url, REDIS_URL=base_settings.redis_url)
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout.py"), "--consoles", "4,10", "--events",
         "10", "--rate", "20", "--elders", "50", "--settle", "10", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "cleaned up: dropped anxin_bench_fanout_" in result.stdout
    data = json.loads(out.read_text())
    assert data["missed"] == 0 and data["ok"] and data["consoles"] == 10
    assert [run["consoles"] for run in data["runs"]] == [4, 10]
    for run in data["runs"]:
        assert run["missed"] == 0 and run["baseline_missed"] == 0
        assert run["connected"] == run["consoles"]
        assert run["p99_ms"] is not None and run["baseline_p99_ms"] is not None
    for key in ("p50_ms", "p99_ms", "baseline_p99_ms", "kib_per_console"):
        assert key in data
