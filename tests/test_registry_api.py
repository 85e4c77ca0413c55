"""Devices, providers and staff, the catalogue, regions: the rest of the registry API."""

import asyncpg

from tests import factories


async def test_register_device_shows_secret_once(world, client, db: asyncpg.Connection) -> None:
    await client.login("admin")
    resp = await client.post("/api/v1/devices", json={
        "serial": "BR-0000001", "kind": "bracelet", "elder_id": world["elder_wendeng"],
        "geofence": {"lat": 37.19, "lon": 122.05, "radius_m": 800}})
    out = await resp.json()
    assert resp.status == 201, out
    assert len(out["secret"]) >= 32 and out["geofence"]["radius_m"] == 800
    again = await (await client.get("/api/v1/devices/BR-0000001")).json()
    assert "secret" not in again
    assert await db.fetchval("SELECT secret FROM devices") == out["secret"]


async def test_rotate_secret(world, client, db: asyncpg.Connection) -> None:
    await client.login("admin")
    first = await (await client.post("/api/v1/devices", json={
        "serial": "SOS-0000001", "kind": "sos_phone", "elder_id": world["elder_wendeng"],
        "secret": "s" * 20})).json()
    assert first["secret"] == "s" * 20
    rotated = await client.post("/api/v1/devices/SOS-0000001/rotate-secret")
    body = await rotated.json()
    assert rotated.status == 200, body
    assert body["secret"] != first["secret"]
    assert await db.fetchval("SELECT secret FROM devices") == body["secret"]
    assert await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'device.rotate_secret'") == 1


async def test_device_validation(world, client, db: asyncpg.Connection) -> None:
    await client.login("admin")
    cases = [
        ({"serial": "x", "kind": "sos_phone", "elder_id": world["elder_wendeng"]}, "serial"),
        ({"serial": "SOS-1", "kind": "toaster", "elder_id": world["elder_wendeng"]}, "kind"),
        ({"serial": "SOS-1", "kind": "sos_phone", "elder_id": 999999}, "elder_id"),
        ({"serial": "SOS-1", "kind": "sos_phone", "elder_id": world["elder_wendeng"],
          "secret": "short"}, "secret"),
        ({"serial": "SOS-1", "kind": "bracelet", "elder_id": world["elder_wendeng"],
          "geofence": {"lat": 37.1, "lon": 122.0, "radius_m": 5}}, "geofence"),
    ]
    for data, field in cases:
        resp = await client.post("/api/v1/devices", json=data)
        assert resp.status == 422, data
        assert field in (await resp.json())["fields"], data
    assert await db.fetchval("SELECT count(*) FROM devices") == 0
    ok = {"serial": "SOS-1", "kind": "sos_phone", "elder_id": world["elder_wendeng"]}
    assert (await client.post("/api/v1/devices", json=ok)).status == 201
    dup = await client.post("/api/v1/devices", json=ok)
    assert dup.status == 422 and "serial" in (await dup.json())["fields"]


async def test_devices_are_region_scoped(world, client) -> None:
    await client.login("admin")
    await client.post("/api/v1/devices", json={
        "serial": "SOS-RC-01", "kind": "sos_phone", "elder_id": world["elder_rongcheng"]})
    await client.login("op.wendeng")
    assert (await client.get("/api/v1/devices/SOS-RC-01")).status == 404
    assert (await (await client.get("/api/v1/devices")).json())["items"] == []


async def test_regions_tree_is_scoped(world, client) -> None:
    await client.login("op.wendeng")
    tree = await (await client.get("/api/v1/regions")).json()
    assert tree["code"] == "371003"
    assert [c["code"] for c in tree["children"]] == ["371003001"]
    assert (await client.get("/api/v1/regions/371082")).status == 404
    await client.login("admin")
    city = await (await client.get("/api/v1/regions/371000")).json()
    assert {c["code"] for c in city["children"]} == {"371003", "371082"}


