"""Small request helpers shared by the API modules: JSON bodies, paging, path ids."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from callcenter.errors import BadRequest, NotFound, Unprocessable
from callcenter.routing import Param

MAX_LIMIT = 200
PAGING = (Param("limit", f"rows per page, 1-{MAX_LIMIT} (default 50)", "integer"),
          Param("after", "cursor: the `next_after` of the previous page", "integer"))


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if request.content_type != "application/json":
        raise BadRequest(fields={"body": "应为 application/json (must be application/json)"})
    try:
        data = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest(fields={"body": "不是有效的 JSON (not valid JSON)"}) from None
    if not isinstance(data, dict):
        raise BadRequest(fields={"body": "应为 JSON 对象 (must be a JSON object)"})
    return data


def parse_object(body: bytes, allowed: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A raw JSON body that must be an object: (data, errors naming each unknown field).
    For webhooks that read the raw body themselves (signatures, size limits)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Unprocessable(fields={"body": "不是有效的 JSON (not valid JSON)"}) from None
    if not isinstance(data, dict):
        raise Unprocessable(fields={"body": "应为 JSON 对象 (must be a JSON object)"})
    errors = {key: "未知字段 (unknown field)" for key in sorted(set(data) - set(allowed))}
    return data, errors


def int_query(request: web.Request, name: str, default: int | None, low: int, high: int
              ) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Unprocessable(fields={name: "应为整数 (must be a whole number)"}) from None
    if not low <= value <= high:
        raise Unprocessable(fields={name: f"应在{low}到{high}之间 (must be between {low} and {high})"})
    return value


def paging(request: web.Request) -> tuple[int, int]:
    """(limit, after-id) for keyset paging."""
    limit = int_query(request, "limit", 50, 1, MAX_LIMIT)
    after = int_query(request, "after", 0, 0, 2**62)
    assert limit is not None and after is not None
    return limit, after


def page_of(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    """One page and the cursor of the next (None on the last page)."""
    return {"items": items, "limit": limit,
            "next_after": items[-1]["id"] if len(items) == limit else None}


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(fields={name: "不存在 (no such record)"})
    return int(raw)
