"""`python -m bench --quick` as CI runs it: every benchmark runs, passes its integrity checks
(nothing lost, doubled, missed or unfinished) and the results have the documented shape. Speed
is not asserted here: it is reported in bench/results.md."""

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
SHAPE = {
    "run": {"at", "command", "cpus"},
    "alarm_ingest": {"events_per_s", "p50_ms", "p99_ms", "lost", "baseline_per_s", "ratio"},
    "dispatch": {"orders_per_s", "p50_ms", "p99_ms", "doubles", "baseline_per_s", "ratio"},
    "fanout": {"consoles", "p50_ms", "p99_ms", "missed", "baseline_p99_ms"},
    "screen_pop": {"elders", "p50_ms", "p99_ms", "baseline_p99_ms"},
    "city_day": {"wall_s", "calls", "alarms", "orders", "unfinished", "peak_rss_mb"},
    "care_lists": {"elders", "due", "plan_s", "visit_rate_city_ms", "worklist_ms",
                   "baseline_due_ms", "ratio", "integrity_ok"},
}


def test_quick_bench_suite(base_settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANXIN_")}
    env.update(DATABASE_URL=base_settings.database_url, REDIS_URL=base_settings.redis_url)
    result = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = json.loads((tmp_path / "results.json").read_text())
    for section, keys in SHAPE.items():
        assert keys <= set(data[section]), (section, sorted(data.get(section, {})))
    assert data["alarm_ingest"]["lost"] == 0 and data["dispatch"]["doubles"] == 0
    assert data["fanout"]["missed"] == 0 and data["city_day"]["unfinished"] == 0
    assert data["care_lists"]["integrity_ok"]
    assert "| city_day | ok" in (tmp_path / "results.md").read_text()
