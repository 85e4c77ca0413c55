"""Browser tests of the provider page (/provider): a staff member on a phone goes on shift (the
page shares the location), gets an offer live with a countdown, accepts it, travels, is refused
check-in at 250 m and checks in at 150 m, checks out with a note, and finds the job in today's
history; another staff member never sees an offer that is not theirs; the provider admin sees
their staff and the job, live.

Debian's /usr/bin/chromium through Playwright, the app on a real loopback port, a dispatch worker
driven step by step; screenshots in tests/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestServer

from callcenter import live
from callcenter.app import create_app
from callcenter.settings import Settings
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset
from tests.factories import PASSWORD
from tests.test_browser import VIEWPORT, login, shot
from tests.test_console_browser import close_page, watched_page

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
ADDRESS = "文登区龙山街道昆嵛路18号"


@pytest.fixture
async def server(settings: Settings, dworld: dict[str, Any]) -> AsyncIterator[TestServer]:
    app_server = TestServer(create_app(settings), host="127.0.0.1")
    await app_server.start_server()
    yield app_server
    await app_server.close()


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def new_page(browser: Any, base_url: str, *, phone: bool = True,
                   at: tuple[float, float] = HOME) -> Any:
    """A fresh context (a phone with location allowed, or a desk screen); script errors and
    CSP refusals are kept and checked by close_page."""
    opts: dict[str, Any] = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone \
        else {"viewport": VIEWPORT}
    context = await browser.new_context(
        locale="zh-CN", base_url=base_url, permissions=["geolocation"],
        geolocation={"latitude": at[0], "longitude": at[1]}, **opts)
    return await watched_page(context)  # refused steps (409/422) are answers, not script errors


class Api:
    """A logged-in HTTP client on the running app (what another person's device does)."""

    def __init__(self, base_url: str) -> None:
        self.http = aiohttp.ClientSession(base_url=base_url,
                                          cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, username: str) -> Api:
        resp = await self.http.post("/api/v1/auth/login",
                                    json={"username": username, "password": PASSWORD})
        body = await resp.json()
        assert resp.status == 200, body
        self.csrf = body["csrf_token"]
        return self

    async def post(self, url: str, body: dict[str, Any], want: int = 200) -> Any:
        resp = await self.http.post(url, json=body, headers={"X-CSRF-Token": self.csrf})
        out = await resp.json()
        assert resp.status == want, out
        return out

    async def get(self, url: str) -> Any:
        resp = await self.http.get(url)
        out = await resp.json()
        assert resp.status == 200, out
        return out

    async def close(self) -> None:
        await self.http.close()


async def new_order(base_url: str, elder_id: int, clock: Any, worker: Any,
                    note: str = "周二上午助浴，老人腿脚不便") -> dict[str, Any]:
    """An operator creates a bathing order; the worker matches it and makes the offer."""
    op = await Api(base_url).login("op.wendeng")
    try:
        order = await op.post("/api/v1/orders", {"elder_id": elder_id, "item_code": "BA001",
                                                 "note": note}, want=201)
    finally:
        await op.close()
    clock.now = dt.datetime.now(dt.UTC)
    assert await drain(worker) >= 1
    return dict(order)


async def open_provider(page: Any, username: str) -> None:
    from playwright.async_api import expect

    await login(page, username)
    await page.goto("/provider")
    await expect(page.locator("#conn")).to_have_text("已连接")


async def test_staff_takes_an_offer_from_accept_to_check_out(
        browser: Any, base_url: str, dworld: dict[str, Any], db: asyncpg.Connection,
        clock: Any, worker: Any, rds: Any, settings: Settings) -> None:
    from playwright.async_api import expect

    from dispatch import staff_index

    page = await new_page(browser, base_url, at=offset(HOME, north_m=1500))
    await open_provider(page, "ps.001")
    root = page.locator("#provider")
    await expect(page.locator("h1")).to_contain_text("张师傅")
    toggle = page.locator("#shift-toggle")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(toggle).to_contain_text("未上班")
    await expect(page.locator("#offers-empty")).to_contain_text("未上班")
    await expect(page.locator("#sound-hint")).to_be_visible()

    # 上班: the first tap also unlocks the sound; the page shares the phone's location
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(toggle).to_contain_text("上班中")
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")
    await expect(page.locator("#loc-status")).to_contain_text("位置已上报")
    await expect(page.locator("#sound-hint")).to_be_hidden()
    assert await db.fetchval("SELECT on_shift FROM staff_status WHERE staff_id = $1",
                             dworld["staff"]) is True
    lat = await rds.hget(staff_index.hash_key(settings, dworld["staff"]), "lat")
    assert lat is not None and abs(float(lat) - offset(HOME, north_m=1500)[0]) < 1e-6

    # an operator's order is offered to me: it appears without a reload, beeping, counting down
    order = await new_order(base_url, dworld["elder_wendeng"], clock, worker)
    offer = page.locator(f"#offers .offer[data-order-id='{order['id']}']")
    await expect(offer).to_be_visible(timeout=3_000)
    await expect(offer).to_have_attribute("data-offer-id", re.compile(r"^\d+$"))
    await expect(offer).to_contain_text("上门助浴（可自理）")
    await expect(offer).to_contain_text("王秀英")
    await expect(offer).to_contain_text(ADDRESS)
    await expect(offer).to_contain_text("1.5 公里")
    await expect(offer).to_contain_text("尽快上门")
    await expect(offer).to_contain_text("老人腿脚不便")
    await expect(root).not_to_have_attribute("data-beeps", "0")
    count = offer.locator(".countdown b")
    first = int(await count.inner_text())
    assert 50 <= first <= 60, first
    await expect(count).not_to_have_text(str(first), timeout=2_500)  # it ticks
    await expect(page.locator("#offers-count")).to_have_text("1")
    await shot(page, "provider-offer")

    # 接单: the offer becomes my job
    await offer.locator("button[data-act=accept]").click()
    job = page.locator(f"#jobs .job[data-order-id='{order['id']}']")
    await expect(job).to_have_attribute("data-state", "accepted")
    await expect(page.locator("#offers .offer")).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("接单成功")
    await expect(job.locator("a[href^='tel:']")).to_have_attribute("href", re.compile(r"^tel:\+86"))
    await expect(job.locator("a.nav-link")).to_have_attribute("href", re.compile(r"^geo:37\.19"))
    await expect(job.locator("button[data-act=check_out]")).to_have_count(0)
    await expect(job.locator("textarea.checkout-note")).to_have_count(0)

    # 出发, then 签到 from 250 m: refused, and the distance is shown
    await job.locator("button[data-act=travel]").click()
    await expect(job).to_have_attribute("data-state", "en_route")
    await expect(job.locator("button[data-act=travel]")).to_have_count(0)
    await expect(job.locator("button[data-act=release]")).to_be_visible()
    far = offset(HOME, north_m=250)
    await page.context.set_geolocation({"latitude": far[0], "longitude": far[1]})
    await job.locator("button[data-act=check_in]").click()
    notice = page.locator("#notice")
    await expect(notice).to_contain_text("距老人住址 250 米，超过 200 米，不能签到")
    await expect(notice).to_be_visible()
    await expect(job.locator(".job-msg")).to_contain_text("250 米")
    await expect(job).to_have_attribute("data-state", "en_route")

    # from 150 m it is accepted; the note box and 签退 appear
    near = offset(HOME, north_m=150)
    await page.context.set_geolocation({"latitude": near[0], "longitude": near[1]})
    await job.locator("button[data-act=check_in]").click()
    await expect(job).to_have_attribute("data-state", "on_site")
    await expect(notice).to_contain_text("已签到")
    await expect(job.locator(".times")).to_contain_text("(150 米)")
    await expect(job.locator("button[data-act=check_in]")).to_have_count(0)
    await expect(job.locator("button[data-act=release]")).to_have_count(0)
    await expect(job.locator("button[data-act=fail]")).to_be_visible()
    await job.locator("textarea.checkout-note").fill("洗浴顺利，老人精神好")
    await page.locator("#toast").click()  # dismiss the notice before the picture
    await shot(page, "provider-job")
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")

    # 签退 with the note: the job leaves my hands and shows in today's history
    await job.locator("button[data-act=check_out]").click()
    await expect(job).to_have_count(0)
    await expect(page.locator("#jobs-empty")).to_be_visible()
    await expect(notice).to_contain_text("已签退")
    done = page.locator(f"#history .hist[data-order-id='{order['id']}']")
    await expect(done).to_contain_text("已完成")
    await expect(done).to_contain_text("洗浴顺利，老人精神好")
    await expect(done).to_contain_text("王秀英")
    row = await db.fetchrow("SELECT state, checkin_distance_m, checkout_note FROM orders"
                            " WHERE id = $1", order["id"])
    assert dict(row) == {"state": "completed", "checkin_distance_m": 150,
                         "checkout_note": "洗浴顺利，老人精神好"}
    await shot(page, "provider-history")

    # 下班
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(page.locator("#loc-status")).to_contain_text("下班时不上报位置")
    assert await db.fetchval("SELECT on_shift FROM staff_status WHERE staff_id = $1",
                             dworld["staff"]) is False
    await close_page(page)


async def test_another_staff_member_does_not_see_my_offer(
        browser: Any, base_url: str, dworld: dict[str, Any], db: asyncpg.Connection,
        clock: Any, worker: Any, pool: Any, rds: Any, settings: Settings) -> None:
    from playwright.async_api import expect

    # B (李阿姨, ps.002) on shift 2.5 km away through the page; A (张师傅) 100 m away
    page = await new_page(browser, base_url, at=offset(HOME, north_m=2500))
    await open_provider(page, "ps.002")
    await page.locator("#shift-toggle").click()
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, north_m=100),
                   dt.datetime.now(dt.UTC))

    order = await new_order(base_url, dworld["elder_wendeng"], clock, worker)
    assert await db.fetchval("SELECT staff_id FROM offers WHERE order_id = $1",
                             order["id"]) == dworld["staff"]
    a = await Api(base_url).login("ps.001")
    try:
        offers = (await a.get("/api/v1/me/offers"))["items"]
        assert [o["order"]["id"] for o in offers] == [order["id"]]
        await page.wait_for_timeout(1500)  # time enough for a live event to arrive
        await expect(page.locator("#offers .offer")).to_have_count(0)
        await expect(page.locator("#offers-empty")).to_be_visible()

        # A declines: the order goes to the next candidate, B, and reaches B's page live
        await a.post(f"/api/v1/offers/{offers[0]['offer_id']}/decline", {"reason": "在忙"})
    finally:
        await a.close()
    clock.now = dt.datetime.now(dt.UTC)
    assert await drain(worker) >= 1
    offer = page.locator(f"#offers .offer[data-order-id='{order['id']}']")
    await expect(offer).to_be_visible(timeout=3_000)
    await expect(offer).to_contain_text("2.5 公里")

    # B declines too: the card goes, nothing else is offered to B
    await offer.locator("button[data-act=decline]").click()
    await expect(page.locator("#offers .offer")).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("已拒单")
    assert await db.fetchval("SELECT state FROM offers WHERE order_id = $1 AND staff_id = $2",
                             order["id"], dworld["staff2"]) == "declined"
    await close_page(page)


