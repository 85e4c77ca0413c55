"""Browser test of the console's outbound care list (issue 7): an operator of 文登 works three
items of this month's plan — one elder is well, one needs a service (an order is created), one
does not answer (the retry is booked ten minutes on) — and the region's visit rate follows.
The screenshot goes to docs/ for the README."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from callcenter import care, care_rules
from callcenter.subsidy_rules import SHANGHAI
from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_browser import base_url, login, page  # noqa: F401  (fixtures)
from tests.test_care import care_world

pytestmark = pytest.mark.browser
DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


async def test_an_operator_works_three_items_of_the_outbound_list(
        page: Any, db: asyncpg.Connection, pool: asyncpg.Pool,  # noqa: F811
        world: dict[str, Any]) -> None:
    from playwright.async_api import expect

    cw = await care_world(db, world)
    now = dt.datetime.now(dt.UTC)
    month = now.astimezone(SHANGHAI).date().replace(day=1)
    await care.generate_month_plan(pool, month, now)
    wendeng = [cw["elder_wendeng"], cw["w2"], cw["w3"]]
    await db.execute("UPDATE outreach_tasks SET assigned_to = $2 WHERE elder_id = ANY($1)",
                     wendeng, cw["op_wendeng"])

    await login(page, "op.wendeng")
    await page.goto("/console")
    panel = page.locator("#outbound")
    card = panel.locator("#ob-current")
    await expect(card).to_be_visible()
    await expect(panel.locator("#ob-counts")).to_contain_text("待办 3")
    await expect(card.locator(".ob-script-text")).to_contain_text("12349")
    await expect(panel.locator("#ob-list li")).to_have_count(2)
    DOCS.mkdir(parents=True, exist_ok=True)
    await panel.screenshot(path=str(DOCS / "console-outbound.png"))
    names = []

    # 1: well, by phone (the default method)
    names.append(await card.locator("#ob-elder").inner_text())
    await card.get_by_label("平安", exact=True).check()
    await card.get_by_role("button", name="记录结果").click()
    await expect(panel.locator("#ob-msg")).to_contain_text(f"{names[0]}：已记录")
    await expect(panel.locator("#ob-list li")).to_have_count(1)

    # 2: needs a service: the item picker appears, and an order is made
    names.append(await card.locator("#ob-elder").inner_text())
    assert names[1] != names[0]
    await card.get_by_label("视频", exact=True).check()
    await card.get_by_label("需要服务（派单）").check()
    picker = card.locator("select[name=item_code]")
    await expect(picker).to_be_visible()
    await picker.select_option("BA001")
    await card.locator("input[name=note]").fill("想约周五助浴")
    await card.get_by_role("button", name="记录结果").click()
    await expect(panel.locator("#ob-msg")).to_contain_text(re.compile(r"已创建工单 #\d+"))

    # 3: unreachable: the task stays, its retry booked ten minutes on
    names.append(await card.locator("#ob-elder").inner_text())
    assert len(set(names)) == 3
    await card.get_by_label("未接通", exact=True).check()
    await card.get_by_role("button", name="记录结果").click()
    await expect(panel.locator("#ob-msg")).to_contain_text("重拨")
    later = panel.locator("#ob-list li.later")
    await expect(later).to_have_count(1)
    await expect(later).to_contain_text(names[2])
    await expect(card).to_be_hidden()  # nothing else is due now
    await expect(panel.locator("#ob-counts")).to_contain_text("今日完成 2")

    visits = await db.fetch("SELECT e.name, v.method, v.outcome, v.order_id FROM care_visits v"
                            " JOIN elders e ON e.id = v.elder_id ORDER BY v.id")
    assert [(v["name"], v["method"], v["outcome"]) for v in visits] == [
        (names[0], "phone", "well"), (names[1], "video", "needs_service"),
        (names[2], "phone", "unreachable")]
    order = await db.fetchrow("SELECT item_code, note FROM orders WHERE id = $1",
                              visits[1]["order_id"])
    assert (order["item_code"], order["note"]) == ("BA001", "想约周五助浴")
    retry = await db.fetchval("SELECT next_attempt_at FROM outreach_tasks t JOIN elders e"
                              " ON e.id = t.elder_id WHERE e.name = $1", names[2])
    # ten minutes on (or the next morning when that falls after 20:00 in Shanghai)
    expected = care_rules.ladder("call", 0, "unreachable", now).next_attempt_at
    assert expected is not None and abs(retry - expected) < dt.timedelta(minutes=3)
    rate = await care.visit_rate(db, month, "371003", SHANGHAI)
    assert (rate["due"], rate["visited"]) == (3, 2)
