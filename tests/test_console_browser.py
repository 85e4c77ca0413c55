"""Browser tests of the operator console: a device's SOS reaches a logged-in console within two
seconds, flashing and sounding; the operator takes it from acknowledge to close; two operators
clicking 受理 at once get one winner; a ringing call pops the caller's record.

Debian's /usr/bin/chromium through Playwright, the app on a real loopback port, screenshots
(1280x800) in tests/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import WSCloseCode
from aiohttp.test_utils import TestServer

from callcenter import live, outbox
from callcenter.app import create_app
from callcenter.settings import Settings
from tests import factories
from tests.factories import event_body, signed_headers
from tests.test_browser import VIEWPORT, login, shot

pytestmark = pytest.mark.browser

SERIAL = "SOS-WD-0001"
ADDRESS = "文登区龙山街道昆嵛路18号"


@pytest.fixture
def setting_changes() -> dict[str, Any]:
    """Settings a test changes (parametrize this name to override)."""
    return {}


@pytest.fixture
async def server(settings: Settings, world: dict[str, int], db: asyncpg.Connection,
                 setting_changes: dict[str, Any]) -> AsyncIterator[TestServer]:
    """The app on 127.0.0.1 with the world, an SOS phone for 王秀英, her address and contacts."""
    await factories.device(db, SERIAL, world["elder_wendeng"])
    await db.execute("UPDATE elders SET address = $2 WHERE id = $1", world["elder_wendeng"],
                     ADDRESS)
    await db.executemany(
        "INSERT INTO elder_contacts (elder_id, position, name, phone, relation) VALUES"
        " ($1, $2, $3, $4, $5)",
        [(world["elder_wendeng"], 1, "李强", "+8613906310011", "儿子"),
         (world["elder_wendeng"], 2, "王芳", "+8613906310012", "女儿")])
    app_server = TestServer(create_app(settings.replace(**setting_changes)), host="127.0.0.1")
    await app_server.start_server()
    yield app_server
    await app_server.close()


@pytest.fixture
def base_url(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


PAGE_ERRORS: dict[int, list[str]] = {}


async def new_page(browser: Any, base_url: str) -> Any:
    """A fresh browser context on the app; script errors and CSP refusals are kept."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", base_url=base_url)
    return await watched_page(context)


async def watched_page(context: Any) -> Any:
    """A new page of the context whose script errors and CSP refusals close_page checks."""
    context.set_default_timeout(10_000)
    pg = await context.new_page()
    errors = PAGE_ERRORS.setdefault(id(pg), [])
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def logged(msg: Any) -> None:
        # HTTP answers (the 409 of a lost race, the missing favicon) are the tests' business
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"{msg.text} {msg.location.get('url', '')}")

    pg.on("console", logged)
    return pg


async def close_page(pg: Any) -> None:
    """Close the page's context; the page must not have logged a script error on the way."""
    await pg.context.close()
    errors = PAGE_ERRORS.pop(id(pg), [])
    assert not errors, errors


@pytest.fixture
async def page(browser: Any, base_url: str) -> AsyncIterator[Any]:
    pg = await new_page(browser, base_url)
    yield pg
    await close_page(pg)


async def open_console(page: Any, username: str) -> None:
    from playwright.async_api import expect

    await login(page, username)
    await page.get_by_role("link", name="控制台").click()
    await expect(page).to_have_url(re.compile(r"/console$"))
    await expect(page.locator("#conn")).to_have_text("已连接")


async def press_sos(base_url: str, event_id: str) -> int:
    """What the SOS phone does: a signed device event; answers 202 after the commit."""
    body = event_body(event_id)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base_url}/api/v1/devices/{SERIAL}/events", data=body,
                               headers=signed_headers(body))
        out = await resp.json()
    assert resp.status == 202, out
    return int(out["alarm_id"])


def alarm_card(page: Any) -> Any:
    return page.locator("article.alarm").filter(has_text="王秀英")