async def test_provider_admin_sees_staff_and_jobs_live(
        browser: Any, base_url: str, dworld: dict[str, Any], clock: Any, worker: Any,
        pool: Any, rds: Any, settings: Settings) -> None:
    from playwright.async_api import expect

    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, north_m=300),
                   dt.datetime.now(dt.UTC))
    order = await new_order(base_url, dworld["elder_wendeng"], clock, worker)
    staff = await Api(base_url).login("ps.001")
    try:
        offer_id = (await staff.get("/api/v1/me/offers"))["items"][0]["offer_id"]
        await staff.post(f"/api/v1/offers/{offer_id}/accept", {})

        page = await new_page(browser, base_url, phone=False)
        await open_provider(page, "pa.001")
        table = page.locator("#staff-table")
        zhang = table.locator(f"tr[data-staff-id='{dworld['staff']}']")
        await expect(zhang).to_contain_text("张师傅")
        await expect(zhang).to_contain_text("在班")
        await expect(zhang).to_contain_text("1/3")
        li = table.locator(f"tr[data-staff-id='{dworld['staff2']}']")
        await expect(li).to_contain_text("李阿姨")
        await expect(li).to_contain_text("下班")
        await expect(table).not_to_contain_text("赵大姐")  # another provider's
        await expect(page.locator("#staff-counts")).to_have_text("在班 1 人 / 共 2 人")
        job = page.locator(f"#org-jobs .hist[data-order-id='{order['id']}']")
        await expect(job).to_contain_text("王秀英")
        await expect(job).to_contain_text("张师傅")
        await expect(job.locator(".state-badge")).to_have_text("已接单")

        # the staff member sets off: the admin's list follows without a reload
        await staff.post(f"/api/v1/jobs/{order['id']}/travel", {})
        await expect(job.locator(".state-badge")).to_have_text("在途", timeout=3_000)
        await shot(page, "provider-admin")

        # today's tab lists it too
        await page.get_by_role("tab", name="今天").click()
        await expect(page.locator(f"#org-jobs .hist[data-order-id='{order['id']}']")).to_be_visible()
        await close_page(page)
    finally:
        await staff.close()


