"""Embedded mode, end to end: with no DATABASE_URL/REDIS_URL, `callcenter` starts its own
PostgreSQL and Redis, migrates, seeds, serves; we log in and read an elder; it stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from callcenter.embedded import free_port

pytestmark = pytest.mark.slow


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(ANXIN_DATA_DIR=str(data_dir), ANXIN_PORT=str(port), ANXIN_LOG_LEVEL="WARNING")
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "callcenter", *args]


def test_embedded_demo_city_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    env = _env(tmp_path / "var", port)
    seeded = subprocess.run(_cli("seed", "--elders", "40"), env=env, capture_output=True,
                            text=True, timeout=180)
    assert seeded.returncode == 0, seeded.stderr
    assert "embedded" in seeded.stdout
    again = subprocess.run(_cli("seed", "--elders", "40"), env=env, capture_output=True,
                           text=True, timeout=180)
    assert again.returncode == 1 and "nothing written" in again.stderr

    server = subprocess.Popen(_cli("serve"), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                    health = json.load(resp)
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.3)
        assert health["postgres"]["ok"] and health["redis"]["ok"]

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        login = urllib.request.Request(
            base + "/api/v1/auth/login", method="POST",
            data=json.dumps({"username": "operator", "password": "anxin12349"}).encode(),
            headers={"Content-Type": "application/json"})
        with opener.open(login, timeout=10) as resp:
            assert json.load(resp)["user"]["role"] == "operator"
        with opener.open(base + "/api/v1/elders?limit=1", timeout=10) as resp:
            first = json.load(resp)["items"][0]
        with opener.open(f"{base}/api/v1/elders/{first['id']}", timeout=10) as resp:
            record = json.load(resp)
        assert record["name"] == first["name"] and len(record["id_number"]) == 18
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    assert server.returncode == 0, out
    pid_file = tmp_path / "var" / "pg" / "postmaster.pid"
    assert not pid_file.exists(), "embedded PostgreSQL still running after exit"
