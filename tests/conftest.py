"""Test harness: real PostgreSQL and Redis, a fresh database and a Redis key prefix per test.

With DATABASE_URL / REDIS_URL set (CI on this machine) the tests use those servers; without
them, an embedded PostgreSQL and Redis start once for the session in a temporary folder.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import redis.asyncio as aioredis

from callcenter.embedded import EmbeddedServices
from callcenter.migrate import migrate
from callcenter.settings import Settings, load_settings

_counter = itertools.count(1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    env = {k: v for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")}
    settings = load_settings(environ=env, data_dir=str(tmp_path_factory.mktemp("var")),
                             secret_key="test-secret-key", log_level="WARNING")
    services = EmbeddedServices(settings)
    started = services.start()
    yield started
    services.stop()


@pytest.fixture(scope="session")
def template_db(base_settings: Settings) -> Iterator[str]:
    """A migrated database that every test's database is cloned from."""
    name = f"anxin_tpl_{os.getpid()}"

    async def setup() -> None:
        admin = await asyncpg.connect(base_settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(with_database(base_settings.database_url, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    async def teardown() -> None:
        admin = await asyncpg.connect(base_settings.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(setup())
    yield name
    asyncio.run(teardown())


async def _admin(settings: Settings, sql: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    admin = await asyncpg.connect(settings.database_url)
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


async def _scratch_database(settings: Settings, prefix: str, template: str | None
                            ) -> AsyncIterator[str]:
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    clone = f' TEMPLATE "{template}"' if template else ""
    await _admin(settings, f'CREATE DATABASE "{name}"{clone}')
    yield with_database(settings.database_url, name)
    await _admin(settings, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db_url(base_settings: Settings, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test only."""
    async for url in _scratch_database(base_settings, "anxin_t", template_db):
        yield url


@pytest.fixture
async def empty_db_url(base_settings: Settings) -> AsyncIterator[str]:
    """A fresh database with no migrations applied."""
    async for url in _scratch_database(base_settings, "anxin_e", None):
        yield url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_url)
    yield conn
    await conn.close()


@pytest.fixture
async def settings(base_settings: Settings, db_url: str) -> AsyncIterator[Settings]:
    """Settings for one test: its own database and its own Redis key prefix."""
    prefix = f"anxin-test:{uuid.uuid4().hex[:12]}:"
    yield base_settings.replace(database_url=db_url, redis_prefix=prefix)
    client = aioredis.from_url(base_settings.redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(autouse=True)
async def no_unhandled_loop_errors() -> AsyncIterator[None]:
    """Fail a test if an exception went unhandled in the event loop while it ran."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield
    loop.set_exception_handler(previous)
    assert not seen, f"unhandled exceptions in the event loop: {seen}"


@pytest.fixture
async def world(db: asyncpg.Connection) -> dict[str, int]:
    from tests import factories

    return await factories.world(db)


class Client:
    """An HTTP client on the test app with helpers to log in and send the CSRF header."""

    def __init__(self, client: Any) -> None:
        self.http = client
        self.csrf = ""

    async def login(self, username: str, password: str | None = None) -> dict[str, Any]:
        from tests.factories import PASSWORD

        resp = await self.http.post("/api/v1/auth/login",
                                    json={"username": username, "password": password or PASSWORD})
        body = await resp.json()
        assert resp.status == 200, body
        self.csrf = body["csrf_token"]
        return body

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf, **(headers or {})}

    async def get(self, url: str, **kw: Any) -> Any:
        return await self.http.get(url, **kw)

    async def post(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return await self.http.post(url, headers=self._headers(headers), **kw)

    async def patch(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return await self.http.patch(url, headers=self._headers(headers), **kw)


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[Any]:
    """A factory of logged-out clients on one running test app."""
    from aiohttp.test_utils import TestClient, TestServer

    from callcenter.app import create_app

    server = TestServer(create_app(settings))
    await server.start_server()
    clients: list[TestClient] = []

    async def make() -> Client:
        c = TestClient(server)
        await c.start_server()
        clients.append(c)
        return Client(c)

    yield make
    for c in clients:
        await c.close()
    await server.close()


@pytest.fixture
async def client(app_client: Any) -> Client:
    return await app_client()


# --- the browser (Debian chromium through Playwright), shared by the browser test modules ---
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MISSING = "chromium not installed: apt-get install -y chromium fonts-noto-cjk"


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """The browser binary; skipped where it is missing, but a failure on CI (CI=true)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium_path: str) -> AsyncIterator[Any]:
    """One headless chromium per module; each test gets its own context."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield b
        await b.close()
