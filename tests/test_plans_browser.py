"""Browser test of recurring care plans on the console: an operator makes a weekly plan for
王秀英 from the new-order dialog, its orders come onto the board live (booked, state created),
the detail of one of them shows the plan, and the operator stops the plan there.

The server, worker and pages are those of tests/test_orders_browser.py.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
import pytest

from tests.dispatch_fixtures import *  # noqa: F403
from tests.test_browser import shot
from tests.test_orders_browser import SHANGHAI, base_url, console, new_bathing_order_for_wang  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

WEEKDAYS = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]


async def test_operator_makes_a_weekly_plan_and_stops_it(
        console: Any, dworld: dict[str, Any], db: asyncpg.Connection) -> None:  # noqa: F811
    from playwright.async_api import expect

    page = console
    dialog = await new_bathing_order_for_wang(page)

    # 周期服务: weekdays and a time instead of the one-off window
    await dialog.get_by_text("周期服务", exact=True).click()
    await expect(dialog.get_by_label("日期", exact=True)).to_be_hidden()
    submit = dialog.get_by_role("button", name="建立周期计划")
    await submit.click()
    await expect(dialog.locator(".field-error[data-for=weekdays]")).to_have_text("请选择星期几")
    await expect(dialog.locator(".field-error[data-for=start_time]")).to_have_text(
        "请填写每次的开始和结束时间")
    for day in WEEKDAYS:
        await dialog.get_by_title(day).click()
        await expect(dialog.get_by_label(day)).to_be_checked()
    await dialog.get_by_label("每次上门 自").fill("09:00")
    await dialog.get_by_label("至", exact=True).fill("11:00")
    tomorrow = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=1)).date()
    await dialog.get_by_label("起始日").fill(tomorrow.isoformat())  # every window is ahead
    await dialog.get_by_label("备注").fill("每天上午助浴")
    await submit.click()
    msg = dialog.locator(".dlg-msg")
    await expect(msg).to_contain_text("已建立周期计划，已生成")
    made = int(re.search(r"(\d+) 张工单", await msg.inner_text()).group(1))  # type: ignore[union-attr]
    assert made >= 6, made
    await expect(submit).to_be_disabled()
    await shot(page, "plan-dialog")
    plan = await db.fetchrow("SELECT id, weekdays, active FROM care_plans")
    assert plan["weekdays"] == [1, 2, 3, 4, 5, 6, 7] and plan["active"]

    # the plan's orders are on the board, booked (created) for their windows
    await page.keyboard.press("Escape")
    rows = page.locator("#orders .order-row[data-state=created]")
    await expect(rows).to_have_count(made)
    first = rows.first
    await expect(first).to_contain_text("上门助浴")
    await expect(first.locator(".oc-window")).to_contain_text("09:00–11:00")
    await expect(first.locator(".oc-state")).to_contain_text("预约，到点派单")

    # its detail shows the plan, which is stopped from there
    await first.locator("button.order-open").click()
    detail = page.locator("#order-detail")
    box = detail.locator(".od-plan")
    await expect(box).to_contain_text(f"#{plan['id']}")
    await expect(box).to_contain_text("每周一、二、三、四、五、六、日 09:00–11:00")
    await detail.get_by_role("button", name="停止计划").click()
    await box.get_by_role("button", name="返回").click()
    await expect(box.locator(".od-plan-confirm")).to_be_hidden()
    await expect(detail.get_by_role("button", name="停止计划")).to_be_visible()
    await detail.get_by_role("button", name="停止计划").click()
    await expect(box).to_contain_text("停止后不再生成新工单")
    await shot(page, "plan-detail")
    await detail.get_by_role("button", name="确认停止").click()
    await expect(box.locator(".od-plan-msg")).to_have_text("计划已停止")
    await expect(box).to_contain_text("已停止")
    await expect(detail.get_by_role("button", name="停止计划")).to_be_hidden()
    assert await db.fetchval("SELECT active FROM care_plans WHERE id = $1", plan["id"]) is False
    # the orders already made stay
    await page.keyboard.press("Escape")
    await expect(rows).to_have_count(made)
