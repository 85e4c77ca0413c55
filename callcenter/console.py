"""The operator console page (alarms part)."""

from __future__ import annotations

from callcenter.routing import Routes

routes = Routes("console", "坐席控制台页面 (operator console page)")
