"""Browser tests of the console's elder search and profile, the pinyin item search and the
keyboard: "/" finds 王秀英 by phone and by ID number, her profile shows the masked ID, her SOS
phone's last heartbeat, her contacts and her history; "n" opens a new order where "zy" finds
助浴 (bathing); the live banner shows while the channel is down. Screenshots go to docs/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestServer

from callcenter import live
from tests import dispatch_world, factories
from tests import test_console_browser as console_tests
from tests.test_console_browser import SERIAL, open_console, press_sos

pytestmark = pytest.mark.browser
# the console tests' world: 王秀英 with her SOS phone, address and contacts, on a real port
setting_changes = console_tests.setting_changes
server = console_tests.server
base_url = console_tests.base_url
page = console_tests.page
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def test_find_an_elder_by_phone_and_id_and_read_the_profile(
        page: Any, base_url: str, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await press_sos(base_url, "sos-profile")  # something for her history
    await db.execute("UPDATE devices SET battery = 15, last_heartbeat_at = now()"
                     " - interval '2 hours' WHERE serial = $1", SERIAL)
    await open_console(page, "op.wendeng")
    await expect(page.locator("article.alarm")).to_have_count(1)
    DOCS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(DOCS / "console.png"))  # the README's picture of the console
    await page.keyboard.press("/")
    await expect(page.locator("#elder-q")).to_be_focused()
    await page.keyboard.type("13806310001")
    hit = page.locator("#elder-hits button.ep-hit")
    await expect(hit).to_have_count(1)
    await expect(hit).to_contain_text("王秀英")
    await hit.click()
    dialog = page.locator("#elder-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".ep-title")).to_have_text("王秀英")
    number = factories.id_number(101)
    await expect(dialog.locator(".ep-head")).to_contain_text(f"{number[:4]}**********{number[-4:]}")
    await expect(dialog.locator(".ep-head")).not_to_contain_text(number)
    await expect(dialog.locator(".ep-head")).to_contain_text("独居")
    row = dialog.locator(".ep-devices tbody tr").filter(has_text=SERIAL)
    await expect(row).to_contain_text("2 小时前")
    await expect(row).to_contain_text("15%")
    await expect(row).to_contain_text("在用")
    await expect(dialog.locator(".contacts")).to_contain_text("李强")
    await expect(dialog.locator(".ep-timeline li.tl-alarm")).to_contain_text("紧急呼叫")
    await page.screenshot(path=str(DOCS / "console-profile.png"))
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    # by the ID number, typed with a space as people do
    await page.locator("#elder-q").fill(f"{number[:6]} {number[6:]}")
    await page.locator("#elder-q").press("Enter")
    await expect(hit).to_have_count(1)
    await page.locator("#elder-q").press("ArrowDown")
    await expect(hit).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog.locator(".ep-title")).to_have_text("王秀英")


async def test_pinyin_initials_find_a_service_and_keys_open_dialogs(
        page: Any, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await dispatch_world.catalogue(db)
    await open_console(page, "op.wendeng")
    await page.keyboard.press("?")
    await expect(page.locator("#keys-dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await page.keyboard.press("n")
    form = page.locator("#order-dialog")
    await expect(form).to_be_visible()
    await form.locator('input[name="item_q"]').fill("zy")
    options = form.locator(".item-list label.item-opt")
    await expect(options.first).to_contain_text("助浴")
    for text in await options.all_inner_texts():
        assert "助浴" in text, text


async def test_the_banner_shows_while_the_live_channel_is_down(
        page: Any, server: TestServer) -> None:
    from playwright.async_api import expect

    await open_console(page, "op.wendeng")
    banner = page.locator("#conn-banner")
    await expect(banner).to_be_hidden()
    for console in list(server.app[live.HUB].consoles):
        await console.ws.close(code=WSCloseCode.GOING_AWAY)
    await expect(banner).to_be_visible()
    await expect(banner).to_contain_text("连接中断")
    await expect(page.locator("#conn")).to_have_text("已连接")
    await expect(banner).to_be_hidden()


async def test_the_state_picker_shows_overdue_orders(
        page: Any, world: dict[str, int], db: asyncpg.Connection) -> None:
    """An order for "now" made two hours ago that nobody has reached is overdue; one made a
    minute ago is not."""
    from playwright.async_api import expect

    await dispatch_world.catalogue(db)
    elder = world["elder_wendeng"]
    ids = [await db.fetchval(
        "INSERT INTO orders (elder_id, item_code, kind, state, priority, region_code, created_at,"
        " updated_at) VALUES ($1, 'BA001', 'service', 'queued', 3, '371003001001',"
        f" now() - interval '{age}', now()) RETURNING id", elder) for age in ("2 hours", "1 minute")]
    await open_console(page, "op.wendeng")
    rows = page.locator("#orders tbody tr.order-row")
    await expect(rows).to_have_count(2)
    await page.locator("#order-state").select_option("overdue")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(f"#{ids[0]}")
    await expect(rows.first.locator(".overdue-badge")).to_have_text("已超时")
    await page.locator("#order-state").select_option("queued")
    await expect(rows).to_have_count(2)
    await page.locator("#order-state").select_option("on_site")
    await expect(rows).to_have_count(0)


async def test_the_profile_and_the_order_form_show_subsidised_hours_left(
        page: Any, world: dict[str, int], db: asyncpg.Connection) -> None:
    """王秀英 is in the 失能 programme (40 h a month) and has used 90 minutes: her profile says
    38 h 30 min of 40 hours are left, and so does the new-order dialog once a subsidised item is picked."""
    import datetime as dt

    from playwright.async_api import expect

    from callcenter import subsidy
    from callcenter.subsidy_rules import month_of

    await dispatch_world.catalogue(db)
    elder = world["elder_wendeng"]
    await db.execute("INSERT INTO subsidy_eligibility (elder_id, programme_code, starts_on,"
                     " approved_region_code) VALUES ($1, 'shineng', '2025-01-01', '371003')", elder)
    async with db.transaction():
        await subsidy.correct(db, elder, month_of(dt.datetime.now(dt.UTC)), 90, "补记",
                              world["supervisor"])
    await open_console(page, "op.wendeng")
    await page.keyboard.press("/")
    await page.keyboard.type("13806310001")
    await page.locator("#elder-hits button.ep-hit").click()
    dialog = page.locator("#elder-dialog")
    await expect(dialog.locator(".facts")).to_contain_text("补贴时长 本月剩余")
    await expect(dialog.locator(".facts")).to_contain_text("38小时30分 / 40小时")
    await dialog.get_by_role("button", name="新建工单").click()
    form = page.locator("#order-dialog")
    await expect(form).to_be_visible()
    await form.locator('input[name="item_q"]').fill("BA001")
    await form.locator(".item-list label.item-opt").first.click()
    note = form.locator(".subsidy-note")
    await expect(note).to_have_text("本月补贴剩余 38小时30分；超出部分自费")
    await form.locator('input[name="item_q"]').fill("EM001")  # not subsidised: no line
    await form.locator(".item-list label.item-opt").first.click()
    await expect(note).to_be_hidden()