async def test_release_and_fail_ask_for_a_reason(
        browser: Any, base_url: str, dworld: dict[str, Any], db: asyncpg.Connection,
        clock: Any, worker: Any) -> None:
    from playwright.async_api import expect

    page = await new_page(browser, base_url, at=offset(HOME, north_m=600))
    await open_provider(page, "ps.001")
    await page.locator("#shift-toggle").click()
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")
    dialog = page.locator("#reason-dialog")

    # 退单: the reason is required; the job goes back to the queue, off my page
    first = await new_order(base_url, dworld["elder_wendeng"], clock, worker, note="")
    await page.locator(f".offer[data-order-id='{first['id']}'] button[data-act=accept]").click()
    job = page.locator(f"#jobs .job[data-order-id='{first['id']}']")
    await expect(job).to_have_attribute("data-state", "accepted")
    await job.locator("button[data-act=release]").click()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("退单原因（必填）")
    await dialog.get_by_role("button", name="确定").click()
    await expect(dialog.locator(".r-msg")).to_have_text("请填写原因")
    await dialog.get_by_role("button", name="返回").click()  # changed my mind
    await expect(dialog).to_be_hidden()
    await expect(job).to_have_attribute("data-state", "accepted")
    await job.locator("button[data-act=release]").click()
    await dialog.locator("textarea").fill("电动车坏了")
    await dialog.get_by_role("button", name="确定").click()
    await expect(dialog).to_be_hidden()
    await expect(job).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("已退单")
    row = await db.fetchrow("SELECT state, staff_id, reason FROM orders WHERE id = $1",
                            first["id"])
    assert dict(row) == {"state": "queued", "staff_id": None, "reason": "电动车坏了"}

    # 无法完成 on site: the job ends as failed, with the reason, in today's history
    second = await new_order(base_url, dworld["elder_wendeng"], clock, worker, note="")
    await page.locator(f".offer[data-order-id='{second['id']}'] button[data-act=accept]").click()
    job = page.locator(f"#jobs .job[data-order-id='{second['id']}']")
    await expect(job).to_have_attribute("data-state", "accepted")
    await job.locator("button[data-act=fail]").click()
    await expect(dialog).to_contain_text("无法完成的原因（必填）")
    await dialog.locator("textarea").fill("老人不在家，电话无人接听")
    await shot(page, "provider-reason")
    await dialog.get_by_role("button", name="确定").click()
    await expect(job).to_have_count(0)
    await expect(page.locator("#notice")).to_contain_text("已标记为无法完成")
    failed = page.locator(f"#history .hist[data-order-id='{second['id']}']")
    await expect(failed).to_contain_text("未完成")
    await expect(failed).to_contain_text("老人不在家，电话无人接听")
    await close_page(page)