async def test_sos_reaches_the_console_and_is_handled_to_close(
        page: Any, base_url: str, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await open_console(page, "op.wendeng")
    console = page.locator("#console")
    await expect(page.locator("#queue-empty")).to_have_text("暂无待处理警情")
    await expect(page.locator("#sound-hint")).to_have_text("点击启用提示音")

    # going on duty is the first click: it also starts the sound
    on_duty = page.get_by_role("button", name="上岗", exact=True)
    await on_duty.click()
    await expect(on_duty).to_have_attribute("aria-pressed", "true")
    await expect(page.get_by_role("button", name="空闲", exact=True)).to_have_attribute(
        "aria-pressed", "true")
    await expect(page.locator("#sound-hint")).to_be_hidden()
    presence = await db.fetchrow("SELECT on_duty, available FROM operator_presence"
                                 " WHERE user_id = $1", world["op_wendeng"])
    assert presence is not None and presence["on_duty"] and presence["available"]
    await expect(page.locator("#operators")).to_contain_text("op.wendeng")

    # the elder presses SOS: within two seconds the card is there, flashing, and it beeped
    alarm_id = await press_sos(base_url, "sos-1")
    card = alarm_card(page)
    await expect(card).to_be_visible(timeout=2_000)
    await expect(card).to_contain_text("紧急呼叫", timeout=100)
    await expect(card).to_have_class(re.compile(r"\bflash\b"), timeout=1_000)
    await expect(console).not_to_have_attribute("data-beeps", "0", timeout=1_000)
    await expect(card.locator(".tag")).to_have_text(["独居", "高龄"])
    await expect(card).to_contain_text(ADDRESS)
    await expect(card).to_contain_text(f"SOS电话 {SERIAL}")
    await expect(card).to_contain_text("昆嵛社区")
    await expect(card.locator(".state-badge")).to_have_text("待受理")
    # nobody has the emergency skill, so it went at once to the whole region
    await expect(card.locator(".scope-badge")).to_have_text("派单范围: 全区")
    age = card.locator(".age")
    first = await age.inner_text()
    assert re.fullmatch(r"00:0\d", first), first
    await expect(age).not_to_have_text(first, timeout=2_500)  # it ticks
    await expect(page.locator("#queue-counts")).to_have_text("待受理 1 · 处置中 0")
    await shot(page, "console_alarm")

    # 受理: the card is mine, the day's figures count it
    await card.get_by_role("button", name="受理", exact=True).click()
    await expect(card.locator(".state-badge")).to_have_text("已受理")
    await expect(card).to_contain_text("受理人: op.wendeng")
    await expect(card).not_to_have_class(re.compile(r"\bflash\b"))
    figures = page.locator("#figures")
    await expect(figures.locator("[data-fig=alarms] dd")).to_have_text("1")
    await expect(figures.locator("[data-fig=pct_60s] dd")).to_have_text("100.0%")

    # 处置: the history, then a call to the elder that reached her
    await card.get_by_role("button", name="处置", exact=True).click()
    dialog = page.locator("#handle-dialog")
    await expect(dialog).to_be_visible()
    history = dialog.locator(".d-history")
    await expect(history).to_contain_text("待受理 → 已受理")
    await expect(dialog.locator(".d-contacts li")).to_have_count(2)
    await expect(dialog.locator(".d-contacts")).to_contain_text("李强")
    call = dialog.locator("form[data-action=call_elder]")
    await call.get_by_label("呼叫老人 · 结果").select_option("reached")
    await call.get_by_role("button", name="记录通话").click()
    await expect(dialog.locator(".dlg-msg")).to_have_text("已记录: 呼叫老人")
    await expect(history).to_contain_text("呼叫老人 · 接通")
    await expect(card.locator(".state-badge")).to_have_text("处置中")
    await shot(page, "console_handle_dialog")

    # 结案 with an outcome, then 关闭: the card leaves the queue
    await dialog.get_by_role("button", name="结案", exact=True).click()
    resolve = page.locator("#resolve-dialog")
    await expect(resolve).to_be_visible()
    await expect(dialog).to_be_hidden()
    await resolve.get_by_label("处置结果").select_option("resolved_by_phone")
    await resolve.get_by_label("备注").fill("老人误按，电话确认平安")
    await shot(page, "console_resolve_dialog")
    await resolve.get_by_role("button", name="确认结案").click()
    await expect(resolve.locator(".resolved-text")).to_contain_text("电话处置完毕")
    await expect(card.locator(".state-badge")).to_have_text("已结案")
    await shot(page, "console_resolved")
    await resolve.get_by_role("button", name="关闭警情").click()
    await expect(resolve).to_be_hidden()
    await expect(page.locator("article.alarm")).to_have_count(0)
    await expect(page.locator("#queue-empty")).to_be_visible()

    row = await db.fetchrow("SELECT state, outcome, outcome_note, acknowledged_by FROM alarms"
                            " WHERE id = $1", alarm_id)
    assert row["state"] == "closed" and row["outcome"] == "resolved_by_phone"
    assert row["outcome_note"] == "老人误按，电话确认平安"
    assert row["acknowledged_by"] == world["op_wendeng"]
    events = await db.fetch(
        "SELECT from_state, to_state, actor_user_id, payload::text AS payload FROM events"
        " WHERE entity_type = 'alarm' AND entity_id = $1 ORDER BY id", alarm_id)
    assert [e["to_state"] for e in events] == [
        "received", "queued", "offered", "acknowledged", "in_progress", "resolved", "closed"]
    assert all(e["actor_user_id"] == world["op_wendeng"] for e in events[3:])
    assert '"call_elder"' in events[4]["payload"] and '"reached"' in events[4]["payload"]
    assert '"resolved_by_phone"' in events[5]["payload"]


async def test_two_operators_acknowledge_at_once_and_one_wins(
        browser: Any, base_url: str, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    pages = [await new_page(browser, base_url) for _ in range(2)]
    try:
        await asyncio.gather(open_console(pages[0], "op.wendeng"),
                             open_console(pages[1], "op.city"))
        alarm_id = await press_sos(base_url, "sos-race")
        cards = [alarm_card(p) for p in pages]
        buttons = [c.get_by_role("button", name="受理", exact=True) for c in cards]
        for b in buttons:
            await expect(b).to_be_enabled(timeout=2_000)

        await asyncio.gather(*(b.dispatch_event("click") for b in buttons))

        for c in cards:  # both consoles learn who has it
            await expect(c.locator(".state-badge")).to_have_text("已受理")
        winner = await db.fetchval("SELECT u.username FROM alarms a JOIN users u"
                                   " ON u.id = a.acknowledged_by WHERE a.id = $1", alarm_id)
        assert winner in ("op.wendeng", "op.city")
        won, lost = (0, 1) if winner == "op.wendeng" else (1, 0)
        await expect(cards[lost].locator(".alarm-msg")).to_contain_text(f"已由{winner}受理")
        await expect(cards[won].locator(".alarm-msg")).to_have_count(0)
        await expect(cards[won].get_by_role("button", name="处置", exact=True)).to_be_visible()
        await expect(cards[lost].get_by_role("button")).to_have_count(0)
        await expect(cards[lost]).to_contain_text(f"受理人: {winner}")
        await shot(pages[lost], "console_acknowledge_conflict")
        acks = await db.fetchval("SELECT count(*) FROM events WHERE entity_type = 'alarm' AND"
                                 " entity_id = $1 AND to_state = 'acknowledged'", alarm_id)
        assert acks == 1
    finally:
        for p in pages:
            await close_page(p)


@pytest.mark.parametrize("setting_changes", [{"alarm_offer_s": 1, "alarm_city_s": 3}])
async def test_escalation_to_the_city_alerts_a_city_operator(
        page: Any, base_url: str, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await open_console(page, "op.city")
    await page.get_by_role("button", name="上岗", exact=True).click()
    await expect(page.locator("#sound-hint")).to_be_hidden()
    alarm_id = await press_sos(base_url, "sos-city")
    card = alarm_card(page)
    # at first it is the district's: shown to the city operator, but not for them yet
    await expect(card.locator(".scope-badge")).to_have_text("派单范围: 全区", timeout=2_000)
    await expect(card).not_to_have_class(re.compile(r"\bflash\b"))
    await expect(card).to_have_class(re.compile(r"\bothers\b"))
    await expect(page.locator("#console")).to_have_attribute("data-beeps", "0")
    # unanswered after alarm_city_s: the whole city is alerted, this console included
    await expect(card.locator(".scope-badge")).to_have_text("派单范围: 全市", timeout=6_000)
    await expect(card).to_have_class(re.compile(r"\bflash\b"), timeout=1_000)
    await expect(card.locator(".mine-badge")).to_have_text("待您受理")
    await expect(page.locator("#console")).not_to_have_attribute("data-beeps", "0",
                                                               timeout=1_000)
    assert await db.fetchval("SELECT escalation_level FROM alarms WHERE id = $1", alarm_id) == 2


async def test_console_reconnects_and_replays_what_it_missed(
        page: Any, server: TestServer, base_url: str) -> None:
    from playwright.async_api import expect

    sockets: list[Any] = []
    frames: dict[int, list[dict[str, Any]]] = {}

    def watch(ws: Any) -> None:
        n = len(sockets)
        sockets.append(ws)
        frames[n] = []
        ws.on("framereceived", lambda payload: frames[n].append(json.loads(payload)))

    page.on("websocket", watch)
    await open_console(page, "op.wendeng")
    await page.get_by_role("button", name="上岗", exact=True).click()  # an entry in the stream
    await expect(page.locator("#operators")).to_contain_text("op.wendeng")
    assert [f["type"] for f in frames[0]][:1] == ["snapshot"]

    # the server drops the console; the SOS arrives while it is away
    for console in list(server.app[live.HUB].consoles):
        await console.ws.close(code=WSCloseCode.GOING_AWAY)
    await expect(page.locator("#conn")).to_have_text("重连中")
    await press_sos(base_url, "sos-away")
    await expect(alarm_card(page)).to_be_visible(timeout=5_000)
    await expect(page.locator("#conn")).to_have_text("已连接")
    assert len(sockets) == 2 and "last_seq=" in sockets[1].url
    # caught up from the stream, not by a fresh snapshot; the alarm came exactly once
    types = [f.get("type") for f in frames[1]]
    assert "snapshot" not in types and types.count("alarm.new") == 1, types
    await expect(page.locator("article.alarm")).to_have_count(1)


async def test_a_ringing_call_pops_the_callers_record(
        page: Any, world: dict[str, int], db: asyncpg.Connection) -> None:
    from playwright.async_api import expect

    await open_console(page, "op.wendeng")
    pop = page.locator("#screen-pop")
    await expect(pop).to_contain_text("暂无来电")
    # the CTI module publishes these through the outbox; here the test writes them directly
    call = {"id": 7, "call_id": "c-7", "ani": "+8613806310001", "state": "ringing",
            "ringing_at": "2026-11-23 00:00:05+00:00"}
    elder = {"id": world["elder_wendeng"], "name": "王秀英", "age": 81, "sex": "F",
             "risk_groups": ["独居", "高龄"], "address": ADDRESS, "phones": ["+8613806310001"],
             "id_number": "3710**********1234", "region_name": "昆嵛社区",
             "contacts": [{"position": 1, "name": "李强", "phone": "+8613906310011",
                           "relation": "儿子"}],
             "devices": [{"kind": "sos_phone", "serial": SERIAL}],
             "recent_alarms": [{"kind": "fall", "state": "closed", "outcome": "contact_attended",
                                "created_at": "2026-11-20 01:00:00+00:00"}]}
    await outbox.add(db, "call.ringing", "371003001001", {"call": call, "elder": elder})
    entry = pop.locator("article.pop")
    await expect(entry).to_have_count(1, timeout=2_000)
    await expect(entry.locator(".pop-state")).to_have_text("振铃中")
    await expect(entry).to_contain_text("138 0631 0001")
    await expect(entry).to_contain_text("08:00:05")  # Asia/Shanghai
    await expect(entry.locator("h3")).to_contain_text("王秀英")
    await expect(entry).to_contain_text("李强")
    await expect(entry).to_contain_text(f"SOS电话 {SERIAL}")
    await expect(entry).to_contain_text("跌倒 · 联系人已到场")
    await shot(page, "console_screen_pop")

    await outbox.add(db, "call.answered", "371003001001",
                     {"call": {**call, "state": "answered", "operator_name": "op.wendeng"},
                      "elder": elder})
    await expect(entry.locator(".pop-state")).to_have_text("通话中")
    await expect(entry).to_contain_text("接听: op.wendeng")
    await outbox.add(db, "call.ended", "371003001001",
                     {"call": {**call, "state": "ended"}, "elder": elder})
    await expect(entry.locator(".pop-state")).to_have_text("已结束")
    await expect(entry).to_have_count(0, timeout=8_000)
    await expect(pop).to_contain_text("暂无来电")

    # an unknown number
    await outbox.add(db, "call.ringing", "371003", {
        "call": {"call_id": "c-8", "ani": "+8613999990000", "state": "ringing"}, "elder": None})
    await expect(entry.locator("h3")).to_have_text("未知来电")

    # the same console in English
    await page.goto("/console?lang=en")
    await expect(page.locator("#conn")).to_have_text("Connected")
    await expect(page.get_by_role("heading", name="Alarm queue")).to_be_visible()
    await expect(page.get_by_role("button", name="On duty", exact=True)).to_be_visible()
    await expect(page.locator("#queue-empty")).to_have_text("No open alarms")
    await expect(page.locator("article.pop h3")).to_have_count(0)  # a fresh page: no old pops
    await shot(page, "console_en")


@pytest.mark.parametrize(("username", "status"), [
    ("admin", 200), ("supervisor", 200), ("op.wendeng", 200), ("pa.001", 403), ("ps.001", 403)])
async def test_console_page_by_role(world: dict[str, int], client: Any, username: str,
                                    status: int) -> None:
    """No browser needed: who may open the page, and what it carries for the script."""
    await client.login(username)
    resp = await client.get("/console")
    html = await resp.text()
    assert resp.status == status, html
    if status == 200:
        assert 'id="console-config"' in html and 'src="/static/console.js"' in html
        assert ('id="duty-on"' in html) == (username == "op.wendeng")  # duty is for operators
        assert 'href="/console"' in html
