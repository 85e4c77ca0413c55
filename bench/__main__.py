"""Every benchmark in one command: `python -m bench` (full) or `python -m bench --quick`.

Runs each benchmark script as its own process with `--json`, then writes `bench/results.json`
(the shape below, more keys welcome) and `bench/results.md` (a table: each figure beside its
baseline measured in the same run, and the ratio). The exit status is 1 if any benchmark's
integrity check failed (lost, doubled, missed, unfinished) or a benchmark crashed; never because
a time was slow: speed is reported, not asserted.

    {"run": {"at", "command", "cpus"},
     "alarm_ingest": {"events_per_s", "p50_ms", "p99_ms", "lost", "baseline_per_s", "ratio"},
     "dispatch": {"orders_per_s", "p50_ms", "p99_ms", "doubles", "baseline_per_s", "ratio"},
     "fanout": {"consoles", "p50_ms", "p99_ms", "missed", "baseline_p99_ms"},
     "screen_pop": {"elders", "p50_ms", "p99_ms", "baseline_p99_ms"},
     "city_day": {"wall_s", "calls", "alarms", "orders", "unfinished", "peak_rss_mb"},
     "care_lists": {"elders", "due", "plan_s", "visit_rate_city_ms", "worklist_ms",
                    "baseline_due_ms", "ratio"}}
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name: (script, quick arguments, full arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "alarm_ingest": ("alarm_ingest.py", ["--quick"], ["--rates", "1000,2000,max"]),
    "dispatch": ("dispatch.py", ["--quick"], ["--rate", "1000,max"]),
    "fanout": ("fanout.py", ["--quick"], []),
    "screen_pop": ("screen_pop.py", ["--quick"], []),
    "city_day": ("city_day.py", ["--quick"], []),
    "care_lists": ("care_lists.py", ["--quick"], []),
}
# SPEC §7, for the table's "target" column
TARGETS = {
    "alarm_ingest": "≥ 2,000/s, p99 < 50 ms, lost 0",
    "dispatch": "≥ 1,000 orders/s, doubles 0",
    "fanout": "2,000 consoles p99 < 100 ms, missed 0",
    "screen_pop": "p99 < 5 ms over 1 M elders",
    "city_day": "every call, alarm and order final",
    "care_lists": "none in SPEC; every due elder planned once",
}
KEYS = {
    "alarm_ingest": ("events_per_s", "p50_ms", "p99_ms", "lost", "baseline_per_s", "ratio"),
    "dispatch": ("orders_per_s", "p50_ms", "p99_ms", "doubles", "baseline_per_s", "ratio"),
    "fanout": ("consoles", "p50_ms", "p99_ms", "missed", "baseline_p99_ms"),
    "screen_pop": ("elders", "p50_ms", "p99_ms", "baseline_p99_ms"),
    "city_day": ("wall_s", "calls", "alarms", "orders", "unfinished", "peak_rss_mb"),
    "care_lists": ("elders", "due", "plan_s", "visit_rate_city_ms", "visit_rate_district_ms",
                   "worklist_ms", "baseline_due_ms", "ratio"),
}


def run_one(name: str, quick: bool, out_dir: Path) -> tuple[dict[str, Any], str]:
    script, quick_args, full_args = BENCHMARKS[name]
    path = HERE / script
    if not path.exists():
        return {}, "not present"
    out = out_dir / f"{name}.json"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, str(path), *(quick_args if quick else full_args), "--json", str(out)]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    took = time.monotonic() - started
    data = json.loads(out.read_text()) if out.exists() else {}
    if code == 0 and data:
        return data, f"ok in {took:.0f} s"
    if code == 1 and data:
        return data, f"INTEGRITY CHECK FAILED (exit 1) in {took:.0f} s"
    return data, f"FAILED (exit {code}) in {took:.0f} s"


def cell(value: Any) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: dict[str, Any], statuses: dict[str, str]) -> str:
    run = results["run"]
    lines = ["# Benchmark results", "",
             f"Run at {run['at']} with `{run['command']}` on {run['cpus']} CPUs "
             f"(quick: {run['quick']}). Each figure is beside its baseline measured in the same "
             "run; speed is reported, not asserted.", "",
             "| benchmark | status | figures | SPEC target |", "|---|---|---|---|"]
    for name in BENCHMARKS:
        data = results.get(name) or {}
        figures = ", ".join(f"{k} {cell(data.get(k))}" for k in KEYS[name] if k in data) or "—"
        lines.append(f"| {name} | {statuses.get(name, 'skipped')} | {figures} | {TARGETS[name]} |")
    lines += ["", "Per-benchmark details (every run, more keys) are in `bench/results.json`."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: the whole suite in about two minutes")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--out", default=str(HERE), help="where results.md/json go (default bench/)")
    args = parser.parse_args()
    names = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    scratch = out_dir / "out"
    scratch.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"run": {
        "at": dt.datetime.now(dt.UTC).astimezone().isoformat(timespec="seconds"),
        "command": "python -m bench" + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only else ""),
        "cpus": os.cpu_count(), "quick": args.quick}}
    statuses: dict[str, str] = {}
    failed = False
    for name in names:
        data, status = run_one(name, args.quick, scratch)
        statuses[name] = status
        if data:
            results[name] = data
        failed |= not status.startswith(("ok", "not present"))
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out_dir / "results.md").write_text(markdown(results, statuses))
    print("\n" + markdown(results, statuses))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