async def test_an_offer_that_runs_out_or_is_withdrawn_leaves_the_page(
        browser: Any, server: TestServer, base_url: str, dworld: dict[str, Any], clock: Any, worker: Any) -> None:
    from playwright.async_api import expect

    page = await new_page(browser, base_url, at=offset(HOME, north_m=500))
    await open_provider(page, "ps.001")
    await page.locator("#shift-toggle").click()
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")

    # an offer with 3 seconds left counts down and goes by itself
    op = await Api(base_url).login("op.wendeng")
    try:
        order = await op.post("/api/v1/orders", {"elder_id": dworld["elder_wendeng"],
                                                 "item_code": "BA001"}, want=201)
        clock.now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=57)
        assert await drain(worker) >= 1
        offer = page.locator(f"#offers .offer[data-order-id='{order['id']}']")
        await expect(offer).to_be_visible(timeout=3_000)
        await expect(offer).to_have_class(re.compile(r"\bending\b"))
        await expect(offer).to_have_count(0, timeout=5_000)
        await expect(page.locator("#offers-empty")).to_be_visible()

        # the operator cancels an order while its offer is on my screen: it goes, with a word
        second = await op.post("/api/v1/orders", {"elder_id": dworld["elder_wendeng"],
                                                  "item_code": "BA001"}, want=201)
        clock.now = dt.datetime.now(dt.UTC)
        assert await drain(worker) >= 1
        offer = page.locator(f"#offers .offer[data-order-id='{second['id']}']")
        await expect(offer).to_be_visible(timeout=3_000)
        await op.post(f"/api/v1/orders/{second['id']}/cancel", {"reason": "家属已安排"})
        await expect(offer).to_have_count(0, timeout=3_000)
        await expect(page.locator("#notice")).to_contain_text("工单已被取消")

        # accepting an offer the server no longer holds (a race lost before the live word came)
        # answers 409: the page shows the message and drops the offer. The live channel is held
        # back here so the click surely comes first.
        third = await op.post("/api/v1/orders", {"elder_id": dworld["elder_wendeng"],
                                                 "item_code": "BA001"}, want=201)
        clock.now = dt.datetime.now(dt.UTC)
        assert await drain(worker) >= 1
        offer = page.locator(f"#offers .offer[data-order-id='{third['id']}']")
        await expect(offer).to_be_visible(timeout=3_000)
        for console in list(server.app[live.HUB].consoles):
            server.app[live.HUB].consoles.discard(console)  # deaf, still connected
        await op.post(f"/api/v1/orders/{third['id']}/cancel", {"reason": "重复下单"})
    finally:
        await op.close()
    await offer.locator("button[data-act=accept]").click()
    await expect(page.locator("#notice")).to_contain_text("已被他人接单或已撤回")
    await expect(offer).to_have_count(0)
    await expect(page.locator("#jobs .job")).to_have_count(0)
    await close_page(page)


