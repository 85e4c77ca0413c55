"""Server pages for each role: they render, they redirect or refuse, they never 500."""

import asyncpg
import pytest

from tests.factories import PASSWORD

PAGES = ["/", "/elders", "/regions", "/providers", "/catalogue", "/admin/import"]
EXPECTED = {
    # role user: the pages that must answer 200; the rest must answer 403
    "admin": set(PAGES),
    "supervisor": {"/", "/elders", "/regions", "/providers", "/catalogue"},
    "op.wendeng": {"/", "/elders", "/regions", "/providers", "/catalogue"},
    "pa.001": {"/", "/regions", "/providers", "/catalogue"},
    "ps.001": {"/", "/regions", "/catalogue"},
}


@pytest.mark.parametrize("username", sorted(EXPECTED))
async def test_pages_by_role(world, client, username: str) -> None:
    await client.login(username)
    for page in PAGES:
        resp = await client.get(page)
        want = 200 if page in EXPECTED[username] else 403
        assert resp.status == want, (username, page, await resp.text())
        assert "text/html" in resp.headers["Content-Type"]


async def test_elder_page_audits_and_masks_for_supervisor(world, client,
                                                          db: asyncpg.Connection) -> None:
    await client.login("supervisor")
    html = await (await client.get(f"/elders/{world['elder_wendeng']}")).text()
    assert "王秀英" in html and "3710**********" in html
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'elder.view'") == 1


async def test_out_of_region_elder_page_is_a_404_page(world, client) -> None:
    await client.login("op.wendeng")
    resp = await client.get(f"/elders/{world['elder_rongcheng']}")
    html = await resp.text()
    assert resp.status == 404 and "孙建国" not in html and "Traceback" not in html
    assert "不在您的辖区内" in html


async def test_bad_query_on_a_page_is_a_422_page_not_500(world, client) -> None:
    await client.login("admin")
    resp = await client.get("/elders?limit=abc")
    assert resp.status == 422 and "limit" in await resp.text()


async def test_trusted_proxy_address_feeds_the_throttle(world, app_client, settings) -> None:
    # Without ANXIN_TRUST_PROXY, X-Forwarded-For is ignored: a client cannot pick its address.
    c = await app_client()
    for i in range(settings.login_max_failures * 4):
        await c.http.post("/api/v1/auth/login", json={"username": f"user{i}", "password": "x"},
                          headers={"X-Forwarded-For": f"10.0.0.{i}"})
    resp = await c.http.post("/api/v1/auth/login",
                             json={"username": "admin", "password": PASSWORD},
                             headers={"X-Forwarded-For": "10.9.9.9"})
    assert resp.status == 429  # the per-address limit caught the spoofing client
