"""Browser tests: what a hotline operator, a supervisor and an administrator see and do.

They drive Debian's /usr/bin/chromium through Playwright against the app served on a real
loopback port, and leave 1280x800 screenshots in tests/screenshots/ to look at.
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from callcenter.app import create_app
from callcenter.settings import Settings
from tests.factories import PASSWORD, id_number

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture
async def base_url(settings: Settings, world: dict[str, int]) -> AsyncIterator[str]:
    """The app with the test world in its database, on 127.0.0.1 and a free port."""
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/")).rstrip("/")
    await server.close()


@pytest.fixture
async def page(browser: Any, base_url: str) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN",
                                        base_url=base_url)
    context.set_default_timeout(10_000)
    pg = await context.new_page()
    yield pg
    await context.close()


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def login(page: Any, username: str, password: str = PASSWORD) -> None:
    """Log in through the form, as a person does."""
    from playwright.async_api import expect

    await page.goto("/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.locator("form[action='/login'] button[type=submit]").click()
    await expect(page).not_to_have_url(re.compile(r"/login"))


async def test_login_page_in_chinese_and_english(page: Any) -> None:
    from playwright.async_api import expect

    resp = await page.goto("/login")
    assert resp.status == 200
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await expect(page.get_by_label("用户名")).to_be_visible()
    await expect(page.get_by_label("密码")).to_be_visible()
    await expect(page.get_by_role("button", name="登录")).to_be_visible()
    await expect(page.get_by_text("安心12349 虚拟养老院").first).to_be_visible()
    await shot(page, "login_zh")

    await page.get_by_role("link", name="English").click()
    await expect(page).to_have_url(re.compile(r"/login\?lang=en$"))
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_label("User name")).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("用户名")
    await shot(page, "login_en")

    # the choice is remembered by a cookie: the plain login page stays English
    await page.goto("/login")
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await page.get_by_role("link", name="中文").click()
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()


async def test_operator_searches_and_opens_a_record_in_their_region(
        page: Any, world: dict[str, int]) -> None:
    from playwright.async_api import expect

    await login(page, "op.wendeng")
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("本辖区概况 · 文登区")
    header = page.locator("header.top")
    await expect(header).to_contain_text("op.wendeng")
    await expect(header).to_contain_text("话务坐席 · 文登区")
    elders_tile = page.locator(".tile").filter(has_text="在册老人")
    await expect(elders_tile.locator("b")).to_have_text("1")  # 王秀英 only, not 孙建国
    by_region = page.locator("section.card").filter(has_text="按区域")
    await expect(by_region.locator("tbody tr")).to_have_count(1)
    await expect(by_region.locator("tbody tr").first).to_contain_text("龙山街道")
    await expect(by_region.locator("tbody td.num").first).to_have_text("1")
    await expect(page.locator("main")).not_to_contain_text("荣成市")
    by_risk = page.locator("section.card").filter(has_text="按重点人群")
    await expect(by_risk.locator("tr").filter(has_text="独居").locator("td.num")).to_have_text("1")
    await shot(page, "operator_home")

    # by name, from the search box on the home page
    await page.get_by_placeholder("姓名、电话或身份证号").fill("王秀英")
    await page.get_by_role("button", name="搜索").click()
    await expect(page).to_have_url(re.compile(r"/elders\?q="))
    results = page.locator("table.list tbody tr")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("王秀英")
    await expect(results.first).to_contain_text("昆嵛社区")
    await expect(results.first.locator(".tag")).to_have_text(["独居", "高龄"])
    await expect(page.locator("main")).not_to_contain_text("孙建国")
    await shot(page, "operator_search_name")

    # by phone, from the search page itself
    await page.get_by_placeholder("姓名、电话或身份证号").fill("13806310001")
    await page.get_by_role("button", name="搜索").click()
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("王秀英")

    # the elder of 荣成市 is out of this operator's region: not found by name, nor listed at all
    await page.get_by_placeholder("姓名、电话或身份证号").fill("孙建国")
    await page.get_by_role("button", name="搜索").click()
    await expect(page.get_by_text("没有找到记录")).to_be_visible()
    await expect(results).to_have_count(0)
    await page.goto("/elders?q=")
    await expect(results).to_have_count(1)
    await expect(page.locator("main")).not_to_contain_text("孙建国")

    # open the record: the full ID number for an operator, and the audit notice
    await page.get_by_role("link", name="王秀英").click()
    await expect(page).to_have_url(re.compile(rf"/elders/{world['elder_wendeng']}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("王秀英")
    await expect(page.locator(".notice")).to_have_text("查看完整档案已记入审计日志")
    facts = page.locator("dl.facts")
    await expect(facts.locator("code").first).to_have_text(id_number(101))
    await expect(facts).not_to_contain_text("已脱敏")
    await expect(facts).to_contain_text("1945-05-06")
    await expect(facts).to_contain_text("昆嵛社区")
    await shot(page, "operator_record")

    # the 荣成市 record by URL: the 404 error page, no name, no traceback
    resp = await page.goto(f"/elders/{world['elder_rongcheng']}")
    assert resp.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("404 · 出错了")
    await expect(page.locator("main")).to_contain_text("页面不存在或不在您的辖区内")
    body = await page.locator("body").inner_text()
    assert "孙建国" not in body and "Traceback" not in body
    await expect(page.get_by_role("link", name="返回首页")).to_be_visible()
    await shot(page, "operator_404")


async def test_supervisor_sees_the_id_number_masked(page: Any, world: dict[str, int]) -> None:
    from playwright.async_api import expect

    await login(page, "supervisor")
    await expect(page.get_by_role("heading", level=1)).to_have_text("本辖区概况 · 威海市")
    await page.goto(f"/elders/{world['elder_wendeng']}")
    facts = page.locator("dl.facts")
    await expect(facts.locator("code").first).to_have_text(re.compile(r"^3710\*{10}\d{3}[\dX]$"))
    await expect(facts).to_contain_text("3710**********")
    await expect(facts).to_contain_text("已脱敏")
    assert id_number(101) not in await page.content()
    await expect(page.locator(".notice")).to_be_visible()
    await shot(page, "supervisor_record")


def write_roster(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["name", "id_number", "phone", "address", "region_code", "lat", "lon",
                    "risk_groups"])
        w.writerows(rows)
    return path


async def test_admin_imports_a_roster_with_a_bad_row(page: Any, db: asyncpg.Connection,
                                                     tmp_path: Path) -> None:
    from playwright.async_api import expect

    good1, good2, bad = id_number(301), id_number(302), id_number(303)
    bad = bad[:-1] + ("1" if bad[-1] != "1" else "2")  # wrong check digit
    roster = write_roster(tmp_path / "roster.csv", [
        ["刘桂兰", good1, "13806310301", "文登区龙山街道昆嵛路1号", "371003001001",
         "37.19", "122.05", "独居"],
        ["赵德胜", bad, "13806310303", "文登区龙山街道昆嵛路3号", "371003001001",
         "37.19", "122.05", ""],
        ["陈玉珍", good2, "13806310302", "文登区龙山街道昆嵛路2号", "371003001001",
         "37.19", "122.05", "高龄;独居"],
    ])
    before = await db.fetchval("SELECT count(*) FROM elders")

    await login(page, "admin")
    await page.get_by_role("link", name="批量导入").click()
    await expect(page).to_have_url(re.compile(r"/admin/import$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("批量导入")
    await expect(page.get_by_label("导入老人名册")).to_be_checked()
    await shot(page, "admin_import_form")

    # all or nothing: one bad row, nothing written
    await page.locator("input[name=file]").set_input_files(str(roster))
    await page.get_by_role("button", name="上传并导入").click()
    report = page.locator("section.report")
    await expect(report.locator("h2")).to_have_text("导入未写入：存在错误行")
    errors = report.locator("table.errors tbody tr")
    await expect(errors).to_have_count(1)
    await expect(errors.first.locator("td").nth(0)).to_have_text("3")  # header is line 1
    await expect(errors.first.locator("td").nth(1)).to_have_text("id_number")
    await expect(errors.first.locator("td").nth(2)).not_to_be_empty()
    bad_tile = report.locator(".tile").filter(has_text="错误行")
    await expect(bad_tile.locator("b")).to_have_text("1")
    await shot(page, "admin_import_errors")
    assert await db.fetchval("SELECT count(*) FROM elders") == before
    assert await db.fetchval("SELECT count(*) FROM elders WHERE name = ANY($1)",
                             ["刘桂兰", "陈玉珍", "赵德胜"]) == 0

    # skip the bad row: the good ones are written and counted
    await page.locator("input[name=file]").set_input_files(str(roster))
    await page.get_by_label("跳过错误行").check()
    await page.get_by_role("button", name="上传并导入").click()
    await expect(report.locator("h2")).to_have_text("导入完成")
    await expect(report.locator(".tile").filter(has_text="新增").locator("b")).to_have_text("2")
    await expect(report.locator(".tile").filter(has_text="错误行").locator("b")).to_have_text("1")
    await expect(report.locator("table.errors tbody tr")).to_have_count(1)
    await shot(page, "admin_import_skipped")
    assert await db.fetchval("SELECT count(*) FROM elders") == before + 2
    rows = await db.fetch("SELECT name, id_number, region_code FROM elders WHERE name = ANY($1)"
                          " ORDER BY name", ["刘桂兰", "陈玉珍", "赵德胜"])
    assert {(r["name"], r["id_number"], r["region_code"]) for r in rows} == {
        ("刘桂兰", good1, "371003001001"), ("陈玉珍", good2, "371003001001")}

    # the new elders are found by the search page
    await page.goto("/elders?q=陈玉珍")
    await expect(page.locator("table.list tbody tr")).to_have_count(1)


async def test_logout_returns_to_the_login_page(page: Any) -> None:
    from playwright.async_api import expect

    await login(page, "op.wendeng")
    await page.get_by_role("button", name="退出").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await expect(page.locator("header.top")).not_to_contain_text("op.wendeng")

    await page.goto("/elders")
    await expect(page).to_have_url(re.compile(r"/login\?next=/elders$"))
    await expect(page.get_by_label("用户名")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("王秀英")


async def test_wrong_password_stays_on_the_login_page(page: Any) -> None:
    from playwright.async_api import expect

    await page.goto("/login")
    await page.get_by_label("用户名").fill("op.wendeng")
    await page.get_by_label("密码").fill("not the password")
    async with page.expect_response(lambda r: r.request.method == "POST") as info:
        await page.get_by_role("button", name="登录").click()
    assert (await info.value).status == 401
    await expect(page).to_have_url(re.compile(r"/login$"))
    await expect(page.get_by_role("alert")).to_have_text("用户名或密码错误")
    await expect(page.get_by_label("用户名")).to_have_value("op.wendeng")
    await expect(page.get_by_label("密码")).to_have_value("")
    await expect(page.get_by_label("密码")).to_be_focused()  # the user name is kept
    await expect(page.locator("header.top nav")).to_have_count(0)  # not logged in
    await shot(page, "login_wrong_password")

    # the right password afterwards still works
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("本辖区概况 · 文登区")
