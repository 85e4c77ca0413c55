"""Browser tests of the supervisor dashboard (1920x1080, Debian's chromium through Playwright):
the figures on screen are the JSON's, the page fits the screen without scrolling and logs no
script error, a new alarm raised through the device API shows up live, and a lost live channel
shows the banner. Screenshots in docs/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.settings import Settings
from tests import factories
from tests.factories import event_body, signed_headers
from tests.test_browser import login
from tests.test_console_browser import close_page, watched_page
from tests.test_dashboard import _today_base, craft

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
BIG_SCREEN = {"width": 1920, "height": 1080}
SERIAL = "SOS-WD-0101"


@pytest.fixture
async def base_url(settings: Settings, world: dict[str, int], db: asyncpg.Connection
                   ) -> AsyncIterator[str]:
    """The app on 127.0.0.1 with today's crafted figures and an SOS phone for 王秀英."""
    await craft(db, world, _today_base())
    await factories.device(db, SERIAL, world["elder_wendeng"])
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/")
    await server.close()


@pytest.fixture
async def page(browser: Any, base_url: str) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=BIG_SCREEN, locale="zh-CN", base_url=base_url)
    pg = await watched_page(context)
    yield pg
    await close_page(pg)


async def _open(page: Any, username: str = "supervisor") -> dict[str, Any]:
    from playwright.async_api import expect

    await login(page, username)
    await page.get_by_role("link", name="大屏").click()
    await expect(page).to_have_url(re.compile(r"/dashboard$"))
    await expect(page.locator("#dashboard")).to_have_attribute("data-state", "ready")
    await expect(page.locator("#dash-conn")).to_have_text("实时")
    resp = await page.request.get("/api/v1/dashboard")
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


def _fig(page: Any, key: str) -> Any:
    return page.locator(f'[data-fig="{key}"] dd')


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


async def test_dashboard_shows_the_figures(page: Any) -> None:
    from playwright.async_api import expect

    data = await _open(page)
    f = data["figures"]
    await expect(_fig(page, "calls.total")).to_have_text(str(f["calls"]["total"]))
    await expect(_fig(page, "alarms.total")).to_have_text(str(f["alarms"]["total"]))
    await expect(_fig(page, "orders.total")).to_have_text(str(f["orders"]["total"]))
    await expect(_fig(page, "answer.pct_60s")).to_have_text(_pct(f["answer"]["pct_60s"]))
    await expect(_fig(page, "answer.pct_180s")).to_have_text(_pct(f["answer"]["pct_180s"]))
    await expect(_fig(page, "staff.on_shift")).to_have_text(str(data["staff"]["on_shift"]))
    assert (f["calls"]["total"], f["alarms"]["total"], f["orders"]["total"]) == (5, 5, 6)
    # below the 97.5% target: shown as bad
    await expect(page.locator('[data-fig="answer.pct_60s"]')).to_have_attribute("data-grade",
                                                                                "bad")
    rows = page.locator("#districts tbody tr")
    await expect(rows).to_have_count(2)
    wendeng = next(c for c in data["children"] if c["code"] == "371003")
    row = page.locator('#districts tr[data-region="371003"]')
    await expect(row.locator("th")).to_have_text("文登区")
    await expect(row.locator("td").nth(1)).to_have_text(str(wendeng["figures"]["alarms"]["total"]))
    await expect(row.locator("td").nth(3)).to_have_text(_pct(wendeng["figures"]["answer"]["pct_60s"]))
    # five charts drawn on canvases
    for chart in ("chart-category", "chart-state", "chart-kind", "chart-trend", "chart-map"):
        await expect(page.locator(f"#{chart} canvas")).to_have_count(1)
    await expect(page.locator("#dash-offline")).to_be_hidden()
    # one screen, no scrolling
    size = await page.evaluate("[document.documentElement.scrollWidth,"
                               " document.documentElement.scrollHeight, innerWidth, innerHeight]")
    assert size[0] <= size[2] and size[1] <= size[3], size
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "dashboard.png"))


async def _map_areas(page: Any, generated: str) -> dict[str, dict[str, Any]]:
    """The map series' data, by district code, once the map shows the figures of `generated`."""
    from playwright.async_api import expect

    await expect(page.locator("#chart-map")).to_have_attribute("data-drawn", generated)
    series = await page.evaluate(
        "echarts.getInstanceByDom(document.getElementById('chart-map')).getOption().series")
    assert [s["type"] for s in series] == ["map"]
    return {d["code"]: d for d in series[0]["data"]}


