"""Bulk import, the pure half (SPEC §3.1): validate every row of a roster read by
callcenter.import_files, and the report. No I/O here: the database half is callcenter.imports.

Line numbers are the row numbers a spreadsheet user sees: the header is line 1 (when it is the
first row), the first data row line 2; blank rows are skipped but still counted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from callcenter import geo
from callcenter import validation as v
from callcenter.import_files import EXTRA_CELLS
from callcenter.validation import Form, Invalid

ELDER_COLUMNS: tuple[str, ...] = (
    "name", "id_number", "phone", "address", "region_code", "lat", "lon", "risk_groups")
ELDER_OPTIONAL: tuple[str, ...] = ("phone2", "contact_name", "contact_phone", "contact_relation")
DEVICE_COLUMNS: tuple[str, ...] = ("serial", "kind", "secret", "elder_id_number")

# Elders may be attached to these levels only (a city is too coarse to dispatch from).
ELDER_REGION_LEVELS: frozenset[str] = frozenset({"district", "town", "community"})

SERIAL_RE = re.compile(r"[A-Za-z0-9_-]{4,64}")
SECRET_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no space
SECRET_MIN, SECRET_MAX = 16, 128
ADDRESS_MAX = 200
RELATION_MAX = 20

_DUPLICATE = "与第{0}行重复 (duplicate of line {0})"


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    column: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason}

    def format_text(self) -> str:
        return f"第{self.line}行 {self.column}: {self.reason}"


@dataclass
class ImportReport:
    """The outcome of one import. `ok` is False whenever any row was bad, even if the good rows
    were written with skip_bad; `written` says whether anything was committed."""

    kind: str  # 'elders' or 'devices'
    total_rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    generated_secrets: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    filename: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> int:
        return len({e.line for e in self.errors})

    def to_json(self, max_errors: int | None = None) -> dict[str, Any]:
        errors = self.errors if max_errors is None else self.errors[:max_errors]
        return {
            "kind": self.kind,
            "filename": self.filename,
            "ok": self.ok,
            "written": self.written,
            "total_rows": self.total_rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "bad_rows": self.bad_rows,
            "error_count": len(self.errors),
            "errors": [e.to_json() for e in errors],
            "generated_secrets": [{"serial": s, "secret": k} for s, k in self.generated_secrets],
            "seconds": round(self.seconds, 3),
        }

    def format_text(self) -> str:
        what = {"elders": "老人名单 (elders)", "devices": "设备清单 (devices)"}.get(self.kind, self.kind)
        lines = [
            f"导入{what} {self.filename}".rstrip(),
            (f"共{self.total_rows}行 (rows): 新增{self.inserted} (inserted), "
             f"更新{self.updated} (updated), 未变{self.unchanged} (unchanged), "
             f"错误{self.bad_rows}行 (bad rows); {self.seconds:.1f}秒 (s)"),
        ]
        if self.errors and not self.written:
            lines.append("有错误，未写入任何数据 (nothing was written: fix the rows below, "
                         "or use --skip-bad to import the good rows)")
        elif self.errors:
            lines.append("已导入正确的行，以下各行被跳过 (good rows were written; "
                         "the rows below were skipped)")
        lines.extend(e.format_text() for e in self.errors)
        if self.generated_secrets:
            lines.append("新生成的设备密钥，只显示这一次，请妥善保存 (generated device secrets, "
                         "shown only this once: store them now):")
            lines.extend(f"  {serial} {secret}" for serial, secret in self.generated_secrets)
        return "\n".join(lines)


@dataclass(slots=True)
class ElderRow:
    line: int
    name: str
    id_number: str
    sex: str
    birth_date: dt.date
    phones: list[str]
    address: str
    region_code: str
    lat: float | None
    lon: float | None
    lat_gcj02: float | None
    lon_gcj02: float | None
    risk_groups: list[str]
    contact_name: str | None
    contact_phone: str | None
    contact_relation: str


ELDER_RECORD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ElderRow))


def elder_record(row: ElderRow) -> tuple[Any, ...]:
    return (row.line, row.name, row.id_number, row.sex, row.birth_date, row.phones, row.address,
            row.region_code, row.lat, row.lon, row.lat_gcj02, row.lon_gcj02, row.risk_groups,
            row.contact_name, row.contact_phone, row.contact_relation)


@dataclass(slots=True)
class DeviceRow:
    line: int
    serial: str
    kind: str
    secret: str | None  # None: keep the existing one, or generate for a new device
    elder_id_number: str


# --- validation ------------------------------------------------------------------------------

_NUMBER_CELL = re.compile(r"-?\d\.\d+E[+-]\d+")
_NUMBER_HINT = ("；该单元格在Excel中是数字，只保留15位有效数字，后几位已丢失，请把该列设为文本后重新输入 "
                "(the cell is a number in Excel, which keeps only 15 digits, so the last digits "
                "are lost: format the column as text and type the numbers again)")


def _id_number(value: Any, today: dt.date) -> v.IdNumber:
    try:
        return v.id_number(value, today)
    except Invalid as exc:
        if isinstance(value, str) and _NUMBER_CELL.fullmatch(value):
            raise Invalid(exc.reason + _NUMBER_HINT) from None
        raise


def _extra_cells(line: int, row: Mapping[str, str], errors: list[RowError]) -> None:
    if EXTRA_CELLS in row:
        errors.append(RowError(line, EXTRA_CELLS, "表头以外还有内容，可能是地址中有未加引号的逗号 "
                               "(cells beyond the header's columns: an unquoted comma?)"))


def _coordinates(form: Form, row: Mapping[str, str]) -> tuple[float, float] | None:
    lat_raw, lon_raw = row.get("lat", ""), row.get("lon", "")
    if not lat_raw and not lon_raw:
        return None
    if not lon_raw:
        form.error("lon", "填写了纬度但缺少经度，两者都填或都不填 (latitude given without longitude: "
                          "give both or neither)")
        return None
    if not lat_raw:
        form.error("lat", "填写了经度但缺少纬度，两者都填或都不填 (longitude given without latitude: "
                          "give both or neither)")
        return None
    try:
        return v.coordinates(lat_raw, lon_raw)
    except Invalid as exc:
        reason = exc.reason
    numbers: dict[str, float] = {}
    for column, raw in (("lat", lat_raw), ("lon", lon_raw)):
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            form.error(column, "应为数字 (must be a number)")
        else:
            numbers[column] = number
    if len(numbers) == 2:
        lat, lon = numbers["lat"], numbers["lon"]
        if geo.in_china(lon, lat):
            reason += "；经纬度可能填反了 (latitude and longitude look swapped)"
        lat_ok = geo.CHINA_LAT[0] <= lat <= geo.CHINA_LAT[1]
        lon_ok = geo.CHINA_LON[0] <= lon <= geo.CHINA_LON[1]
        if not lat_ok or lon_ok:
            form.error("lat", reason)
        if not lon_ok:
            form.error("lon", reason)
    return None


def validate_elders(rows: Iterable[tuple[int, dict[str, str]]], regions: Mapping[str, str], *,
                    default_area_code: str = "0631", today: dt.date | None = None,
                    ) -> tuple[list[ElderRow], list[RowError]]:
    """Validate roster rows. `regions` maps every region code to its level.

    Returns the good rows and every bad cell (line, column, reason), ordered by line.
    """
    today = today or dt.date.today()

    def id_check(value: Any) -> v.IdNumber:
        return _id_number(value, today)

    def phone_check(value: Any) -> str:
        return v.phone(value, default_area_code)

    def address_check(value: Any) -> str:
        return v.text(value, max_len=ADDRESS_MAX, min_len=0)

    def relation_check(value: Any) -> str:
        return v.text(value, max_len=RELATION_MAX, min_len=0)

    region_cache: dict[str, str] = {}

    def region_check(value: Any) -> str:
        code = region_cache.get(value)
        if code is not None:
            return code
        code = v.region_code_format(value)
        level = regions.get(code)
        if level is None:
            raise Invalid("行政区划代码不存在 (unknown region code)")
        if level not in ELDER_REGION_LEVELS:
            raise Invalid("应为区县、乡镇街道或社区村的代码，不能是市 (must be a district, town or "
                          "community, not a city)")
        region_cache[value] = code
        return code

    good: list[ElderRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        form = Form(row)
        name = form.field("name", v.name)
        ident: v.IdNumber | None = form.field("id_number", id_check)
        if ident is not None:
            first = seen.get(ident.number)
            if first is not None:
                form.error("id_number", _DUPLICATE.format(first))
            else:
                seen[ident.number] = line
        phone1 = form.field("phone", phone_check)
        address = form.field("address", address_check, required=False, default="")
        region = form.field("region_code", region_check)
        coords = _coordinates(form, row)
        groups = form.field("risk_groups", v.risk_groups, required=False, default=[])
        phone2 = form.field("phone2", phone_check, required=False)
        contact_name = contact_phone = None
        relation = ""
        if row.get("contact_name") or row.get("contact_phone"):
            if row.get("contact_name"):
                contact_name = form.field("contact_name", v.name)
            else:
                form.error("contact_name", "填写了联系人电话但缺少联系人姓名 (contact phone given "
                                           "without a contact name)")
            if row.get("contact_phone"):
                contact_phone = form.field("contact_phone", phone_check)
            else:
                form.error("contact_phone", "填写了联系人姓名但缺少联系人电话 (contact name given "
                                            "without a contact phone)")
            relation = form.field("contact_relation", relation_check, required=False, default="")
        elif row.get("contact_relation"):
            form.error("contact_relation", "没有联系人时不能填写关系 (relation given without a "
                                           "contact)")
        errors.extend(RowError(line, column, reason) for column, reason in form.errors.items())
        _extra_cells(line, row, errors)
        if form.errors or EXTRA_CELLS in row:
            continue
        assert ident is not None
        phones = [phone1] if phone2 is None or phone2 == phone1 else [phone1, phone2]
        if coords is None:
            lat = lon = glat = glon = None
        else:
            lat, lon = coords
            glat, glon = geo.wgs84_to_gcj02(lat, lon)
        good.append(ElderRow(line, name, ident.number, ident.sex, ident.birth_date, phones,
                             address, region, lat, lon, glat, glon, groups, contact_name,
                             contact_phone, relation))
    return good, errors


def _serial(value: Any) -> str:
    if not SERIAL_RE.fullmatch(value):
        raise Invalid("序列号应为4到64位字母、数字、下划线或连字符 (serial must be 4 to 64 letters, "
                      "digits, _ or -)")
    return str(value)


def _secret(value: Any) -> str:
    if not SECRET_RE.fullmatch(value):
        raise Invalid("密钥只能包含ASCII可打印字符，不能有空格 (secret must be printable ASCII "
                      "without spaces)")
    if len(value) < SECRET_MIN:
        raise Invalid(f"密钥至少{SECRET_MIN}个字符，或留空自动生成 (secret must be at least "
                      f"{SECRET_MIN} characters, or empty to generate one)")
    if len(value) > SECRET_MAX:
        raise Invalid(f"密钥不能超过{SECRET_MAX}个字符 (secret must be at most {SECRET_MAX} "
                      "characters)")
    return str(value)


def _kind(value: Any) -> str:
    return v.choice(value.lower() if isinstance(value, str) else value, v.DEVICE_KINDS)


def validate_devices(rows: Iterable[tuple[int, dict[str, str]]], *,
                     today: dt.date | None = None) -> tuple[list[DeviceRow], list[RowError]]:
    """Validate a device delivery list. Whether each elder exists is checked by the caller."""
    today = today or dt.date.today()

    def id_check(value: Any) -> str:
        return _id_number(value, today).number

    good: list[DeviceRow] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        form = Form(row)
        serial = form.field("serial", _serial)
        if serial is not None:
            first = seen.get(serial)
            if first is not None:
                form.error("serial", _DUPLICATE.format(first))
            else:
                seen[serial] = line
        kind = form.field("kind", _kind)
        secret = form.field("secret", _secret, required=False)
        elder = form.field("elder_id_number", id_check)
        errors.extend(RowError(line, column, reason) for column, reason in form.errors.items())
        _extra_cells(line, row, errors)
        if form.errors or EXTRA_CELLS in row:
            continue
        good.append(DeviceRow(line, serial, kind, secret, elder))
    return good, errors


def sort_errors(errors: list[RowError]) -> list[RowError]:
    """By line; within a line, in the order the checks ran (column order)."""
    return sorted(errors, key=lambda e: e.line)