async def test_offer_made_while_disconnected_arrives_after_the_reconnect(
        browser: Any, server: TestServer, base_url: str, dworld: dict[str, Any], clock: Any,
        worker: Any) -> None:
    from playwright.async_api import expect

    page = await new_page(browser, base_url, at=offset(HOME, north_m=400))
    await open_provider(page, "ps.001")
    await page.locator("#shift-toggle").click()
    await expect(page.locator("#loc-status")).to_have_attribute("data-state", "sent")
    await expect(page.locator("#offline")).to_be_hidden()

    # the server drops the page's socket: a banner says so while it reconnects
    for console in list(server.app[live.HUB].consoles):
        await console.ws.close(code=WSCloseCode.GOING_AWAY)
    await expect(page.locator("#conn")).to_have_text("重连中")
    await expect(page.locator("#offline")).to_be_visible()
    await expect(page.locator("#offline")).to_contain_text("网络已断开")
    await shot(page, "provider-offline")
    order = await new_order(base_url, dworld["elder_wendeng"], clock, worker)
    await expect(page.locator("#conn")).to_have_text("已连接", timeout=5_000)
    await expect(page.locator("#offline")).to_be_hidden()
    offer = page.locator(f"#offers .offer[data-order-id='{order['id']}']")
    await expect(offer).to_be_visible(timeout=3_000)
    await expect(offer).to_contain_text("400 米")
    await close_page(page)


async def test_provider_page_by_role_and_language(browser: Any, base_url: str) -> None:
    from playwright.async_api import expect

    page = await new_page(browser, base_url, phone=False)
    await login(page, "op.wendeng")
    resp = await page.goto("/provider")
    assert resp is not None and resp.status == 403
    await expect(page.locator("main")).not_to_contain_text("Traceback")
    await close_page(page)

    # the provider home page links to it; English on request
    page = await new_page(browser, base_url)
    await login(page, "ps.003")
    await page.get_by_role("link", name="进入工作台").click()
    await expect(page).to_have_url(re.compile(r"/provider$"))
    await expect(page.locator("h1")).to_contain_text("赵大姐")
    await page.goto("/provider?lang=en")
    await expect(page.locator("#conn")).to_have_text("Connected")
    await expect(page.locator("#shift-toggle")).to_contain_text("Off shift")
    await expect(page.locator("#tab-today")).to_have_text("Today")
    await expect(page.locator("#history")).to_contain_text("No finished jobs today")
    await shot(page, "provider-en")
    await close_page(page)
