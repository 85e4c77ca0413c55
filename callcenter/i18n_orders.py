"""UI text of orders and dispatch on consoles (Chinese, English). Merged into i18n.MESSAGES."""

from __future__ import annotations

from dispatch.states import LABELS

MESSAGES: dict[str, tuple[str, str]] = {
    **{f"os_{state}": label for state, label in LABELS.items()},
    "ord_title": ("服务工单", "Service orders"),
}