async def test_dashboard_map_colours_the_districts(page: Any) -> None:
    """The map panel: the districts with an outline, named in the page's language, carry the
    table's alarm counts; the outlines without a child region of the city are grey."""
    from playwright.async_api import expect

    data = await _open(page)
    generated = await page.locator("#dashboard").get_attribute("data-generated")
    areas = await _map_areas(page, generated)
    assert set(areas) == {"371002", "371003", "371082", "371083"}
    kids = {c["code"]: c for c in data["children"]}
    # the test world's city has two districts: 文登区 and 荣成市
    assert set(kids) == {"371003", "371082"}
    for code, kid in kids.items():
        area = areas[code]
        assert area["name"] == kid["name"] and area["inScope"] is True
        assert area["value"] == kid["figures"]["alarms"]["total"]
        assert kid["figures"]["answer"]["pct_60s"] is None or (
            f"{kid['figures']['answer']['pct_60s']:.1f}%" in area["tip"])
        assert f"警情 {kid['figures']['alarms']['total']}" in area["tip"]
    assert (areas["371003"]["value"], areas["371082"]["value"]) == (3, 2)
    # more alarms, a warmer colour; the others grey
    assert areas["371003"]["itemStyle"]["areaColor"] != areas["371082"]["itemStyle"]["areaColor"]
    for code in ("371002", "371083"):
        assert areas[code]["inScope"] is False and areas[code]["value"] is None
        assert areas[code]["itemStyle"]["areaColor"] == areas["371002"]["itemStyle"]["areaColor"]
    assert areas["371002"]["name"] == "环翠区" and areas["371083"]["name"] == "乳山市"
    await expect(page.locator("#map-legend")).to_be_visible()
    await expect(page.locator("#map-max")).to_have_text("3")
    # in English the labels are the English names
    await page.goto("/dashboard?lang=en")
    await expect(page.locator("#dashboard")).to_have_attribute("data-state", "ready")
    generated = await page.locator("#dashboard").get_attribute("data-generated")
    areas = await _map_areas(page, generated)
    assert (areas["371003"]["name"], areas["371082"]["name"]) == ("Wendeng District",
                                                                  "Rongcheng")
    assert areas["371003"]["value"] == 3
    await expect(page.locator("#map-note")).to_contain_text("Outlines approximate")


async def test_district_supervisor_sees_the_district_highlighted(page: Any) -> None:
    """Below a district the children are towns: the district's own outline is highlighted with
    its figures, the other districts grey."""
    data = await _open(page, "sup.wendeng")
    assert data["region"]["code"] == "371003"
    assert [c["code"] for c in data["children"]] == ["371003001"]
    generated = await page.locator("#dashboard").get_attribute("data-generated")
    areas = await _map_areas(page, generated)
    own = areas["371003"]
    assert own["inScope"] is True and own["own"] is True and own["name"] == "文登区"
    assert own["value"] == data["figures"]["alarms"]["total"] == 3
    assert {c for c, a in areas.items() if not a["inScope"]} == {"371002", "371082", "371083"}
    await page.wait_for_function("document.getElementById('map-legend').hidden")


async def test_dashboard_updates_live(page: Any, base_url: str) -> None:
    from playwright.async_api import expect

    data = await _open(page)
    before = data["figures"]["alarms"]["total"]
    await expect(_fig(page, "alarms.total")).to_have_text(str(before))
    first = await page.locator("#dashboard").get_attribute("data-generated")
    body = event_body("dash-live-1")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base_url}/api/v1/devices/{SERIAL}/events", data=body,
                               headers=signed_headers(body))
        assert resp.status == 202, await resp.text()
    # no reload: the live channel's alarm.new makes the page fetch the figures again
    await expect(_fig(page, "alarms.total")).to_have_text(str(before + 1), timeout=15_000)
    await expect(_fig(page, "answer.unacknowledged")).to_have_text(
        str(data["figures"]["answer"]["unacknowledged"] + 1))
    assert await page.locator("#dashboard").get_attribute("data-generated") != first


async def test_lost_channel_shows_the_banner(page: Any) -> None:
    """The live channel drops and cannot come back for a while: a banner says so; it goes
    when the channel is back."""
    from playwright.async_api import expect

    sockets: list[Any] = []
    blocked = {"on": False}

    async def route(ws: Any) -> None:
        if blocked["on"]:
            await ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket(re.compile(r"/ws/console"), route)
    await _open(page)
    await expect(page.locator("#dash-offline")).to_be_hidden()
    blocked["on"] = True
    for ws in sockets:
        await ws.close()
    await expect(page.locator("#dash-offline")).to_be_visible()
    await expect(page.locator("#dash-offline")).to_contain_text("实时连接已断开")
    await expect(page.locator("#dash-conn")).to_have_text("重连中")
    blocked["on"] = False
    await expect(page.locator("#dash-offline")).to_be_hidden(timeout=20_000)
    await expect(page.locator("#dash-conn")).to_have_text("实时")


async def test_reports_page(page: Any) -> None:
    from playwright.async_api import expect

    await login(page, "supervisor")
    await page.get_by_role("link", name="报表").click()
    await expect(page).to_have_url(re.compile(r"/reports$"))
    await expect(page.locator("#report-title")).to_contain_text("威海市 日报")
    await expect(page.locator("input[name=month]")).to_be_hidden()
    await page.get_by_label("月报").check()
    await expect(page.locator("input[name=month]")).to_be_visible()
    await page.get_by_role("button", name="查看").click()
    await expect(page.locator("#report-title")).to_contain_text("月报")
    async with page.expect_download() as info:
        await page.locator("#dl-xlsx").click()
    download = await info.value
    assert download.suggested_filename.endswith(".xlsx")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.screenshot(path=str(SHOTS / "reports.png"), full_page=True)
