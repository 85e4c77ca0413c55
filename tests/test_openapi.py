"""The OpenAPI document matches the router: same paths, same methods, nothing extra."""

import re

from callcenter import keys
from callcenter.app import create_app


def _router_operations(app) -> set[tuple[str, str]]:
    ops = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        api = path and (path.startswith(("/api/", "/ws/")) or path == "/healthz")
        if api and route.method != "HEAD" and path != "/api/v1/openapi.json":
            ops.add((route.method.lower(), path))
    return ops


def test_document_matches_router(base_settings) -> None:
    app = create_app(base_settings)
    doc = app[keys.OPENAPI]
    documented = {(m, p) for p, methods in doc["paths"].items() for m in methods}
    assert documented == _router_operations(app)
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert op["summary"] and op["operationId"], (method, path)
            params = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path))


async def test_document_is_served(world, client) -> None:
    resp = await client.get("/api/v1/openapi.json")
    doc = await resp.json()
    assert resp.status == 200 and doc["openapi"].startswith("3.")
    assert "/api/v1/elders/{id}" in doc["paths"]
