"""Bulk import of elders and devices (SPEC §3.1), the database half.

All or nothing by default: any bad row and nothing is written. With skip_bad the good rows are
written and the bad ones reported. Rows are keyed on the ID number / serial, and an upsert with
`IS DISTINCT FROM` leaves unchanged rows untouched, so re-importing a file changes nothing.

Reading and validating (callcenter.import_rows, pure) run in a worker thread so that a 200,000-row
roster does not stall the event loop; the writes are COPY into a temporary table, then one
INSERT ... SELECT ... ON CONFLICT, all in one transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
import time
from typing import Any

import asyncpg

from callcenter.import_files import ImportFileError, Table, check_columns, read_sheet, read_table
from callcenter.import_rows import (
    DEVICE_COLUMNS,
    ELDER_COLUMNS,
    ELDER_OPTIONAL,
    ELDER_RECORD_COLUMNS,
    DeviceRow,
    ElderRow,
    ImportReport,
    RowError,
    elder_record,
    sort_errors,
    validate_devices,
    validate_elders,
)

__all__ = [
    "ImportFileError", "ImportReport", "RowError", "import_devices", "import_elders",
    "read_table",
]

log = logging.getLogger("callcenter.imports")

_UNKNOWN_ELDER = "找不到该身份证号的老人，请先导入老人名单 (no elder with this ID number: " \
                 "import the elders first)"

_ELDERS_TEMP = """
    CREATE TEMP TABLE _import_elders (
        line integer NOT NULL,
        name text NOT NULL,
        id_number text NOT NULL,
        sex text NOT NULL,
        birth_date date NOT NULL,
        phones text[] NOT NULL,
        address text NOT NULL,
        region_code text NOT NULL,
        lat double precision,
        lon double precision,
        lat_gcj02 double precision,
        lon_gcj02 double precision,
        risk_groups text[] NOT NULL,
        contact_name text,
        contact_phone text,
        contact_relation text NOT NULL
    ) ON COMMIT DROP"""

# Updated columns; id_number (the key), sex and birth_date (derived from it) never change.
_ELDERS_UPSERT = """
    WITH up AS (
        INSERT INTO elders AS e (name, id_number, sex, birth_date, phones, address, region_code,
                                 lat, lon, lat_gcj02, lon_gcj02, risk_groups)
        SELECT name, id_number, sex, birth_date, phones, address, region_code,
               lat, lon, lat_gcj02, lon_gcj02, risk_groups
          FROM _import_elders ORDER BY id_number  -- one lock order for concurrent imports
        ON CONFLICT (id_number) DO UPDATE SET
            name = EXCLUDED.name, phones = EXCLUDED.phones, address = EXCLUDED.address,
            region_code = EXCLUDED.region_code, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
            lat_gcj02 = EXCLUDED.lat_gcj02, lon_gcj02 = EXCLUDED.lon_gcj02,
            risk_groups = EXCLUDED.risk_groups, updated_at = now()
        WHERE (e.name, e.phones, e.address, e.region_code, e.lat, e.lon, e.lat_gcj02,
               e.lon_gcj02, e.risk_groups)
              IS DISTINCT FROM
              (EXCLUDED.name, EXCLUDED.phones, EXCLUDED.address, EXCLUDED.region_code,
               EXCLUDED.lat, EXCLUDED.lon, EXCLUDED.lat_gcj02, EXCLUDED.lon_gcj02,
               EXCLUDED.risk_groups)
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted) AS inserted,
           count(*) FILTER (WHERE NOT inserted) AS updated
      FROM up"""

# The roster's contact is the elder's first contact; contacts at later positions (entered by
# operators) are kept. Only changed contacts are written. An elder whose row was unchanged but
# whose contact changed gets updated_at bumped and counts as updated: every elder inserted or
# updated by the upsert above already has updated_at = now() (the transaction's start time).
_CONTACTS_UPSERT = """
    WITH changed AS (
        INSERT INTO elder_contacts AS c (elder_id, position, name, phone, relation)
        SELECT e.id, 1, t.contact_name, t.contact_phone, t.contact_relation
          FROM _import_elders t JOIN elders e ON e.id_number = t.id_number
         WHERE t.contact_name IS NOT NULL
         ORDER BY e.id
        ON CONFLICT (elder_id, position) DO UPDATE SET
            name = EXCLUDED.name, phone = EXCLUDED.phone, relation = EXCLUDED.relation
        WHERE (c.name, c.phone, c.relation)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.phone, EXCLUDED.relation)
        RETURNING c.elder_id
    )
    UPDATE elders SET updated_at = now()
      FROM changed
     WHERE elders.id = changed.elder_id AND elders.updated_at <> now()
    RETURNING elders.id"""

_DEVICES_TEMP = """
    CREATE TEMP TABLE _import_devices (
        line integer NOT NULL,
        serial text NOT NULL,
        kind text NOT NULL,
        elder_id bigint NOT NULL,
        secret text NOT NULL
    ) ON COMMIT DROP"""

_DEVICES_UPSERT = """
    WITH up AS (
        INSERT INTO devices AS d (serial, kind, elder_id, secret)
        SELECT serial, kind, elder_id, secret FROM _import_devices ORDER BY serial
        ON CONFLICT (serial) DO UPDATE SET
            kind = EXCLUDED.kind, elder_id = EXCLUDED.elder_id, secret = EXCLUDED.secret,
            secret_rotated_at = CASE WHEN d.secret = EXCLUDED.secret THEN d.secret_rotated_at
                                     ELSE now() END,
            updated_at = now()
        WHERE (d.kind, d.elder_id, d.secret)
              IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.elder_id, EXCLUDED.secret)
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted) AS inserted,
           count(*) FILTER (WHERE NOT inserted) AS updated
      FROM up"""


async def import_elders(conn: asyncpg.Connection, data: bytes, filename: str, *,
                        skip_bad: bool = False, default_area_code: str = "0631",
                        actor_user_id: int | None = None, request_id: str = "") -> ImportReport:
    """Import an elders roster. Raises ImportFileError for a file that cannot be read at all;
    bad rows are reported in the result (and, without skip_bad, nothing is written)."""
    started = time.perf_counter()
    table = await asyncio.to_thread(_read, data, filename, ELDER_COLUMNS, ELDER_OPTIONAL)
    regions = {r["code"]: r["level"] for r in await conn.fetch("SELECT code, level FROM regions")}
    today = dt.date.today()
    read = time.perf_counter()
    good, errors = await asyncio.to_thread(
        validate_elders, table.rows, regions, default_area_code=default_area_code, today=today)
    log.debug("elders import: read %.2fs, validate %.2fs", read - started,
              time.perf_counter() - read)
    report = ImportReport("elders", total_rows=len(table.rows), errors=errors, filename=filename)
    async with conn.transaction():
        if not errors or skip_bad:
            await _write_elders(conn, good, report)
            report.written = True
        report.seconds = time.perf_counter() - started
        await _audit(conn, report, "elders.import", skip_bad, actor_user_id, request_id)
    _log(report)
    return report


async def _write_elders(conn: asyncpg.Connection, rows: list[ElderRow],
                        report: ImportReport) -> None:
    if not rows:
        return
    clock = time.perf_counter()
    await conn.execute(_ELDERS_TEMP)
    await conn.copy_records_to_table("_import_elders", records=map(elder_record, rows),
                                     columns=ELDER_RECORD_COLUMNS)
    await conn.execute("ANALYZE pg_temp._import_elders")
    copied = time.perf_counter()
    counts = await conn.fetchrow(_ELDERS_UPSERT)
    upserted = time.perf_counter()
    contact_only = await conn.fetch(_CONTACTS_UPSERT)
    log.debug("elders import: copy %.2fs, upsert %.2fs, contacts %.2fs", copied - clock,
              upserted - copied, time.perf_counter() - upserted)
    report.inserted = counts["inserted"]
    report.updated = counts["updated"] + len(contact_only)
    report.unchanged = len(rows) - report.inserted - report.updated
    await conn.execute("DROP TABLE pg_temp._import_elders")


async def import_devices(conn: asyncpg.Connection, data: bytes, filename: str, *,
                         skip_bad: bool = False, default_area_code: str = "0631",
                         actor_user_id: int | None = None, request_id: str = "") -> ImportReport:
    """Import a device delivery list. An empty secret cell generates a secret for a new device
    (reported once, in generated_secrets) and keeps the current secret of an existing one."""
    del default_area_code  # same signature as import_elders; device rows carry no phones
    started = time.perf_counter()
    table = await asyncio.to_thread(_read, data, filename, DEVICE_COLUMNS, ())
    good, errors = await asyncio.to_thread(validate_devices, table.rows, today=dt.date.today())
    report = ImportReport("devices", total_rows=len(table.rows), filename=filename)
    async with conn.transaction():
        found = await conn.fetch(
            "SELECT id_number::text AS id_number, id FROM elders"
            " WHERE id_number = ANY($1::bpchar[])",
            sorted({r.elder_id_number for r in good}))
        elder_ids: dict[str, int] = {r["id_number"]: r["id"] for r in found}
        known = [r for r in good if r.elder_id_number in elder_ids]
        errors.extend(RowError(r.line, "elder_id_number", _UNKNOWN_ELDER)
                      for r in good if r.elder_id_number not in elder_ids)
        report.errors = sort_errors(errors)
        if not errors or skip_bad:
            await _write_devices(conn, known, elder_ids, report)
            report.written = True
        report.seconds = time.perf_counter() - started
        await _audit(conn, report, "devices.import", skip_bad, actor_user_id, request_id)
    _log(report)
    return report


async def _write_devices(conn: asyncpg.Connection, rows: list[DeviceRow],
                         elder_ids: dict[str, int], report: ImportReport) -> None:
    if not rows:
        return
    # Lock the existing devices so that a secret kept from an empty cell cannot be rotated by
    # someone else before the upsert writes it back.
    existing: dict[str, str] = {
        r["serial"]: r["secret"] for r in await conn.fetch(
            "SELECT serial, secret FROM devices WHERE serial = ANY($1::text[])"
            " ORDER BY serial FOR UPDATE",
            [r.serial for r in rows])}
    records: list[tuple[Any, ...]] = []
    generated: list[tuple[str, str]] = []
    for r in rows:
        secret = r.secret
        if secret is None:
            secret = existing.get(r.serial)
            if secret is None:
                secret = secrets.token_hex(16)
                generated.append((r.serial, secret))
        records.append((r.line, r.serial, r.kind, elder_ids[r.elder_id_number], secret))
    await conn.execute(_DEVICES_TEMP)
    await conn.copy_records_to_table("_import_devices", records=records,
                                     columns=("line", "serial", "kind", "elder_id", "secret"))
    counts = await conn.fetchrow(_DEVICES_UPSERT)
    await conn.execute("DROP TABLE pg_temp._import_devices")
    report.inserted = counts["inserted"]
    report.updated = counts["updated"]
    report.unchanged = len(rows) - report.inserted - report.updated
    report.generated_secrets = generated


def _read(data: bytes, filename: str, required: tuple[str, ...],
          optional: tuple[str, ...]) -> Table:
    table = read_sheet(data, filename)
    check_columns(table.header, required, optional)
    return table


async def _audit(conn: asyncpg.Connection, report: ImportReport, action: str, skip_bad: bool,
                 actor_user_id: int | None, request_id: str) -> None:
    detail = {
        "filename": report.filename,
        "rows": report.total_rows,
        "inserted": report.inserted,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "bad_rows": report.bad_rows,
        "skip_bad": skip_bad,
        "written": report.written,
        "generated_secrets": len(report.generated_secrets),  # the count, never the secrets
    }
    await conn.execute(
        "INSERT INTO audit_log (user_id, action, entity_type, entity_id, request_id, detail)"
        " VALUES ($1, $2, 'import', NULL, $3, $4::text::jsonb)",
        actor_user_id, action, request_id, json.dumps(detail, ensure_ascii=False))


def _log(report: ImportReport) -> None:
    log.info("%s import file=%r rows=%d inserted=%d updated=%d unchanged=%d bad_rows=%d "
             "written=%s seconds=%.2f", report.kind, report.filename, report.total_rows,
             report.inserted, report.updated, report.unchanged, report.bad_rows, report.written,
             report.seconds)
