"""Browser tests of the console's order part: an operator creates an order for an elder from the
screen pop's call card, and a provider page (a second browser context, a phone near the elder's
home) receives the offer, accepts, travels, checks in and completes; the console's board row and
the open timeline follow each step live. A no_candidate order shows its reason on the board, is
requeued, and is assigned by hand. The new-order dialog's checks, a scheduled order, cancel with
a reason, the board's filters, and the English page.

Debian's /usr/bin/chromium through Playwright; the app on a real loopback port with a dispatch
worker running inside it; screenshots in tests/screenshots/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from callcenter import outbox
from callcenter.app import create_app
from callcenter.settings import Settings
from callcenter.worker_app import worker_ctx
from dispatch import staff_index
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_world import HOME, offset
from tests.factories import PASSWORD
from tests.test_browser import login, shot
from tests.test_console_browser import close_page, new_page, open_console

pytestmark = pytest.mark.browser

ADDRESS = "文登区龙山街道昆嵛路18号"
PHONE = {"width": 390, "height": 844}
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
STEP_S = 5_000  # ms: a live step (the worker polls its stream every 0.5 s)


@pytest.fixture
async def base_url(settings: Settings, dworld: dict[str, Any]) -> AsyncIterator[str]:
    """The app with a real dispatch worker inside, on 127.0.0.1."""
    app = create_app(settings)
    app.cleanup_ctx.append(worker_ctx)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/")
    await server.close()


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Any]:
    page = await new_page(browser, base_url)
    await open_console(page, "op.wendeng")
    yield page
    await close_page(page)


async def provider_phone(browser: Any, base_url: str, at: tuple[float, float]) -> Any:
    """A staff member's phone with location allowed; script errors are kept like the console's."""
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", base_url=base_url,
        permissions=["geolocation"], geolocation={"latitude": at[0], "longitude": at[1]})
    context.set_default_timeout(10_000)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
            and not msg.text.startswith("Failed to load resource") else None)
    page.errors = errors
    return page


async def ring(db: asyncpg.Connection, elder_id: int) -> int:
    """A call from 王秀英's number, as the CTI module records and publishes it."""
    call_id = await db.fetchval(
        "INSERT INTO calls (external_id, direction, ani, dnis, elder_id, state, ringing_at)"
        " VALUES ('c-100', 'inbound', '+8613806310001', '12349', $1, 'ringing', now())"
        " RETURNING id", elder_id)
    call = {"id": call_id, "external_id": "c-100", "ani": "+8613806310001", "state": "ringing",
            "elder_id": elder_id, "ringing_at": dt.datetime.now(dt.UTC).isoformat()}
    elder = {"id": elder_id, "name": "王秀英", "age": 81, "sex": "F",
             "risk_groups": ["独居", "高龄"], "address": ADDRESS, "phones": ["+8613806310001"],
             "id_number": "3710**********1012", "region_name": "昆嵛社区", "contacts": [],
             "devices": [], "recent_alarms": []}
    await outbox.add(db, "call.ringing", "371003001001", {"call": call, "elder": elder})
    return int(call_id)


