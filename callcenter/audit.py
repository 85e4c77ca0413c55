"""The audit log: who viewed or changed which record, from where, under which request."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from aiohttp import web

from callcenter.logs import request_id_var


async def write(conn: asyncpg.Connection | asyncpg.Pool, request: web.Request | None,
                user_id: int | None, action: str, entity_type: str, entity_id: object,
                detail: dict[str, Any] | None = None) -> None:
    ip = request.remote if request is not None else None
    await conn.execute(
        "INSERT INTO audit_log (user_id, action, entity_type, entity_id, request_id, ip, detail)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)",
        user_id, action, entity_type, None if entity_id is None else str(entity_id),
        request_id_var.get(), ip, json.dumps(detail or {}, ensure_ascii=False))
