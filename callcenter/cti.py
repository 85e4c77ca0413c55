"""Telephony (CTI) webhook, SPEC §4.2."""

from __future__ import annotations

from callcenter.routing import Routes

routes = Routes("cti", "电话接入 (telephony webhook, SPEC §4.2)")
