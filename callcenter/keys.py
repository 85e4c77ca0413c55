"""Typed keys for the app-wide objects; nothing else is stored on the application."""

from __future__ import annotations

import asyncpg
import jinja2
import redis.asyncio as aioredis
from aiohttp import web

from callcenter.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
OPENAPI = web.AppKey("openapi", dict)


def redis_key(settings: Settings, *parts: object) -> str:
    """Every Redis key carries the deployment's prefix: anxin:login:user:op.wendeng."""
    return settings.redis_prefix + ":".join(str(p) for p in parts)
