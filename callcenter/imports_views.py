"""Bulk import through the admin API and the admin page; the work is in imports.py."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from callcenter import auth, imports, keys
from callcenter.errors import BadRequest, json_response
from callcenter.logs import request_id_var
from callcenter.pages import render
from callcenter.routing import Routes

routes = Routes("imports", "批量导入名册与设备清单 (bulk import of rosters and device lists)")
ADMIN = frozenset({"admin"})
KINDS = ("elders", "devices")
HEADERS = {
    "elders": "name,id_number,phone,address,region_code,lat,lon,risk_groups"
              "[,phone2,contact_name,contact_phone,contact_relation]",
    "devices": "serial,kind,secret,elder_id_number",
}
UPLOAD_BODY: dict[str, Any] = {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "CSV (UTF-8, BOM allowed) or XLSX with a header row"},
                   "skip_bad": {"type": "boolean",
                                "description": "write the good rows, report the bad"}},
}


async def _upload(request: web.Request) -> tuple[bytes, str, bool]:
    if request.content_type != "multipart/form-data":
        raise BadRequest(fields={"file": "应以 multipart/form-data 上传 (upload as "
                                         "multipart/form-data)"})
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, FileField):
        raise BadRequest(fields={"file": "必填 (required)"})
    skip = str(form.get("skip_bad", "false")).lower() in ("1", "true", "on", "yes")
    return upload.file.read(), upload.filename or "", skip


async def _run(request: web.Request, kind: str, data: bytes, filename: str,
               skip_bad: bool) -> imports.ImportReport:
    p = auth.principal(request)
    fn = imports.import_elders if kind == "elders" else imports.import_devices
    async with request.app[keys.DB].acquire() as conn:
        return await fn(conn, data, filename, skip_bad=skip_bad,
                        default_area_code=request.app[keys.SETTINGS].default_area_code,
                        actor_user_id=p.user_id, request_id=request_id_var.get())


def _api_handler(kind: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        data, filename, skip = await _upload(request)
        try:
            report = await _run(request, kind, data, filename, skip)
        except imports.ImportFileError as exc:
            raise BadRequest(str(exc), fields={"file": str(exc)}) from None
        body = report.to_json()
        if not report.written:
            return json_response({"error": "validation", "report": body}, status=422)
        return json_response(body)
    return handler


for _kind in KINDS:
    routes.post(f"/api/v1/imports/{_kind}", name=f"import_{_kind}", roles=ADMIN,
                body=UPLOAD_BODY, body_type="multipart/form-data",
                summary=f"批量导入 {_kind}，全部成功才写入 (import {_kind} from CSV/XLSX: all or "
                        f"nothing unless skip_bad; 422 with a row-by-row report)")(
        _api_handler(_kind))


@routes.get("/admin/import", name="import_page", roles=ADMIN, page=True,
            summary="批量导入页面 (bulk import page)")
async def import_page(request: web.Request) -> web.Response:
    return render(request, "import.html", headers_help=HEADERS, report=None, kind="elders",
                  file_error="")


@routes.post("/admin/import", name="import_submit", roles=ADMIN, page=True,
             summary="提交批量导入 (submit a bulk import)")
async def import_submit(request: web.Request) -> web.Response:
    form = await request.post()
    kind = str(form.get("kind", "elders"))
    if kind not in KINDS:
        kind = "elders"
    report, file_error, status = None, "", 200
    try:
        data, filename, skip = await _upload(request)
        report = await _run(request, kind, data, filename, skip)
        status = 200 if report.written else 422
    except imports.ImportFileError as exc:
        file_error, status = str(exc), 400
    except BadRequest as exc:
        file_error, status = "; ".join(exc.fields.values()), 400
    return render(request, "import.html", status=status, headers_help=HEADERS, report=report,
                  kind=kind, file_error=file_error)
