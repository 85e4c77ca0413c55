"""Elder registry API: validation, masking and audit, region scoping, search."""

from typing import Any

import asyncpg
import pytest

from tests import factories


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "李桂兰", "id_number": factories.id_number(305), "phones": ["138 0631 2345"],
        "address": "文登区龙山街道昆嵛社区12号", "region_code": "371003001001",
        "lat": 37.19, "lon": 122.05, "risk_groups": ["独居", "失能"], "care_level": 2,
        "consent": True,
        "contacts": [{"name": "李强", "phone": "13906311111", "relation": "儿子"},
                     {"name": "张敏", "phone": "0631-8451234", "relation": "女儿"}],
    }
    data.update(overrides)
    return data


async def test_create_normalises_and_derives(world, client, db: asyncpg.Connection) -> None:
    await client.login("op.wendeng")
    resp = await client.post("/api/v1/elders", json=body())
    created = await resp.json()
    assert resp.status == 201, created
    assert created["phones"] == ["+8613806312345"]
    assert created["sex"] in ("M", "F") and created["birth_date"] == "1945-05-06"
    assert created["contacts"][1]["phone"] == "+866318451234"
    assert created["lat_gcj02"] != created["lat"]  # GCJ-02 computed and kept beside WGS-84
    assert created["consent_at"] is not None
    assert created["id_number"] == factories.id_number(305)  # operators see it whole
    actions = await db.fetch("SELECT action FROM audit_log WHERE entity_type = 'elder' ORDER BY id")
    assert [a["action"] for a in actions] == ["elder.create", "elder.view"]


@pytest.mark.parametrize("field, value", [
    ("id_number", "371003194505061230"),      # wrong check digit
    ("id_number", "37100319451306123X"),      # month 13
    ("id_number", "37100320990506123X"),      # born in the future
    ("id_number", "3710031945050612"),        # too short
    ("phones", ["12345678901"]),              # not a mainland number
    ("phones", []),                           # none
    ("phones", "13806312345"),                # not a list
    ("region_code", "371099"),                # no such region
    ("region_code", "37100"),                 # malformed
    ("region_code", "371000"),                # the city itself
    ("lat", 51.5),                            # with lon 30 (set below): Europe
    ("lat", "north"),
    ("risk_groups", ["孤寡"]),                 # not a SPEC group
    ("care_level", 9),
    ("name", ""),
    ("name", "王" * 41),
    ("contacts", [{"name": "李强", "phone": "110"}]),
    ("consent", "yes"),
    ("nickname", "x"),                        # unknown field
])
async def test_create_rejects_bad_fields(world, client, db: asyncpg.Connection, field: str,
                                         value: Any) -> None:
    await client.login("op.wendeng")
    data = body(**{field: value})
    if field == "lat" and value == 51.5:
        data["lon"] = 30.0  # London-ish longitude: outside China
    resp = await client.post("/api/v1/elders", json=data)
    out = await resp.json()
    assert resp.status == 422, out
    assert field in out["fields"], out
    assert await db.fetchval("SELECT count(*) FROM elders") == 2  # nothing written


async def test_lat_without_lon_names_lon(world, client) -> None:
    await client.login("op.wendeng")
    data = body()
    del data["lon"]
    resp = await client.post("/api/v1/elders", json=data)
    assert resp.status == 422 and "lon" in (await resp.json())["fields"]


async def test_duplicate_id_number_is_a_field_error(world, client) -> None:
    await client.login("op.wendeng")
    assert (await client.post("/api/v1/elders", json=body())).status == 201
    resp = await client.post("/api/v1/elders", json=body(name="李桂芳"))
    assert resp.status == 422
    assert "id_number" in (await resp.json())["fields"]


async def test_operator_cannot_place_elder_outside_region(world, client) -> None:
    await client.login("op.wendeng")
    resp = await client.post("/api/v1/elders", json=body(region_code="371082001"))
    assert resp.status == 422
    assert "region_code" in (await resp.json())["fields"]


async def test_region_scoping_hides_other_districts(world, client) -> None:
    await client.login("op.wendeng")
    own = await client.get(f"/api/v1/elders/{world['elder_wendeng']}")
    assert own.status == 200
    other = await client.get(f"/api/v1/elders/{world['elder_rongcheng']}")
    assert other.status == 404
    assert "孙建国" not in await other.text()
    listed = await (await client.get("/api/v1/elders")).json()
    assert [e["name"] for e in listed["items"]] == ["王秀英"]
    patch = await client.patch(f"/api/v1/elders/{world['elder_rongcheng']}", json={"name": "x"})
    assert patch.status == 404
    search = await (await client.get("/api/v1/elders?q=13906310002")).json()
    assert search["items"] == []


