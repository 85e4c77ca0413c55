"""The admin import API: multipart upload, all-or-nothing answer codes, roles."""

import asyncpg
from aiohttp import FormData

from tests import factories

HEADER = "name,id_number,phone,address,region_code,lat,lon,risk_groups\n"


def roster(*rows: str) -> bytes:
    return ("\ufeff" + HEADER + "".join(r + "\n" for r in rows)).encode()


def upload(data: bytes, filename: str = "roster.csv", skip_bad: bool = False) -> FormData:
    form = FormData()
    form.add_field("file", data, filename=filename, content_type="text/csv")
    if skip_bad:
        form.add_field("skip_bad", "true")
    return form


GOOD = f"李玉兰,{factories.id_number(11)},13806315555,龙山街道1号,371003001,37.19,122.05,独居;高龄"
BAD = "王强,371003194505061230,13806315556,龙山街道2号,371003001,,,"


async def test_bad_row_refuses_the_file_with_a_report(world, client, db: asyncpg.Connection) -> None:
    await client.login("admin")
    resp = await client.post("/api/v1/imports/elders", data=upload(roster(GOOD, BAD)))
    body = await resp.json()
    assert resp.status == 422, body
    errors = body["report"]["errors"]
    assert errors[0]["line"] == 3 and errors[0]["column"] == "id_number"
    assert await db.fetchval("SELECT count(*) FROM elders") == 2  # only the world's two


async def test_skip_bad_writes_good_rows_and_reimport_is_unchanged(world, client,
                                                                    db: asyncpg.Connection) -> None:
    await client.login("admin")
    resp = await client.post("/api/v1/imports/elders",
                             data=upload(roster(GOOD, BAD), skip_bad=True))
    body = await resp.json()
    assert resp.status == 200, body
    assert body["inserted"] == 1 and len(body["errors"]) == 1
    again = await (await client.post("/api/v1/imports/elders",
                                     data=upload(roster(GOOD), skip_bad=True))).json()
    assert again["unchanged"] == 1 and again["inserted"] == 0
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'elders.import'") == 2


async def test_file_errors_and_roles(world, client) -> None:
    await client.login("admin")
    missing = await client.post("/api/v1/imports/elders", data=FormData({"skip_bad": "true"}))
    assert missing.status == 400 and "file" in (await missing.json())["fields"]
    wrong = await client.post("/api/v1/imports/elders", data=upload(b"x", filename="a.pdf"))
    assert wrong.status == 400 and "file" in (await wrong.json())["fields"]
    not_multipart = await client.post("/api/v1/imports/devices", json={"file": "x"})
    assert not_multipart.status == 400
    await client.login("op.city")
    assert (await client.post("/api/v1/imports/elders", data=upload(roster(GOOD)))).status == 403
