"""Browser test of the console map: offline district outlines with their labels, an SOS appearing
live as a marker, staff on shift, the elder on screen, and clicks asking the console to open an
alarm; no script errors and not one request beyond 127.0.0.1. Leaves docs/screenshots/map.png.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis

from callcenter import geo
from callcenter.settings import Settings
from tests import dispatch_world
from tests.dispatch_fixtures import on_shift, pool, rds  # noqa: F401
from tests.factories import event_body, signed_headers
from tests.test_console_browser import (  # noqa: F401
    SERIAL,
    base_url,
    close_page,
    new_page,
    open_console,
    server,
    setting_changes,
)

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "map.png"
LABELS = ["环翠区", "文登区", "荣成市", "乳山市"]
FIX = (37.2050, 122.0650)  # where the SOS phone says it is, WGS-84


FOUR_IN_VIEW = """() => { const box = document.getElementById('map').getBoundingClientRect();
  return [...document.querySelectorAll('.map-label span')].every((s) => {
    const r = s.getBoundingClientRect();
    return r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
  }); }"""


async def press_sos_at(base_url: str, event_id: str, at: tuple[float, float]) -> int:  # noqa: F811
    body = event_body(event_id, location={"lat": at[0], "lon": at[1], "crs": "wgs84",
                                          "accuracy_m": 15})
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base_url}/api/v1/devices/{SERIAL}/events", data=body,
                               headers=signed_headers(body))
        out = await resp.json()
    assert resp.status == 202, out
    return int(out["alarm_id"])


@pytest.fixture
async def staffed(db: asyncpg.Connection, world: dict[str, int], pool: asyncpg.Pool,  # noqa: F811
                  rds: aioredis.Redis, settings: Settings) -> int:  # noqa: F811
    """One provider staff member on shift near 王秀英's home."""
    await dispatch_world.catalogue(db)
    sid = await dispatch_world.staff(db, world["provider"], "张师傅", ["emergency"])
    await on_shift(pool, rds, settings, sid, dispatch_world.offset(FIX, north_m=900, east_m=-600),
                   dt.datetime.now(dt.UTC))
    return sid


async def test_the_map_shows_districts_and_a_live_alarm_offline(
        browser: Any, base_url: str, staffed: int) -> None:  # noqa: F811
    from playwright.async_api import expect

    page = await new_page(browser, base_url)
    outside: list[str] = []

    async def local_only(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host not in ("127.0.0.1", "localhost"):
            outside.append(route.request.url)
            await route.abort()
        else:
            await route.continue_()

    await page.context.route("**/*", local_only)
    try:
        await open_console(page, "op.city")
        panel = page.locator("#map-panel")
        await expect(panel.get_by_role("heading", name="地图")).to_be_visible()
        labels = panel.locator(".map-label span")
        await expect(labels).to_have_text(LABELS)
        await expect(panel.locator("path.district")).to_have_count(4)
        await expect(panel.locator("#map-note")).to_contain_text("区界为简化示意")
        # the staff member on shift, from /api/v1/map/staff
        await expect(panel.locator("path.map-staff")).to_have_count(1)
        await expect(panel.locator("#map-counts")).to_have_text("警情 0 · 工单 0 · 人员 1")

        # the SOS arrives over the live channel and is drawn at its GCJ-02 fix
        alarm_id = await press_sos_at(base_url, "map-sos-1", FIX)
        marker = panel.locator(f".map-alarm[data-alarm-id='{alarm_id}']")
        await expect(marker).to_be_visible(timeout=3_000)
        await expect(marker.locator(".pin")).to_have_class("pin p1 s-offered waiting ")
        await expect(panel.locator("#map-counts")).to_have_text("警情 1 · 工单 0 · 人员 1")
        glat, glon = geo.wgs84_to_gcj02(*FIX)
        drawn = await page.evaluate(
            """(id) => { const el = document.querySelector(`.map-alarm[data-alarm-id='${id}']`);
                         const r = el.getBoundingClientRect();
                         return [r.left + r.width / 2, r.top + r.height / 2]; }""", alarm_id)
        assert drawn[0] > 0 and drawn[1] > 0

        # the elder profile says who is on screen: highlighted, the map follows
        await page.evaluate(
            "(d) => window.dispatchEvent(new CustomEvent('anxin-elder', {detail: d}))",
            {"id": 1, "name": "王秀英", "lat_gcj02": glat, "lon_gcj02": glon})
        await expect(panel.locator(".map-elder")).to_be_visible()
        await expect(panel.locator(".map-elder-tip")).to_contain_text("王秀英")

        # a click on the alarm asks the console to open it
        await page.evaluate("""() => { window.__opened = [];
            window.addEventListener('anxin-open-alarm', (e) => window.__opened.push(e.detail)); }""")
        await page.evaluate("() => window.dispatchEvent(new CustomEvent('anxin-elder', "
                            "{detail: null}))")
        await expect(panel.locator(".map-elder")).to_have_count(0)
        await panel.get_by_role("button", name="全市").click()
        assert await page.evaluate(FOUR_IN_VIEW), "the whole city fits the map"
        await marker.hover()
        await expect(page.locator(".leaflet-tooltip:not(.map-elder-tip)")).to_contain_text(f"警情 #{alarm_id}")
        await page.locator("#map-panel").screenshot(path=str(SCREENSHOT))
        await marker.click()
        opened = await page.evaluate("() => window.__opened")
        assert opened == [{"id": alarm_id}], json.dumps(opened)

        # a closed alarm leaves the map (the snapshot after a reconnect would not have it)
        await page.evaluate("""(id) => window.dispatchEvent(new CustomEvent('anxin-live', {detail:
            {seq: 0, type: 'alarm.closed', region: '371003', data: {alarm: {id, state: 'closed'}}}}))""",
                            alarm_id)
        await expect(marker).to_have_count(0)
        await asyncio.sleep(0.2)
    finally:
        await close_page(page)
    assert not outside, outside