async def test_supervisor_sees_masked_id_and_each_view_is_audited(world, client,
                                                                   db: asyncpg.Connection) -> None:
    await client.login("supervisor")
    for _ in range(2):
        resp = await client.get(f"/api/v1/elders/{world['elder_rongcheng']}")
        record = await resp.json()
        assert resp.status == 200
        assert record["id_number_masked"] is True
        assert record["id_number"].startswith("3710") and "**********" in record["id_number"]
    rows = await db.fetch("SELECT user_id, action, entity_id, request_id, detail->>'full_id'"
                          " AS full_id FROM audit_log WHERE action = 'elder.view'")
    assert len(rows) == 2
    assert rows[0]["full_id"] == "false"  # detail stored as a JSON object, not a string
    assert rows[0]["entity_id"] == str(world["elder_rongcheng"])
    assert rows[0]["user_id"] == world["supervisor"] and rows[0]["request_id"]


async def test_list_always_masks(world, client) -> None:
    await client.login("admin")
    items = (await (await client.get("/api/v1/elders")).json())["items"]
    assert len(items) == 2 and all("**********" in e["id_number"] for e in items)


@pytest.mark.parametrize("q, expected", [
    ("王秀", ["王秀英"]), ("13806310001", ["王秀英"]), ("138-0631-0001", ["王秀英"]),
    (factories.id_number(203), ["孙建国"]), ("张", []),
])
async def test_search_by_name_phone_or_id(world, client, q: str, expected: list[str]) -> None:
    await client.login("op.city")
    resp = await client.get("/api/v1/elders", params={"q": q})
    assert resp.status == 200, await resp.text()
    assert [e["name"] for e in (await resp.json())["items"]] == expected


async def test_search_filters_and_paging(world, client, db: asyncpg.Connection) -> None:
    for i in range(5):
        await factories.elder(db, f"赵{i}", "371003001", 400 + i, [f"+861380631100{i}"])
    await client.login("admin")
    page1 = await (await client.get("/api/v1/elders?region=371003&limit=4")).json()
    assert len(page1["items"]) == 4 and page1["next_after"]
    page2 = await (await client.get(
        f"/api/v1/elders?region=371003&limit=4&after={page1['next_after']}")).json()
    assert len(page2["items"]) == 2 and page2["next_after"] is None
    lonely = await (await client.get("/api/v1/elders", params={"risk_group": "独居"})).json()
    assert [e["name"] for e in lonely["items"]] == ["王秀英"]
    bad = await client.get("/api/v1/elders?limit=1000")
    assert bad.status == 422 and "limit" in (await bad.json())["fields"]
    bad = await client.get("/api/v1/elders", params={"risk_group": "孤寡"})
    assert bad.status == 422 and "risk_group" in (await bad.json())["fields"]


async def test_update_changes_fields_and_refuses_id_change(world, client,
                                                           db: asyncpg.Connection) -> None:
    await client.login("op.wendeng")
    url = f"/api/v1/elders/{world['elder_wendeng']}"
    resp = await client.patch(url, json={"phones": ["13806319999", "5201234"], "consent": True,
                                         "contacts": [{"name": "王磊", "phone": "13906312222"}]})
    out = await resp.json()
    assert resp.status == 200, out
    assert out["phones"] == ["+8613806319999", "+866315201234"]
    assert out["consent"] is True and out["consent_at"]
    assert [c["name"] for c in out["contacts"]] == ["王磊"]
    bad = await client.patch(url, json={"id_number": factories.id_number(999)})
    assert bad.status == 422 and "id_number" in (await bad.json())["fields"]
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'elder.update'") == 1


async def test_supervisor_cannot_edit(world, client) -> None:
    await client.login("supervisor")
    resp = await client.patch(f"/api/v1/elders/{world['elder_wendeng']}", json={"name": "x"})
    assert resp.status == 403


async def test_bad_path_id_is_404_not_500(world, client) -> None:
    await client.login("admin")
    for url in ("/api/v1/elders/abc", "/api/v1/elders/99999999", "/api/v1/elders/" + "9" * 30):
        resp = await client.get(url)
        assert resp.status == 404, url
        assert (await resp.json())["error"] == "not_found"