async def test_provider_crud_and_scope(world, client, db: asyncpg.Connection) -> None:
    await client.login("admin")
    resp = await client.post("/api/v1/providers", json={
        "name": "荣成市颐养家政服务有限公司", "licence_no": "LIC-RC-0002",
        "phone": "0631-7561234", "region_code": "371082",
        "regions_covered": ["371082", "371082001"]})
    created = await resp.json()
    assert resp.status == 201, created
    assert created["regions_covered"] == ["371082", "371082001"]
    bad = await client.post("/api/v1/providers", json={
        "name": "x", "licence_no": "LIC-RC-0002", "phone": "123", "region_code": "371082",
        "regions_covered": ["999999"]})
    fields = (await bad.json())["fields"]
    assert bad.status == 422 and {"phone", "regions_covered"} <= set(fields)
    await client.login("op.wendeng")
    listed = await (await client.get("/api/v1/providers")).json()
    assert [p["licence_no"] for p in listed["items"]] == ["LIC-0001"]
    await client.login("pa.001")
    assert (await client.get(f"/api/v1/providers/{created['id']}")).status == 404
    own = await client.patch(f"/api/v1/providers/{world['provider']}", json={"address": "文登区米山路1号"})
    assert own.status == 200, await own.text()


async def test_staff_management_and_self_view(world, client, db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO skills VALUES ('bathing', '助浴', 'Bathing')")
    await client.login("pa.001")
    resp = await client.post(f"/api/v1/providers/{world['provider']}/staff", json={
        "name": "刘芳", "phone": "13806317777", "skills": ["bathing"],
        "shift_start": "07:00", "shift_end": "15:00", "home_lat": 37.2, "home_lon": 122.06})
    staff = await resp.json()
    assert resp.status == 201, staff
    assert staff["skills"] == ["bathing"] and staff["shift_start"] == "07:00"
    bad = await client.post(f"/api/v1/providers/{world['provider']}/staff", json={
        "name": "刘芳", "phone": "13806317777", "skills": ["flying"], "shift_start": "7am"})
    assert set((await bad.json())["fields"]) == {"skills", "shift_start"}
    await db.execute("UPDATE staff SET user_id = $1 WHERE id = $2", world["ps"], staff["id"])
    await client.login("ps.001")
    assert (await client.get(f"/api/v1/staff/{staff['id']}")).status == 200
    assert (await client.get(f"/api/v1/providers/{world['provider']}/staff")).status == 403
    other = await client.post(f"/api/v1/providers/{world['provider']}/staff",
                              json={"name": "x", "phone": "13806317778"})
    assert other.status == 403


async def test_catalogue_create_update_validate(world, client, db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO skills VALUES ('cleaning', '助洁', 'Cleaning')")
    await db.execute("INSERT INTO service_categories VALUES ('cleaning', '助洁', 'Cleaning', 5)")
    await client.login("admin")
    item = {"code": "CL001", "category_code": "cleaning", "name_zh": "居室保洁",
            "name_en": "Home cleaning", "unit": "小时", "price_cents": 4000, "duration_min": 120,
            "target_response_min": 1440, "subsidy_eligible": True, "skill_code": "cleaning"}
    resp = await client.post("/api/v1/catalogue/items", json=item)
    assert resp.status == 201, await resp.text()
    bad = await client.post("/api/v1/catalogue/items", json={**item, "code": "cl1", "unit": "桶",
                                                             "category_code": "nope"})
    assert set((await bad.json())["fields"]) == {"code", "unit", "category_code"}
    upd = await client.patch("/api/v1/catalogue/items/CL001", json={"price_cents": 4500})
    assert (await upd.json())["price_cents"] == 4500
    cat = await (await client.get("/api/v1/catalogue")).json()
    assert cat["categories"][0]["items"][0]["code"] == "CL001"
    await client.login("op.wendeng")
    assert (await client.patch("/api/v1/catalogue/items/CL001", json={"price_cents": 1})).status \
        == 403


async def test_unknown_api_route_is_json_404(world, client) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


async def test_health_checks_both_services(world, client) -> None:
    resp = await client.get("/healthz")
    body = await resp.json()
    assert resp.status == 200, body
    assert body["postgres"]["ok"] and body["redis"]["ok"]


def test_factories_make_valid_ids() -> None:
    from callcenter.validation import id_number

    assert id_number(factories.id_number(1)).number == factories.id_number(1)
