"""The language preference over HTTP: a page's ?lang= is stored on the logged-in user and applies
in any later session; an API's ?lang= is for that answer only; other users are untouched."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

HTML_LANG = re.compile(r'<html lang="([^"]+)">')


async def _html_lang(client: Any, url: str = "/") -> str:
    resp = await client.get(url)
    text = await resp.text()
    assert resp.status == 200, text
    found = HTML_LANG.search(text)
    assert found, text[:200]
    return found.group(1)


async def _stored(db: asyncpg.Connection, username: str) -> str:
    return str(await db.fetchval("SELECT lang FROM users WHERE username = $1", username))


async def test_a_page_switch_follows_the_user_to_a_new_session(
        app_client: Any, db: asyncpg.Connection, world: dict[str, int]) -> None:
    a = await app_client()
    await a.login("op.wendeng")
    assert await _html_lang(a) == "zh-CN"
    assert await _html_lang(a, "/?lang=en") == "en"
    assert await _stored(db, "op.wendeng") == "en"
    assert await _html_lang(a, "/elders") == "en"

    again = await app_client()  # another browser: no cookie
    assert await _html_lang(again, "/login") == "zh-CN"
    await again.login("op.wendeng")
    assert await _html_lang(again, "/regions") == "en"

    b = await app_client()
    await b.login("op.rongcheng")
    assert await _html_lang(b) == "zh-CN"
    assert await _stored(db, "op.rongcheng") == "zh"

    assert await _html_lang(again, "/?lang=zh") == "zh-CN"
    assert await _stored(db, "op.wendeng") == "zh"


async def test_an_api_lang_is_not_stored(app_client: Any, db: asyncpg.Connection,
                                         world: dict[str, int]) -> None:
    c = await app_client()
    await c.login("supervisor")
    resp = await c.get("/api/v1/auth/me?lang=en")
    assert resp.status == 200, await resp.text()
    assert await _stored(db, "supervisor") == "zh"
    assert await _html_lang(c) == "zh-CN"


async def test_the_switch_links_keep_the_query(app_client: Any, world: dict[str, int]) -> None:
    c = await app_client()
    await c.login("admin")
    resp = await c.get("/elders?q=%E7%8E%8B&lang=zh")
    text = await resp.text()
    assert resp.status == 200, text
    assert 'href="/elders?q=%E7%8E%8B&amp;lang=en"' in text, text
