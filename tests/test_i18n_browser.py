"""The language switch sticks per user (issue 6, Language): user A's English follows A to a
fresh browser and leaves user B in Chinese; <html lang> follows; an English page shows no Chinese
in its navigation and headings, a Chinese page no English beyond the bilingual footer."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import pytest

from tests import test_browser as browser_tests
from tests.test_browser import VIEWPORT, login, shot

HAN = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
# data, not interface text: user and region names, the brand
DATA = ("12349", "admin", "威海市", "文登区", "荣成市", "Weihai", "Wendeng", "Rongcheng")
UI = "header nav, header .who .muted, header .who button, main h1, main h2, main h3, main th"


base_url = browser_tests.base_url  # the app with the test world, on 127.0.0.1


async def _fresh(browser: Any, base_url: str) -> Any:
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=base_url)
    context.set_default_timeout(10_000)
    return await context.new_page()


async def _ui_text(page: Any) -> str:
    texts = await page.locator(UI).all_inner_texts()
    joined = " ".join(texts)
    for word in DATA:
        joined = joined.replace(word, " ")
    return joined


async def _logout(page: Any) -> None:
    await page.locator("form[action='/logout'] button").click()
    await page.wait_for_url(re.compile(r"/login"))


@pytest.mark.browser
async def test_english_sticks_to_the_user_not_the_browser(
        browser: Any, base_url: str, db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    a = await _fresh(browser, base_url)
    await login(a, "op.wendeng")
    await expect(a.locator("html")).to_have_attribute("lang", "zh-CN")
    await a.get_by_role("link", name="English").click()
    await expect(a.locator("html")).to_have_attribute("lang", "en")
    await expect(a.get_by_role("link", name="Elders")).to_be_visible()
    assert await db.fetchval("SELECT lang FROM users WHERE username = 'op.wendeng'") == "en"
    await _logout(a)
    await a.context.close()

    # a fresh browser (no cookie): the login page is Chinese, the user's pages English
    a2 = await _fresh(browser, base_url)
    await login(a2, "op.wendeng")
    await expect(a2.locator("html")).to_have_attribute("lang", "en")
    await expect(a2.get_by_role("link", name="Console")).to_be_visible()
    await a2.goto("/elders")  # no ?lang= anywhere: the stored choice applies
    await expect(a2.locator("html")).to_have_attribute("lang", "en")
    await shot(a2, "i18n_sticky_en")
    await a2.context.close()

    b = await _fresh(browser, base_url)
    await login(b, "op.rongcheng")
    await expect(b.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(b.get_by_role("link", name="老人档案")).to_be_visible()
    assert await db.fetchval("SELECT lang FROM users WHERE username = 'op.rongcheng'") == "zh"
    await b.context.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/", "/console", "/dashboard", "/elders"])
async def test_no_leftovers_of_the_other_language(browser: Any, base_url: str,
                                                  path: str) -> None:
    from playwright.async_api import expect

    page = await _fresh(browser, base_url)
    await login(page, "admin")
    await page.goto(f"{path}?lang=en")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("header nav")).to_be_visible()
    english = await _ui_text(page)
    assert not HAN.findall(english), english
    footer = await page.locator("body > footer").inner_text()
    assert "Anxin 12349 Virtual Nursing Home" in footer

    await page.goto(f"{path}?lang=zh")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    chinese = await _ui_text(page)
    assert not LATIN_WORD.findall(chinese), chinese
    assert "Anxin 12349 Virtual Nursing Home" in await page.locator("body > footer").inner_text()
    await page.context.close()
