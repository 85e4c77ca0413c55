import asyncpg
import pytest

from callcenter.migrate import load_migrations, migrate


async def test_migrations_apply_once_and_are_idempotent(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        first = await migrate(conn)
        assert first == [m.name for m in load_migrations()]
        assert await migrate(conn) == []
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [r["name"] for r in rows] == first
    finally:
        await conn.close()


async def test_events_and_audit_are_append_only(db: asyncpg.Connection) -> None:
    await db.execute("INSERT INTO events (entity_type, entity_id, actor_kind, to_state) "
                     "VALUES ('alarm', 1, 'system', 'received')")
    await db.execute("INSERT INTO audit_log (action, entity_type) VALUES ('test', 'elder')")
    for sql in ("UPDATE events SET to_state = 'x'", "DELETE FROM events",
                "UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
                "TRUNCATE events", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql)
    assert await db.fetchval("SELECT count(*) FROM events") == 1


async def test_constraints_live_in_the_database(db: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            "INSERT INTO elders (name, id_number, sex, birth_date, region_code) "
            "VALUES ('王芳', '11010519491231002X', 'F', '1949-12-31', '999999')")
    with pytest.raises(asyncpg.CheckViolationError):
        await db.execute(
            "INSERT INTO regions (code, level, name, kind, service_radius_m, service_minutes, path)"
            " VALUES ('371000', 'city', '威海市', 'suburban', 3000, 15, '371000')")
