"""UI text of the provider staff's phone page and the provider admin's page (Chinese, English).
Merged into i18n.MESSAGES."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "pv_title": ("服务人员工作台", "Provider staff"),
}
