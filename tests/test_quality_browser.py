"""Browser test of follow-up and quality (issue 7 parts 5 and 6): an operator of 文登 records a
4-star follow-up on the console, and a supervisor sees the provider's breakdown on /quality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_browser import VIEWPORT, base_url, login, page, shot  # noqa: F401
from tests.test_followup import completed_order, task_for

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
SHOTS = Path(__file__).resolve().parent / "screenshots"


async def test_operator_records_a_followup_and_supervisor_sees_the_breakdown(
        page: Any, browser: Any, base_url: str, db: asyncpg.Connection,  # noqa: F811
        dworld: dict[str, Any]) -> None:
    from playwright.async_api import expect

    now = dt.datetime.now(dt.UTC)
    for days in range(1, 6):  # enough orders in the window to be rated
        await completed_order(db, dworld, now - dt.timedelta(days=days))
    await task_for(db, dworld, now - dt.timedelta(minutes=30))

    await login(page, "op.wendeng")
    await page.goto("/console")
    panel = page.locator("#followups")
    card = panel.locator("#fu-current")
    await expect(card).to_be_visible()
    await expect(card.locator("#fu-elder")).to_have_text("王秀英")
    await expect(card.locator(".fu-facts")).to_contain_text("张师傅")
    await card.get_by_label("4★").check()
    await card.locator("input[name=comment]").fill("师傅很耐心")
    await panel.screenshot(path=str(SHOTS / "console-followup.png"))
    await card.get_by_role("button", name="记录回访").click()
    await expect(panel.locator("#fu-msg")).to_contain_text("王秀英：已记录 4 星")
    await expect(card).to_be_hidden()
    await expect(panel.locator("#fu-empty")).to_be_visible()
    assert await db.fetchval("SELECT o.state FROM orders o JOIN followups f ON f.order_id = o.id"
                             " WHERE f.satisfaction = 4") == "reviewed"

    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(10_000)
    sup = await context.new_page()
    try:
        await login(sup, "sup.wendeng")
        await sup.get_by_role("link", name="服务质量").click()
        await expect(sup).to_have_url(f"{base_url}/quality")
        await sup.get_by_role("button", name="立即重算星级").click()
        await expect(sup.locator("#qa-msg")).to_contain_text("已重算 2 家服务商")
        row = sup.locator(f"#qa-rows tr[data-provider='{dworld['provider']}']")
        await expect(row).to_contain_text("4.00 (1)")
        await expect(row).to_contain_text("100%")
        detail = sup.locator("#qa-breakdown")
        await expect(detail).to_contain_text("平均 4.00 分（1 次回访）")
        await expect(detail).to_contain_text("100% (6/6)")
        await expect(sup.locator("#qa-history tr")).to_have_count(1)
        stars = await db.fetchval("SELECT star_rating FROM providers WHERE id = $1",
                                  dworld["provider"])
        await expect(sup.locator("#qa-detail-title")).to_contain_text(f"{stars} ★")
        await shot(sup, "quality")
        await sup.screenshot(path=str(DOCS / "quality.png"))  # the README's picture
    finally:
        await context.close()
