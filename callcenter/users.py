"""User accounts: creation with validated role, region and provider (used by the CLI)."""

from __future__ import annotations

import re

import asyncpg

from callcenter.security import hash_password
from callcenter.validation import ROLES, Invalid, ValidationError

USERNAME = re.compile(r"^[a-z0-9_.-]{3,40}$")
PROVIDER_ROLES = frozenset({"provider_admin", "provider_staff"})
MIN_PASSWORD = 10


async def create_user(conn: asyncpg.Connection, *, username: str, password: str, role: str,
                      region_code: str, display_name: str = "",
                      provider_id: int | None = None) -> int:
    """Create a user; every wrong field is reported at once, nothing written on error."""
    errors: dict[str, str] = {}
    if not USERNAME.match(username):
        errors["username"] = "3-40位小写字母、数字或 ._- (3-40 lower-case letters, digits, . _ -)"
    elif await conn.fetchval("SELECT 1 FROM users WHERE username = $1", username):
        errors["username"] = "用户名已存在 (user name taken)"
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"至少{MIN_PASSWORD}个字符 (at least {MIN_PASSWORD} characters)"
    if role not in ROLES:
        errors["role"] = f"应为以下之一 (must be one of): {', '.join(ROLES)}"
    if not await conn.fetchval("SELECT 1 FROM regions WHERE code = $1", region_code):
        errors["region"] = "行政区划代码不存在 (no region has this code)"
    if role in PROVIDER_ROLES:
        if provider_id is None or not await conn.fetchval(
                "SELECT 1 FROM providers WHERE id = $1", provider_id):
            errors["provider"] = "服务商角色需要一个存在的服务商 (provider roles need a provider)"
    elif provider_id is not None:
        errors["provider"] = "只有服务商角色属于服务商 (only provider roles belong to a provider)"
    if errors:
        raise ValidationError(errors)
    try:
        return await conn.fetchval(
            "INSERT INTO users (username, display_name, password_hash, role, region_code,"
            " provider_id) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", username,
            display_name or username, hash_password(password), role, region_code, provider_id)
    except asyncpg.CheckViolationError:
        raise Invalid("用户信息不符合要求 (user record refused)") from None
