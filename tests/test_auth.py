"""Login, sessions, CSRF, throttling, role checks."""

import re

import asyncpg

from tests.factories import PASSWORD


async def _login_form(client, username: str, password: str, *, with_csrf: bool = True):
    page = await client.get("/login")
    assert page.status == 200, await page.text()
    html = await page.text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    data = {"username": username, "password": password, "next": "/elders"}
    if with_csrf:
        data["csrf_token"] = token
    return await client.http.post("/login", data=data, allow_redirects=False)


async def test_login_page_is_chinese_first_with_english(client) -> None:
    resp = await client.get("/login")
    html = await resp.text()
    assert resp.status == 200
    assert "登录" in html and "English" in html
    en = await (await client.get("/login?lang=en")).text()
    assert "Log in" in en


async def test_form_login_sets_httponly_samesite_cookie_and_redirects(world, client) -> None:
    resp = await _login_form(client, "op.wendeng", PASSWORD)
    assert resp.status == 302, await resp.text()
    assert resp.headers["Location"] == "/elders"
    cookie = resp.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("anxin_session="))
    assert "HttpOnly" in session and "SameSite=Lax" in session
    me = await client.get("/api/v1/auth/me")
    assert (await me.json())["user"]["username"] == "op.wendeng"


async def test_form_login_without_csrf_token_is_refused(world, client) -> None:
    resp = await _login_form(client, "op.wendeng", PASSWORD, with_csrf=False)
    assert resp.status == 403
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_wrong_password_is_401_and_names_no_detail(world, client) -> None:
    resp = await client.http.post("/api/v1/auth/login",
                                  json={"username": "op.wendeng", "password": "nope"})
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthorized"
    unknown = await client.http.post("/api/v1/auth/login",
                                     json={"username": "nobody", "password": "nope"})
    assert unknown.status == 401


async def test_login_is_throttled_after_repeated_failures(world, client, settings) -> None:
    for _ in range(settings.login_max_failures):
        resp = await client.http.post("/api/v1/auth/login",
                                      json={"username": "op.wendeng", "password": "bad"})
        assert resp.status == 401
    blocked = await client.http.post("/api/v1/auth/login",
                                     json={"username": "op.wendeng", "password": PASSWORD})
    assert blocked.status == 429
    assert int(blocked.headers["Retry-After"]) > 0
    other = await client.http.post("/api/v1/auth/login",
                                   json={"username": "op.rongcheng", "password": PASSWORD})
    assert other.status == 200  # one user's failures do not lock out another


async def test_login_body_errors_name_the_field(world, client) -> None:
    resp = await client.http.post("/api/v1/auth/login", json={"username": "op.wendeng"})
    assert resp.status == 422
    assert "password" in (await resp.json())["fields"]
    resp = await client.http.post("/api/v1/auth/login", data="{not json",
                                  headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json())["fields"]["body"]


async def test_unsafe_api_call_without_csrf_header_is_403(world, client) -> None:
    await client.login("admin")
    resp = await client.http.post("/api/v1/catalogue/items", json={})
    assert resp.status == 403
    assert "csrf_token" in (await resp.json())["fields"]


async def test_logout_ends_the_session(world, client, db: asyncpg.Connection) -> None:
    await client.login("op.wendeng")
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1
    resp = await client.post("/api/v1/auth/logout")
    assert resp.status == 200
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_api_requires_login_and_pages_redirect(world, client) -> None:
    assert (await client.get("/api/v1/elders")).status == 401
    page = await client.http.get("/elders", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/login?next=/elders")


async def test_roles_are_enforced(world, client) -> None:
    await client.login("ps.001")
    assert (await client.get("/api/v1/elders")).status == 403
    assert (await client.get("/api/v1/catalogue")).status == 200
    resp = await client.post("/api/v1/devices", json={"serial": "X-0001"})
    assert resp.status == 403


async def test_security_headers_on_every_answer(world, client) -> None:
    resp = await client.get("/login")
    for header in ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy",
                   "X-Request-Id"):
        assert header in resp.headers


async def test_session_is_stored_hashed(world, client, db: asyncpg.Connection) -> None:
    resp = await client.http.post("/api/v1/auth/login",
                                  json={"username": "admin", "password": PASSWORD})
    token = resp.cookies["anxin_session"].value
    stored = await db.fetchval("SELECT token_hash FROM sessions")
    assert token.encode() not in stored and len(stored) == 32


async def test_expired_session_is_refused_and_swept(world, client, db: asyncpg.Connection) -> None:
    await client.login("op.wendeng")
    await db.execute("UPDATE sessions SET expires_at = now() - interval '1 second'")
    assert (await client.get("/api/v1/auth/me")).status == 401
    await client.login("op.wendeng")
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1  # the expired one is gone
