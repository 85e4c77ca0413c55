"""Field validation shared by the API, the importers and the seed. Pure functions, no I/O.

Every failure names a reason in Chinese with the English after it, e.g.
"身份证号校验位错误 (ID number check digit is wrong)".
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from callcenter import geo

RISK_GROUPS: tuple[str, ...] = (
    "独居", "空巢", "留守", "失能", "重残", "计生特殊", "高龄", "低保", "特困", "优抚")
RISK_GROUPS_EN: dict[str, str] = {
    "独居": "living alone", "空巢": "empty-nest", "留守": "left-behind", "失能": "disabled",
    "重残": "severely handicapped", "计生特殊": "special family-planning", "高龄": "80+",
    "低保": "minimum allowance", "特困": "extreme poverty", "优抚": "entitled group"}
DEVICE_KINDS: tuple[str, ...] = (
    "sos_phone", "bracelet", "fall_sensor", "smoke", "gas", "water", "door", "bed")
ELDER_STATUSES: tuple[str, ...] = ("active", "suspended", "moved", "deceased")
ROLES: tuple[str, ...] = ("admin", "supervisor", "operator", "provider_admin", "provider_staff")


class Invalid(ValueError):
    """One field's value is wrong; `reason` says why (Chinese, then English)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ValidationError(Exception):
    """Several fields are wrong: {field: reason}."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: dt.date
    sex: str  # 'M' or 'F'


def id_number(value: Any, today: dt.date | None = None) -> IdNumber:
    """A GB 11643 resident ID: 18 characters, check digit, a real past birth date, a province.

    stdnum's ric.validate() is not used whole: it also requires the 6-digit area code to have
    existed in the *birth* year, which rejects every elder born before their county got its
    current code (371002 dates from 1987; Weihai's elders were born in the 1930s-60s).
    """
    if not isinstance(value, str) or not value.strip():
        raise Invalid("必填 (required)")
    number = re.sub(r"[\s-]", "", ric.compact(value)).upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise Invalid("身份证号应为18位 (ID number must be 18 characters: 17 digits and a digit or X)")
    if ric.calc_check_digit(number) != number[17]:
        raise Invalid("身份证号校验位错误 (ID number check digit is wrong)")
    try:
        birth = ric.get_birth_date(number)
    except StdnumError:
        raise Invalid("身份证号中的出生日期无效 (birth date in the ID number is not a date)") from None
    today = today or dt.date.today()
    if birth > today or birth.year < today.year - 130:
        raise Invalid("身份证号中的出生日期不合理 (birth date in the ID number is out of range)")
    if not _is_province(number[:2]):
        raise Invalid("身份证号的地区码无效 (ID number's area code is not a Chinese province)")
    return IdNumber(number, birth, "M" if int(number[16]) % 2 else "F")


@functools.lru_cache(maxsize=100)
def _is_province(code2: str) -> bool:
    """Is this a province code in stdnum's GB/T 2260 table? (a table walk: ~23 µs uncached)"""
    return any(props.get("province") for _, props in numdb.get("cn/loc").info(code2 + "0000"))


def make_id_number(area6: str, birth: dt.date, sequence: int) -> str:
    """Build a valid ID number (for demo data): area, birth date, 3-digit sequence, check digit."""
    body = f"{area6}{birth:%Y%m%d}{sequence % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def mask_id(number: str) -> str:
    """3710**********1234: the province and city, then only the last four."""
    if len(number) != 18:
        return "*" * len(number)
    return number[:4] + "*" * 10 + number[-4:]


def phone(value: Any, default_area_code: str = "0631") -> str:
    """A mainland mobile or landline number, normalised to E.164 (+8613812345678)."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid("必填 (required)")
    text = re.sub(r"[\s\-()（）]", "", value.strip())
    if re.fullmatch(r"\d{7,8}", text):  # a local landline written without its area code
        text = default_area_code + text
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise Invalid("不是有效的电话号码 (not a phone number)") from None
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        raise Invalid("不是有效的中国大陆手机或固话号码 (not a valid mainland mobile or landline number)")
    kind = phonenumbers.number_type(parsed)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise Invalid("不是手机或固话号码 (neither a mobile nor a landline number)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_display(e164: str) -> str:
    """+8613812345678 -> 138 1234 5678; +866315201234 -> 0631 520 1234."""
    try:
        parsed = phonenumbers.parse(e164, "CN")
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def coordinates(lat: Any, lon: Any) -> tuple[float, float]:
    """WGS-84 latitude and longitude, which must lie inside China."""
    try:
        flat, flon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise Invalid("经纬度应为数字 (latitude and longitude must be numbers)") from None
    if flat != flat or flon != flon:  # NaN
        raise Invalid("经纬度应为数字 (latitude and longitude must be numbers)")
    if not geo.in_china(flat, flon):
        raise Invalid("坐标不在中国境内 (coordinates are outside China)")
    return flat, flon


def risk_groups(value: Any) -> list[str]:
    """Risk groups from a list or a ';'-separated string of the SPEC's Chinese names."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        items = [v.strip() for v in re.split(r"[;；]", value) if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise Invalid("应为人群名称列表 (must be a list of risk-group names)")
    unknown = [v for v in items if v not in RISK_GROUPS]
    if unknown:
        raise Invalid(f"未知人群类别: {'、'.join(unknown)} (unknown risk group; allowed: "
                      f"{'、'.join(RISK_GROUPS)})")
    return sorted(set(items), key=RISK_GROUPS.index)


def text(value: Any, *, max_len: int, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise Invalid("应为文本 (must be text)")
    cleaned = value.strip()
    if len(cleaned) < min_len:
        raise Invalid("必填 (required)")
    if len(cleaned) > max_len:
        raise Invalid(f"不能超过{max_len}个字符 (at most {max_len} characters)")
    return cleaned


def text_list(value: Any, *, max_len: int, max_items: int = 20) -> list[str]:
    if not isinstance(value, list) or len(value) > max_items:
        raise Invalid(f"应为最多{max_items}项的文本列表 (must be a list of at most {max_items} texts)")
    return [text(v, max_len=max_len) for v in value]


def name(value: Any) -> str:
    cleaned = text(value, max_len=40)
    if re.search(r"[\d<>{}@#$%^&*=+\\|/]", cleaned):
        raise Invalid("姓名含有无效字符 (name contains characters a name cannot have)")
    return cleaned


def choice(value: Any, allowed: Iterable[str]) -> str:
    options = tuple(allowed)
    if value not in options:
        raise Invalid(f"应为以下之一 (must be one of): {', '.join(options)}")
    return str(value)


def integer(value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise Invalid("应为整数 (must be a whole number)")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid("应为整数 (must be a whole number)") from None
    if isinstance(value, float) and value != number:
        raise Invalid("应为整数 (must be a whole number)")
    if not low <= number <= high:
        raise Invalid(f"应在{low}到{high}之间 (must be between {low} and {high})")
    return number


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("应为 true 或 false (must be true or false)")
    return value


def region_code_format(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{6}(\d{3}){0,2}", value.strip()):
        raise Invalid("行政区划代码应为6、9或12位数字 (region code must be 6, 9 or 12 digits)")
    return value.strip()


class Form:
    """Collects cleaned fields and every error of a JSON body or a spreadsheet row."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.clean: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def field(self, key: str, check: Callable[[Any], Any], *, required: bool = True,
              default: Any = None) -> Any:
        raw = self.data.get(key)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if required:
                self.errors[key] = "必填 (required)"
                return None
            self.clean[key] = default
            return default
        try:
            value = check(raw)
        except Invalid as exc:
            self.errors[key] = exc.reason
            return None
        self.clean[key] = value
        return value

    def error(self, key: str, reason: str) -> None:
        self.errors.setdefault(key, reason)

    def unknown(self, allowed: Iterable[str]) -> None:
        allowed_set = set(allowed)
        for key in self.data:
            if key not in allowed_set:
                self.errors[key] = "未知字段 (unknown field)"

    def result(self) -> dict[str, Any]:
        if self.errors:
            raise ValidationError(self.errors)
        return self.clean
