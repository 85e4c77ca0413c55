"""The console map's staff endpoint: provider staff on shift with their last location in GCJ-02,
scoped to the viewer's region, for console roles only; the console page carries the map."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from callcenter import geo
from callcenter.settings import Settings
from tests import dispatch_world, factories
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import on_shift

URL = "/api/v1/map/staff"
WENDENG = dispatch_world.offset(dispatch_world.HOME, north_m=400)  # WGS-84
RONGCHENG = (37.1600, 122.4100)


@pytest.fixture
async def mworld(db: asyncpg.Connection, dworld: dict[str, Any], pool: asyncpg.Pool,
                 rds: aioredis.Redis, settings: Settings) -> dict[str, Any]:
    """Two Wendeng staff on shift (one located, one not), one off shift, one in Rongcheng."""
    p3 = await factories.provider(db, "371082", "LIC-0003")
    out = dict(dworld)
    out["staff_rc"] = await dispatch_world.staff(db, p3, "孙师傅", ["emergency"])
    now = dt.datetime.now(dt.UTC)
    await on_shift(pool, rds, settings, out["staff"], WENDENG, now)
    await on_shift(pool, rds, settings, out["staff_rc"], RONGCHENG, now)
    await db.execute("INSERT INTO staff_status (staff_id, on_shift) VALUES ($1, true)",
                     out["staff2"])  # on shift, no location yet
    return out


async def staff_seen(client: Any, username: str) -> dict[int, dict[str, Any]]:
    await client.login(username)
    resp = await client.get(URL)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["refresh_s"] == 30 and body["truncated"] is False
    return {item["id"]: item for item in body["items"]}


async def test_the_city_sees_all_staff_on_shift_in_gcj02(client: Any, mworld: dict[str, Any]
                                                         ) -> None:
    seen = await staff_seen(client, "op.city")
    assert set(seen) == {mworld["staff"], mworld["staff2"], mworld["staff_rc"]}
    assert mworld["staff3"] not in seen  # off shift
    zhang = seen[mworld["staff"]]
    assert zhang["name"] == "张师傅" and zhang["provider_id"] == mworld["provider"]
    assert zhang["load"] == 0 and zhang["capacity"] == 3
    glat, glon = geo.wgs84_to_gcj02(*WENDENG)
    loc = zhang["location"]
    assert loc["lat_gcj02"] == pytest.approx(glat, abs=1e-6)
    assert loc["lon_gcj02"] == pytest.approx(glon, abs=1e-6)
    # GCJ-02 is several hundred metres from the GPS fix in Weihai
    assert geo.distance_m(*WENDENG, loc["lat_gcj02"], loc["lon_gcj02"]) > 300
    assert dt.datetime.fromisoformat(loc["at"]) <= dt.datetime.now(dt.UTC)
    assert seen[mworld["staff2"]]["location"] is None


@pytest.mark.parametrize(("username", "expected"), [
    ("op.wendeng", {"staff", "staff2"}),
    ("sup.wendeng", {"staff", "staff2"}),
    ("op.rongcheng", {"staff_rc"}),
    ("supervisor", {"staff", "staff2", "staff_rc"}),
    ("admin", {"staff", "staff2", "staff_rc"}),
])
async def test_a_viewer_sees_the_staff_of_their_region(
        client: Any, mworld: dict[str, Any], username: str, expected: set[str]) -> None:
    seen = await staff_seen(client, username)
    assert set(seen) == {mworld[k] for k in expected}


async def test_a_provider_covering_the_district_counts_as_its_own(
        client: Any, db: asyncpg.Connection, mworld: dict[str, Any]) -> None:
    rc_provider = await db.fetchval("SELECT provider_id FROM staff WHERE id = $1",
                                    mworld["staff_rc"])
    await db.execute("INSERT INTO provider_regions VALUES ($1, '371003')", rc_provider)
    seen = await staff_seen(client, "op.wendeng")
    assert set(seen) == {mworld["staff"], mworld["staff2"], mworld["staff_rc"]}


@pytest.mark.parametrize("username", ["ps.001", "pa.001"])
async def test_provider_logins_are_refused(client: Any, mworld: dict[str, Any],
                                           username: str) -> None:
    await client.login(username)
    resp = await client.get(URL)
    assert resp.status == 403, await resp.text()


async def test_anonymous_is_refused(client: Any, mworld: dict[str, Any]) -> None:
    resp = await client.get(URL)
    assert resp.status == 401, await resp.text()


def page_config(text: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="console-config">(.*?)</script>',
                      text, re.S)
    assert found, text[:500]
    return json.loads(html.unescape(found.group(1)))


async def test_the_console_carries_the_map(client: Any, world: dict[str, int]) -> None:
    await client.login("op.city")
    resp = await client.get("/console")
    text = await resp.text()
    assert resp.status == 200, text
    assert 'id="map-panel"' in text and 'src="/static/map.js"' in text
    assert "/static/vendor/leaflet/leaflet.css" in text
    config = page_config(text)
    assert config["map_tile_url"] == ""
    assert config["strings"]["map_title"] == "地图"
    en = await client.get("/console?lang=en")
    assert page_config(await en.text())["strings"]["map_title"] == "Map"


@pytest.fixture
def tiled(settings: Settings) -> Settings:
    return settings.replace(map_tile_url="/tiles/{z}/{x}/{y}.png")


async def test_a_configured_tile_url_reaches_the_page(tiled: Settings, world: dict[str, int]
                                                      ) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from callcenter.app import create_app
    from tests.conftest import Client

    async with TestClient(TestServer(create_app(tiled))) as http:
        c = Client(http)
        await c.login("op.city")
        resp = await c.get("/console")
        text = await resp.text()
        assert resp.status == 200, text
        assert page_config(text)["map_tile_url"] == "/tiles/{z}/{x}/{y}.png"


def test_the_tile_url_is_a_setting() -> None:
    from callcenter.settings import load_settings

    s = load_settings(environ={"ANXIN_MAP_TILE_URL": "/tiles/{z}/{x}/{y}.png"})
    assert s.map_tile_url == "/tiles/{z}/{x}/{y}.png"
    assert load_settings(environ={}).map_tile_url == ""
