"""Browser tests of settlement: a supervisor opens 服务结算, picks last month, sees each provider's
totals and downloads a statement whose totals match the page; and an operator is told, in the
new-order dialog, that the elder's subsidised hours do not cover the service, and places the
order once the elder agrees to pay the rest.

The server, worker and pages are those of tests/test_orders_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import asyncpg
import openpyxl
import pytest

from callcenter import subsidy
from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_browser import login, shot
from tests.test_console_browser import close_page, new_page
from tests.test_orders_browser import base_url, console, new_bathing_order_for_wang  # noqa: F401 (fixtures)
from tests.test_settlement_api import LAST, THIS, last_month
from tests.test_subsidy import grant

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def test_supervisor_downloads_last_months_statement(
        browser: Any, base_url: str, dworld: dict[str, Any],  # noqa: F811
        db: asyncpg.Connection, tmp_path: Any) -> None:
    from playwright.async_api import expect

    await last_month(db, dworld)
    page = await new_page(browser, base_url)
    await login(page, "supervisor")
    await page.goto(f"/settlement?month={THIS.strftime('%Y-%m')}")
    table = page.locator("#set-table")
    await expect(table).to_have_attribute("data-state", "ready")
    await expect(page.locator("#set-rows")).to_contain_text("该月没有已完成的工单")
    await page.get_by_label("结算月份").fill(LAST.strftime("%Y-%m"))  # the picker submits
    await expect(page).to_have_url(re.compile(f"month={LAST.strftime('%Y-%m')}"))
    await expect(table).to_have_attribute("data-state", "ready")
    rows = page.locator("#set-rows tr")
    await expect(rows).to_have_count(2)
    total = page.locator("#set-total-row td")
    await expect(total.nth(1)).to_have_text("4")
    await expect(total.nth(5)).to_have_text("56.25")
    await expect(page.locator("#set-close")).to_be_visible()  # the city supervisor may close
    await shot(page, "settlement")
    await page.screenshot(path=str(DOCS / "settlement.png"))  # the README's picture

    first = rows.first
    async with page.expect_download() as info:
        await first.get_by_role("link", name="Excel对账单").click()
    download = await info.value
    path = tmp_path / "statement.xlsx"
    await download.save_as(str(path))
    sheet = openpyxl.load_workbook(path).worksheets[0]
    last = list(sheet.iter_rows(values_only=True))[-1]
    shown = await first.locator("td").all_inner_texts()
    assert last[0] == "合计"
    assert [str(last[10]), str(last[11]), f"{last[13]:.2f}"] == \
        [shown[2], shown[3], shown[5]]  # checked and subsidised minutes, subsidy in yuan
    printable = await first.get_by_role("link", name="打印版").get_attribute("href")
    await page.goto(printable)
    await expect(page.locator("#total-subsidised")).to_have_text(shown[5])
    await expect(page.get_by_text("服务机构（盖章）")).to_be_visible()
    await shot(page, "settlement-statement")
    await close_page(page)


async def test_operator_is_told_the_elder_pays_the_excess(
        console: Any, dworld: dict[str, Any], db: asyncpg.Connection) -> None:  # noqa: F811
    from playwright.async_api import expect

    elder = dworld["elder_wendeng"]
    await grant(db, elder)
    async with db.transaction():
        await subsidy.correct(db, elder, THIS, 1790, "补记本月服务", dworld["admin"])
    page = console
    dialog = await new_bathing_order_for_wang(page)
    await dialog.get_by_role("button", name="创建并派单").click()
    box = dialog.locator(".over-budget")
    await expect(box).to_contain_text("本月补贴时长不足")
    await expect(box.locator(".ob-figures")).to_contain_text("10分钟")
    await expect(box.locator(".ob-figures")).to_contain_text("50分钟 ¥66.67")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    await shot(page, "order-over-budget")
    await box.get_by_role("button", name="老人已同意自费，确认下单").click()
    await expect(dialog).to_be_hidden()
    order_id = await db.fetchval("SELECT id FROM orders")
    assert await db.fetchval("SELECT count(*) FROM events WHERE entity_id = $1 AND"
                             " payload->>'event' = 'self_pay_confirmed'", order_id) == 1

    # the bath will take longer than the item's hour: the operator approves 90 minutes
    detail = page.locator("#order-detail")  # a new order opens its detail
    await expect(detail).to_have_attribute("data-order-id", str(order_id))
    await detail.get_by_role("button", name="批准延长时长").click()
    form = detail.locator("form.od-form")
    await expect(form.get_by_label("批准的服务分钟数")).to_have_value("90")
    await form.locator("textarea[name=reason]").fill("老人行动不便，助浴需90分钟")
    await form.get_by_role("button", name="批准", exact=True).click()
    await expect(detail.locator(".dlg-foot .dlg-msg")).to_contain_text("批准延长时长")
    await expect(detail.locator(".order-timeline")).to_contain_text("90分钟")
    assert await db.fetchval("SELECT approved_minutes FROM orders WHERE id = $1",
                             order_id) == 90
