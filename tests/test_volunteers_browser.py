"""The /volunteers page in a browser: an operator opens a volunteer, logs an hour of meals
delivered, and sees the time-bank balance go up by the activity's points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import test_browser as browser_tests
from tests.test_browser import login, shot

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

base_url = browser_tests.base_url  # the app with the test world, on 127.0.0.1
page = browser_tests.page


async def test_logging_hours_raises_the_balance(page: Any, db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await db.execute("INSERT INTO volunteers (name, phone, region_code, activities, joined_on)"
                     " VALUES ('刘海燕', '+8613806310099', '371003001001', '{meal}',"
                     " '2025-03-01')")
    await login(page, "op.wendeng")
    await page.goto("/volunteers")
    await page.get_by_role("button", name="刘海燕").click()
    balance = page.locator("#vol-d-balance")
    await expect(balance).to_have_text("0.0")
    form = page.locator("#vol-hours")
    await form.get_by_label("服务类别").select_option("meal")
    await form.get_by_label("时长（分钟）").fill("60")
    await form.get_by_role("button", name="登记时长").click()
    await expect(balance).to_have_text("2.0")  # meals: 2 points an hour
    await expect(page.locator("#vol-history tbody tr")).to_have_count(1)
    await expect(page.locator("#vol-table tr[data-id] td.num")).to_have_text("2.0")
    await shot(page, "volunteers")
    await page.screenshot(path=str(DOCS / "volunteers.png"))  # the README's picture
