"""Domain errors, and the one middleware that turns every error into a clear answer.

API answers are JSON: {"error": "validation", "fields": {"phone": "..."}}; pages get a rendered
error page. A 500 is logged once with the request id and shows nothing internal.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from callcenter.logs import request_id_var
from callcenter.validation import ValidationError

log = logging.getLogger("callcenter.errors")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str = "", *, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.code)
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code}
        if self.message:
            out["message"] = self.message
        if self.fields:
            out["fields"] = self.fields
        return out


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "validation"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


# Constraint name -> the field it guards, for database errors that reach the edge.
CONSTRAINT_FIELDS: dict[str, str] = {
    "elders_id_number_key": "id_number",
    "devices_serial_key": "serial",
    "providers_licence_no_key": "licence_no",
    "users_username_key": "username",
    "service_items_pkey": "code",
    "staff_user_id_key": "user_id",
}


def _db_error(exc: asyncpg.PostgresError) -> ApiError:
    constraint = getattr(exc, "constraint_name", None) or ""
    column = getattr(exc, "column_name", None)
    field = CONSTRAINT_FIELDS.get(constraint) or column
    if not field:
        match = re.match(r"[a-z_]+?_([a-z_]+?)_(fkey|check|key)$", constraint)
        field = match.group(1) if match else "body"
    if isinstance(exc, asyncpg.UniqueViolationError):
        return Conflict(fields={field: "已存在 (already exists)"})
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return Unprocessable(fields={field: "引用的记录不存在 (refers to a record that does not exist)"})
    return Unprocessable(fields={field: "取值不符合要求 (value not allowed)"})


def is_api(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/ws/")) or request.path == "/healthz"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False, default=str), status=status,
                        content_type="application/json", headers=headers)


def error_response(request: web.Request, status: int, body: dict[str, Any],
                   headers: dict[str, str] | None = None) -> web.StreamResponse:
    body = {**body, "request_id": request_id_var.get()}
    if is_api(request):
        return json_response(body, status=status, headers=headers)
    from callcenter.pages import render_error  # pages import errors; resolve at call time

    try:
        return render_error(request, status, body, headers)
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001 - the error page itself failed: answer plainly, log once
        log.exception("error page failed to render")
        return web.Response(status=status, text=f"{status} — request id {body['request_id']}",
                            headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationError as exc:
        return error_response(request, 422, {"error": "validation", "fields": exc.fields})
    except ApiError as exc:
        return error_response(request, exc.status, exc.body(), exc.headers)
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
        mapped = _db_error(exc)
        log.info("database refused a write: %s", exc.__class__.__name__)
        return error_response(request, mapped.status, mapped.body())
    except web.HTTPRedirection:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error")
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(request, exc.status, {"error": code, "message": exc.reason},
                              headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(request, 500, {"error": "internal",
                                             "message": "服务器内部错误 (internal error)"})
