"""Junk to every order, plan and provider operation as the people who may call them (an
operator, a provider staff member with a real offer and job, a provider admin): always a clear
4xx or a success, never a 5xx; and a refused request writes nothing."""

from __future__ import annotations

import re
from typing import Any

from callcenter import keys
from tests.dispatch_fixtures import *  # noqa: F403
from tests.dispatch_fixtures import drain, on_shift
from tests.dispatch_world import HOME, offset
from tests.test_bad_input import _bodies

TAGS_BY_LOGIN = {"op.wendeng": ("orders", "plans"), "ps.001": ("provider",),
                 "pa.001": ("provider",)}


async def _write_count(pool: Any) -> tuple[int, ...]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM offers),"
        " (SELECT count(*) FROM events), (SELECT count(*) FROM care_plans),"
        " (SELECT count(*) FROM outbox)")
    return tuple(row)


async def test_junk_never_answers_5xx_nor_writes(app_client, dworld, pool, rds, settings, clock,
                                                 worker) -> None:
    op = await app_client()
    await op.login("op.wendeng")
    await on_shift(pool, rds, settings, dworld["staff"], offset(HOME, 100), clock.now)
    made = []
    for _ in range(2):
        resp = await op.post("/api/v1/orders", json={"elder_id": dworld["elder_wendeng"],
                                                     "item_code": "BA001"})
        made.append((await resp.json())["id"])
    await drain(worker)
    offer_id = await pool.fetchval("SELECT id FROM offers WHERE order_id = $1", made[0])
    real_ids = [str(made[0]), str(offer_id)]
    doc = op.http.server.app[keys.OPENAPI]
    seen = 0
    for login, tags in TAGS_BY_LOGIN.items():
        client = await app_client()
        await client.login(login)
        for template, methods in doc["paths"].items():
            for method, spec in methods.items():
                if not set(spec.get("tags", [])) & set(tags):
                    continue
                if method == "get":
                    for params in ({"when": "tomorrow", "state": "x", "limit": "0"},
                                   {"elder_id": "9" * 30, "limit": "abc"}, {"when": "\u0000"}):
                        path = template.replace("{id}", real_ids[0])
                        resp = await client.get(path, params=params)
                        seen += 1
                        assert resp.status < 500, (login, path, params, await resp.text())
                    continue
                paths = [re.sub(r"{\w+}", junk, template)
                         for junk in ([*real_ids, "0", "abc", "9" * 40] if "{" in template
                                      else [""])]
                schema = spec.get("requestBody", {}).get("content", {}).get(
                    "application/json", {}).get("schema", {"properties": {}})
                for path in paths:
                    for body in _bodies(schema):
                        before = await _write_count(pool)
                        resp = await client.http.request(
                            method.upper(), path or template, json=body,
                            headers={"X-CSRF-Token": client.csrf})
                        seen += 1
                        text = await resp.text()
                        assert resp.status < 500, (login, method, path, body, text)
                        if resp.status >= 400:
                            assert await _write_count(pool) == before, (login, path, body, text)
    assert seen > 500