async def book_tomorrow(base_url: str, elder_id: int) -> int:
    """Another operator's order through the API: a meal delivery tomorrow 09:00-10:00."""
    day = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).date()
    async with aiohttp.ClientSession(base_url=base_url,
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp = await http.post("/api/v1/auth/login",
                               json={"username": "op.city", "password": PASSWORD})
        csrf = (await resp.json())["csrf_token"]
        resp = await http.post("/api/v1/orders", headers={"X-CSRF-Token": csrf}, json={
            "elder_id": elder_id, "item_code": "ME001",
            "window_start": f"{day}T09:00:00+08:00", "window_end": f"{day}T10:00:00+08:00"})
        body = await resp.json()
    assert resp.status == 201, body
    return int(body["id"])


async def new_bathing_order_for_wang(page: Any) -> Any:
    """On the console: 新建工单, 王秀英, 上门助浴 (BA001) ticked; the dialog, not yet sent."""
    await page.locator("#new-order").click()
    dialog = page.locator("#order-dialog")
    await dialog.get_by_label("查找老人").fill("王秀英")
    await dialog.locator("button.elder-hit").click()
    await dialog.get_by_label("查找服务项目").fill("BA001")
    await dialog.get_by_label(re.compile("上门助浴")).check()
    return dialog


async def location_sent(rds: aioredis.Redis, settings: Settings, staff_id: int) -> None:
    for _ in range(100):
        if await rds.hget(staff_index.hash_key(settings, staff_id), "lat"):  # type: ignore[misc]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the provider page did not share its location")


async def test_order_from_a_call_to_completion_live(
        browser: Any, console: Any, base_url: str, dworld: dict[str, Any],
        db: asyncpg.Connection, rds: aioredis.Redis, settings: Settings) -> None:
    from playwright.async_api import expect

    # 张师傅 goes on shift on his phone, 100 m from 王秀英's home
    phone = await provider_phone(browser, base_url, offset(HOME, north_m=100))
    await login(phone, "ps.001")
    await phone.goto("/provider")
    await phone.locator("#shift-toggle").click()
    await expect(phone.locator("#shift-toggle")).to_have_attribute("aria-pressed", "true")
    await location_sent(rds, settings, dworld["staff"])

    # a meal delivery booked for tomorrow is on the board from the snapshot
    page = console
    await expect(page.locator("#orders-empty")).to_have_text("暂无工单")
    booked = await book_tomorrow(base_url, dworld["elder_wendeng"])
    await page.reload()
    await expect(page.locator("#conn")).to_have_text("已连接")
    booked_row = page.locator(f"#orders .order-row[data-order-id='{booked}']")
    await expect(booked_row).to_have_attribute("data-state", "created")
    await expect(booked_row).to_contain_text("送餐上门")
    await expect(booked_row.locator(".oc-window")).to_contain_text("09:00–10:00")

    # 王秀英 calls: the screen pop offers a new order for her
    call_id = await ring(db, dworld["elder_wendeng"])
    pop = page.locator("#screen-pop article.pop")
    await expect(pop.locator("h3")).to_contain_text("王秀英", timeout=3_000)
    await pop.get_by_role("button", name="为来电老人新建工单").click()
    dialog = page.locator("#order-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".ep-name")).to_have_text("王秀英")
    await expect(dialog.locator(".ep-meta")).to_contain_text(ADDRESS)
    await expect(dialog.locator(".ep-call")).to_be_visible()
    await expect(dialog.get_by_label("查找服务项目")).to_be_focused()
    await dialog.get_by_label("查找服务项目").fill("助浴")
    await expect(dialog.locator(".item-opt")).to_have_count(1)
    await dialog.get_by_label(re.compile("上门助浴")).check()
    await dialog.get_by_label("备注").fill("老人要求下午洗浴")
    await shot(page, "order-new-dialog")
    await dialog.get_by_role("button", name="创建并派单").click()

    # the detail dialog opens at once; the board has the row
    detail = page.locator("#order-detail")
    await expect(detail).to_be_visible()
    await expect(dialog).to_be_hidden()
    order_id = int(await detail.get_attribute("data-order-id") or 0)
    row = page.locator(f"#orders .order-row[data-order-id='{order_id}']")
    await expect(row).to_contain_text("上门助浴（可自理）")
    await expect(row).to_contain_text("王秀英")
    timeline = detail.locator("ol.order-timeline li[data-event]")

    async def live_step(state: str, event: str, count: int) -> None:
        await expect(row).to_have_attribute("data-state", state, timeout=STEP_S)
        await expect(timeline).to_have_count(count, timeout=STEP_S)
        await expect(timeline.last).to_have_attribute("data-event", event)

    # the worker offers it to 张师傅: the row and the open timeline follow
    await live_step("offered", "offer", 3)
    await expect(timeline.nth(0)).to_have_attribute("data-event", "create")
    await expect(timeline.nth(1)).to_have_attribute("data-event", "enqueue")
    await expect(timeline.last).to_contain_text("推送给 张师傅")
    await expect(timeline.last).to_contain_text("派单引擎")
    await expect(row.locator(".os-badge")).to_have_text("已推送")
    await expect(detail.locator(".od-offers")).to_contain_text("张师傅")
    await expect(detail.locator(".od-offers")).to_contain_text("待答复")
    # a subsidised item (助浴): extra time may be approved until it is done
    await expect(detail.locator(".od-actions button")).to_have_text(
        ["人工派单", "取消工单", "批准延长时长"])

    # the phone: the offer, accepted
    offer = phone.locator(f"#offers .offer[data-order-id='{order_id}']")
    await expect(offer).to_be_visible(timeout=STEP_S)
    await offer.locator("button[data-act=accept]").click()
    await live_step("accepted", "accept", 4)
    await expect(timeline.last).to_contain_text("ps.001")
    await expect(row.locator(".oc-staff")).to_contain_text("张师傅")
    await expect(detail.locator(".od-actions button")).to_have_text(
        ["收回重派", "标记未完成", "取消工单", "批准延长时长"])

    job = phone.locator(f"#jobs .job[data-order-id='{order_id}']")
    await job.locator("button[data-act=travel]").click()
    await live_step("en_route", "travel", 5)
    # he arrives at the door: the phone's fix moves to 30 m from the home
    door = offset(HOME, north_m=30)
    await phone.context.set_geolocation({"latitude": door[0], "longitude": door[1]})
    await job.locator("button[data-act=check_in]").click()
    await live_step("on_site", "check_in", 6)
    await expect(timeline.last).to_contain_text("距离 30 米")
    await expect(detail.locator(".od-facts")).to_contain_text("30 米")
    await job.locator("textarea.checkout-note").fill("洗浴顺利，老人精神好")
    await job.locator("button[data-act=check_out]").click()
    await live_step("completed", "check_out", 7)
    await expect(detail.locator(".od-facts")).to_contain_text("洗浴顺利，老人精神好")
    await expect(detail.locator(".od-actions button")).to_have_text(["回访完成"])
    await expect(detail.locator(".od-summary .os-badge")).to_have_text("已完成")
    await expect(timeline).to_contain_text(
        ["创建工单", "进入派单队列", "推送接单", "接单", "出发", "到达签到", "服务完成签退"])
    # why 张师傅: the offer step's candidates with their scores
    await timeline.nth(2).get_by_text("候选人评分 (1)").click()
    cands = timeline.nth(2).locator(".cands table")
    await expect(cands).to_contain_text("张师傅")
    await expect(cands).to_contain_text("100 米")
    await expect(cands).to_contain_text(re.compile(r"评价 [\d.]+ · 距离 [\d.]+ · 均衡"))
    await shot(page, "order-timeline")
    await detail.get_by_role("button", name="返回").last.click()
    await expect(detail).to_be_hidden()

    # the finished row stays on the active board (dimmed) and is under 今日完成
    await expect(row).to_have_class(re.compile(r"\bleft\b"))
    await shot(page, "console-orders")
    await expect(booked_row).not_to_have_class(re.compile(r"\bleft\b"))
    await page.get_by_role("button", name="今日完成").click()
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    await expect(row).not_to_have_class(re.compile(r"\bleft\b"))
    await page.get_by_role("button", name="进行中").click()
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    await expect(booked_row).to_be_visible()
    await expect(page.locator("#orders-counts")).to_have_text("进行中 1")

    saved = await db.fetchrow("SELECT state, source, call_id, note, staff_id FROM orders"
                              " WHERE id = $1", order_id)
    assert dict(saved) == {"state": "completed", "source": "console", "call_id": call_id,
                           "note": "老人要求下午洗浴", "staff_id": dworld["staff"]}
    await phone.context.close()
    assert not phone.errors, phone.errors


async def test_no_candidate_is_requeued_then_assigned_by_hand(
        console: Any, dworld: dict[str, Any], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    page = console
    # nobody is on shift. 新建工单 from the board, by keyboard: find the elder, pick the item
    await page.locator("#new-order").focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#order-dialog")
    await expect(dialog).to_be_visible()
    search = dialog.get_by_label("查找老人")
    await expect(search).to_be_focused()
    await search.fill("王秀")
    hit = dialog.locator("button.elder-hit")
    await expect(hit).to_have_count(1)
    await expect(hit).to_contain_text("昆嵛社区")
    await hit.click()
    await expect(dialog.locator(".ep-name")).to_have_text("王秀英")
    await expect(dialog.locator(".ep-call")).to_be_hidden()
    await dialog.get_by_label("查找服务项目").fill("ba001")
    await page.keyboard.press("Enter")  # picks the only match
    await expect(dialog.locator("input[value=BA001]")).to_be_checked()
    await dialog.get_by_role("button", name="创建并派单").click()

    detail = page.locator("#order-detail")
    await expect(detail).to_be_visible()
    order_id = int(await detail.get_attribute("data-order-id") or 0)
    row = page.locator(f"#orders .order-row[data-order-id='{order_id}']")
    timeline = detail.locator("ol.order-timeline li[data-event]")
    await expect(row).to_have_attribute("data-state", "no_candidate", timeout=STEP_S)
    await expect(timeline.last).to_have_attribute("data-event", "no_candidate", timeout=STEP_S)
    await expect(timeline).to_have_count(4)
    await expect(timeline.nth(2)).to_have_attribute("data-event", "widen")
    await expect(timeline.nth(2)).to_contain_text("范围 6 公里")
    await expect(timeline.last).to_contain_text("6 公里内没有在班且有该技能的服务人员")
    await expect(detail.locator(".od-actions button")).to_have_text(
        ["人工派单", "重新派单", "取消工单", "批准延长时长"])
    await detail.locator(".dlg-x").click()

    # the board: the reason on the row, the no_candidate count on its filter
    await expect(row.locator(".os-badge")).to_have_text("无人可派")
    await expect(row.locator(".order-reason")).to_have_text(
        "6 公里内没有在班且有该技能的服务人员")
    await expect(page.locator("#order-filters [data-filter=no_candidate] .n")).to_have_text("1")
    await page.get_by_role("button", name=re.compile("^无人可派")).click()
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    await shot(page, "console-orders-no-candidate")

    # 重新派单: still nobody, so it comes back, live
    await row.locator("button[data-open=detail]").click()
    await expect(detail).to_be_visible()
    await detail.get_by_role("button", name="重新派单").click()
    form = detail.locator("form.od-form")
    await expect(form).to_be_visible()
    await form.get_by_role("button", name="确认重新派单").click()
    await expect(timeline).to_have_count(6, timeout=STEP_S)  # widened once already
    await expect(timeline.nth(4)).to_have_attribute("data-event", "requeue")
    await expect(timeline.nth(4)).to_contain_text("op.wendeng")
    await expect(timeline.last).to_have_attribute("data-event", "no_candidate")
    await expect(row).to_have_attribute("data-state", "no_candidate")
    await detail.locator(".dlg-x").click()

    # 人工派单 from the row: the candidates, nearest first; 张师傅 it is
    await row.get_by_role("button", name=f"人工派单 #{order_id}").click()
    await expect(detail).to_be_visible()
    await expect(form).to_be_visible()
    cands = form.locator("label.cand")
    await expect(cands).to_have_count(2)
    await expect(form.locator(".cand-list")).to_contain_text("李阿姨")
    await expect(cands.first).to_contain_text("不在班")
    await form.get_by_role("button", name="确认派单").click()
    await expect(form.locator(".od-form-msg")).to_have_text("请选择服务人员")
    await cands.filter(has_text="张师傅").locator("input").check()
    await expect(form.locator(".od-form-msg")).to_have_text("")
    await form.get_by_label("说明（选填）").fill("电话确认张师傅下午有空")
    await shot(page, "order-assign")
    await form.get_by_role("button", name="确认派单").click()
    await expect(row).to_have_attribute("data-state", "accepted", timeout=STEP_S)
    await expect(timeline.last).to_have_attribute("data-event", "assign")
    await expect(timeline.last).to_contain_text("张师傅")
    await expect(timeline.last).to_contain_text("电话确认张师傅下午有空")
    await expect(timeline.last).to_contain_text("op.wendeng")
    await expect(detail.locator(".dlg-msg").last).to_have_text("已记录: 人工派单")
    await expect(detail.locator(".od-offers")).to_contain_text("人工派单")
    await expect(form).to_be_hidden()
    await expect(row.locator(".oc-staff")).to_contain_text("张师傅")
    await expect(page.locator("#order-filters [data-filter=no_candidate] .n")).to_be_hidden()
    assert await db.fetchval("SELECT staff_id FROM orders WHERE id = $1",
                             order_id) == dworld["staff"]


async def test_new_order_checks_schedule_cancel_and_filters(
        console: Any, dworld: dict[str, Any], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    page = console
    await page.locator("#new-order").click()
    dialog = page.locator("#order-dialog")
    submit = dialog.get_by_role("button", name="创建并派单")
    await submit.click()
    await expect(dialog.locator(".field-error[data-for=elder_id]")).to_have_text("请选择老人")
    await expect(dialog.locator(".field-error[data-for=item_code]")).to_have_text("请选择服务项目")
    await expect(dialog.locator(".dlg-msg")).to_have_text("")
    await dialog.get_by_label("查找老人").fill("不存在的人")
    await expect(dialog.locator(".elder-results")).to_have_text("没有匹配项")
    await dialog.get_by_label("查找老人").fill("王秀英")
    await dialog.locator("button.elder-hit").click()
    await dialog.get_by_label("查找服务项目").fill("送餐")
    await dialog.get_by_label(re.compile("送餐上门")).check()
    # a window needs its three parts, the end after the start
    tomorrow = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).date()
    await dialog.get_by_label("日期").fill(tomorrow.isoformat())
    await submit.click()
    await expect(dialog.locator(".field-error[data-for=window_start]")).to_have_text(
        "请同时填写日期、开始和结束时间")
    await dialog.get_by_label("开始").fill("11:00")
    await dialog.get_by_label("结束").fill("10:30")
    await submit.click()
    await expect(dialog.locator(".field-error[data-for=window_end]")).to_have_text(
        "结束时间应晚于开始时间")
    await expect(dialog.locator(".field-error[data-for=window_start]")).to_be_hidden()
    await dialog.get_by_label("结束").fill("12:00")
    await submit.click()

    # scheduled for tomorrow: created, not dispatched yet
    detail = page.locator("#order-detail")
    await expect(detail).to_be_visible()
    order_id = int(await detail.get_attribute("data-order-id") or 0)
    row = page.locator(f"#orders .order-row[data-order-id='{order_id}']")
    await expect(row).to_have_attribute("data-state", "created")
    await expect(row.locator(".oc-window")).to_contain_text("11:00–12:00")
    await expect(detail.locator(".od-facts")).to_contain_text("11:00–12:00")
    saved = await db.fetchrow("SELECT window_start, window_end FROM orders WHERE id = $1",
                              order_id)
    local = saved["window_start"].astimezone(SHANGHAI)
    assert (local.date(), local.hour, local.minute) == (tomorrow, 11, 0)
    assert saved["window_end"] - saved["window_start"] == dt.timedelta(hours=1)

    # 取消 needs a reason
    await detail.get_by_role("button", name="取消工单").click()
    form = detail.locator("form.od-form")
    await form.get_by_role("button", name="确认取消").click()
    await expect(form.locator(".od-form-msg")).to_have_text("请填写原因")
    await expect(form.get_by_label("原因（必填）")).to_be_focused()
    await form.get_by_label("原因（必填）").fill("家属已自行安排")
    await form.get_by_role("button", name="确认取消").click()
    await expect(row).to_have_attribute("data-state", "cancelled")
    await expect(timeline_last(detail)).to_contain_text("家属已自行安排")
    await expect(detail.locator(".od-actions")).to_be_hidden()
    await page.keyboard.press("Escape")
    await expect(detail).to_be_hidden()
    await expect(row.locator(".order-reason")).to_have_text("家属已自行安排")

    # filters: the cancelled order is under 全部 and leaves 进行中
    await page.get_by_role("button", name="全部", exact=True).click()
    await expect(page.locator("#orders .order-row")).to_have_count(1)
    await page.get_by_role("button", name="进行中").click()
    await expect(page.locator("#orders .order-row")).to_have_count(0)

    # the same board in English
    await page.goto("/console?lang=en")
    await expect(page.locator("#conn")).to_have_text("Connected")
    await expect(page.get_by_role("heading", name=re.compile("^Service orders"))).to_be_visible()
    await page.get_by_role("button", name="All", exact=True).click()
    await expect(page.locator("[data-filter=all]")).to_have_attribute("aria-pressed", "true")
    await expect(row.locator(".os-badge")).to_have_text("Cancelled")
    await row.get_by_role("button", name=f"Details #{order_id}").click()
    await expect(detail.locator("ol.order-timeline")).to_contain_text("Order created")
    await expect(detail.locator("ol.order-timeline")).to_contain_text("Cancelled")
    await expect(detail.locator(".od-facts")).to_contain_text("Meal delivery")
    await shot(page, "order-detail-en")
    await page.keyboard.press("Escape")
    await page.locator("#new-order").click()
    await expect(page.locator("#order-dialog")).to_contain_text("Find the elder")
    await page.locator("#order-dialog").get_by_role("button", name="Create and dispatch").click()
    await expect(page.locator(".field-error[data-for=item_code]")).to_have_text("Pick a service")
    await page.keyboard.press("Escape")


def timeline_last(detail: Any) -> Any:
    return detail.locator("ol.order-timeline li[data-event]").last


async def test_a_supervisor_watches_the_board_without_order_buttons(
        browser: Any, base_url: str, dworld: dict[str, Any]) -> None:
    from playwright.async_api import expect

    booked = await book_tomorrow(base_url, dworld["elder_wendeng"])
    page = await new_page(browser, base_url)
    try:
        await open_console(page, "sup.wendeng")
        row = page.locator(f"#orders .order-row[data-order-id='{booked}']")
        await expect(row).to_have_attribute("data-state", "created")
        await expect(page.locator("#new-order")).to_have_count(0)
        await row.get_by_role("button", name=f"详情 #{booked}").click()
        detail = page.locator("#order-detail")
        await expect(detail.locator("ol.order-timeline li[data-event]")).to_have_count(1)
        await expect(detail.locator(".od-actions")).to_be_hidden()
        await expect(detail.locator(".od-actions button")).to_have_count(0)
    finally:
        await close_page(page)
