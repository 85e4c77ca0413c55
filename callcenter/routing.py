"""Route tables that carry each endpoint's roles and documentation.

Every endpoint is declared once with the roles that may call it; the wrapper enforces login,
role and CSRF before the handler runs, and the OpenAPI document is built from the same table,
so the document cannot drift from the router.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from callcenter import auth

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC: frozenset[str] = frozenset()
ALL_ROLES = frozenset({"admin", "supervisor", "operator", "provider_admin", "provider_staff"})
STAFF_ROLES = frozenset({"admin", "supervisor", "operator"})


@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    description: str
    type: str = "string"
    required: bool = False


@dataclasses.dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    name: str
    summary: str
    roles: frozenset[str] | None  # None: public, no login
    handler: Handler
    query: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    body_type: str = "application/json"
    status: int = 200
    page: bool = False


class Routes:
    """A table of endpoints for one concern (elders, devices, ...), with the tag it documents."""

    def __init__(self, tag: str, description: str = "") -> None:
        self.tag = tag
        self.description = description
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, *, name: str, summary: str,
              roles: Iterable[str] | None, query: Iterable[Param] = (),
              body: dict[str, Any] | None = None, body_type: str = "application/json",
              status: int = 200, page: bool = False) -> Callable[[Handler], Handler]:
        allowed = None if roles is None else frozenset(roles)

        def decorate(handler: Handler) -> Handler:
            @functools.wraps(handler)
            async def guarded(request: web.Request) -> web.StreamResponse:
                if allowed is not None:
                    await auth.authorize(request, allowed, page=page)
                return await handler(request)

            self.endpoints.append(Endpoint(method, path, name, summary, allowed, guarded,
                                           tuple(query), body, body_type, status, page))
            return guarded

        return decorate

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def install(self, app: web.Application) -> None:
        for e in self.endpoints:
            app.router.add_route(e.method, e.path, e.handler, name=e.name)


def openapi_document(tables: Iterable[Routes], version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every non-page endpoint of the given tables."""
    paths: dict[str, dict[str, Any]] = {}
    tags = []
    for table in tables:
        api = [e for e in table.endpoints if not e.page]
        if api:
            tags.append({"name": table.tag, "description": table.description})
        for e in api:
            params: list[dict[str, Any]] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in re.findall(r"{(\w+)}", e.path)]
            params += [{"name": q.name, "in": "query", "required": q.required,
                        "description": q.description, "schema": {"type": q.type}}
                       for q in e.query]
            op: dict[str, Any] = {
                "operationId": e.name,
                "summary": e.summary,
                "tags": [table.tag],
                "parameters": params,
                "responses": _responses(e),
            }
            if e.roles is not None:
                op["security"] = [{"session": []}]
                op["x-roles"] = sorted(e.roles)
            else:
                op["security"] = []
            if e.body is not None:
                op["requestBody"] = {"required": True,
                                     "content": {e.body_type: {"schema": e.body}}}
            paths.setdefault(e.path, {})[e.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Anxin 12349 API", "version": version,
                 "description": "安心12349 虚拟养老院呼叫中心 API (Anxin virtual nursing-home "
                                "call centre). Errors: {\"error\", \"fields\": {field: reason}}."},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": auth.SESSION_COOKIE,
                            "description": "Login session; unsafe methods also need the "
                                           "X-CSRF-Token header from /api/v1/auth/login"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "request_id": {"type": "string"},
    },
}


def _responses(e: Endpoint) -> dict[str, Any]:
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    out: dict[str, Any] = {str(e.status): {"description": "OK"}}
    if e.body is not None or e.query:
        out["400"] = {"description": "malformed request", **err}
        out["422"] = {"description": "a field is invalid; `fields` names it", **err}
    if e.roles is not None:
        out["401"] = {"description": "not logged in", **err}
        out["403"] = {"description": "role or region not allowed, or CSRF token missing", **err}
    if "{" in e.path:
        out["404"] = {"description": "no such record (or not in your region)", **err}
    return out
