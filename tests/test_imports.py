"""Bulk import of elders and devices (SPEC §3.1): reading, every bad row reported with its line
and column, all-or-nothing, --skip-bad, idempotent re-import, XLSX, generated device secrets."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from typing import Any

import asyncpg
import openpyxl
import pytest
from stdnum.cn import ric

from callcenter import geo
from callcenter.import_files import EXTRA_CELLS, _cell_text, read_sheet
from callcenter.import_rows import ELDER_COLUMNS, validate_devices, validate_elders
from callcenter.imports import (
    ImportFileError,
    ImportReport,
    RowError,
    import_devices,
    import_elders,
    read_table,
)
from callcenter.validation import make_id_number

HEADER = list(ELDER_COLUMNS)
FULL_HEADER = HEADER + ["phone2", "contact_name", "contact_phone", "contact_relation"]
DEVICE_HEADER = ["serial", "kind", "secret", "elder_id_number"]
REGION_LEVELS = {"371000": "city", "371002": "district", "371002001": "town"}
TODAY = dt.date(2025, 6, 1)


def idn(seq: int, birth: dt.date = dt.date(1945, 3, 4)) -> str:
    """A valid ID number that never ends in X (so it can also be a numeric XLSX cell)."""
    while True:
        number = make_id_number("371002", birth, seq)
        if not number.endswith("X"):
            return number
        seq += 500


def elder(seq: int, **overrides: str) -> dict[str, str]:
    row = {"name": f"张{'一二三四五六七八九十'[seq % 10]}", "id_number": idn(seq),
           "phone": f"1381234{seq:04d}", "address": f"环翠区文化中路{seq}号",
           "region_code": "371002001", "lat": "37.51", "lon": "122.12", "risk_groups": "独居;失能"}
    row.update(overrides)
    return row


def to_csv(header: list[str], rows: list[dict[str, str]], bom: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(h, "") for h in header])
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")


async def add_regions(db: asyncpg.Connection) -> None:
    await db.executemany(
        "INSERT INTO regions (code, parent_code, level, name, kind, service_radius_m,"
        " service_minutes, path) VALUES ($1, $2, $3, $4, 'urban', 3000, 15, $5)",
        [("371000", None, "city", "威海市", "371000"),
         ("371002", "371000", "district", "环翠区", "371000.371002"),
         ("371002001", "371002", "town", "环翠楼街道", "371000.371002.371002001")])


async def add_user(db: asyncpg.Connection) -> int:
    return int(await db.fetchval(
        "INSERT INTO users (username, display_name, password_hash, role, region_code)"
        " VALUES ('importer', '导入员', 'x', 'admin', '371000') RETURNING id"))


COUNT_QUERIES = {table: f"SELECT count(*) FROM {table}"
                 for table in ("elders", "elder_contacts", "devices")}


async def count(db: asyncpg.Connection, table: str) -> int:
    return int(await db.fetchval(COUNT_QUERIES[table]))


def cells(report: ImportReport) -> set[tuple[int, str]]:
    return {(e.line, e.column) for e in report.errors}


def reason(report: ImportReport, line: int, column: str) -> str:
    return next(e.reason for e in report.errors if (e.line, e.column) == (line, column))


# --- reading files ---------------------------------------------------------------------------

def test_csv_lines_header_and_blank_rows() -> None:
    data = (" Name , ID_Number ,phone\r\n"
            "张三,110101194503040011,13812340001\r\n"
            ",,\r\n"
            "\r\n"
            " 李四 , 110101194503040011 ,\r\n").encode()
    rows = read_table(data, "roster.CSV")
    assert rows == [(2, {"name": "张三", "id_number": "110101194503040011", "phone": "13812340001"}),
                    (5, {"name": "李四", "id_number": "110101194503040011", "phone": ""})]


def test_csv_with_bom_and_quoted_newline() -> None:
    data = b"\xef\xbb\xbfname,address\n" + '王五,"第一行\n第二行"\n赵六,x\n'.encode()
    assert read_table(data, "a.csv") == [(2, {"name": "王五", "address": "第一行\n第二行"}),
                                         (3, {"name": "赵六", "address": "x"})]


def test_csv_not_utf8_is_refused_with_a_hint() -> None:
    data = "name\n张三\n".encode("gbk")
    with pytest.raises(ImportFileError) as exc:
        read_table(data, "a.csv")
    assert "UTF-8" in exc.value.message and "GBK" in exc.value.message and "line 2" in str(exc.value)


@pytest.mark.parametrize("filename", ["roster.xls", "roster.txt", "roster", "roster.csv.zip"])
def test_other_extensions_are_refused(filename: str) -> None:
    with pytest.raises(ImportFileError, match="xlsx"):
        read_table(b"name\nx\n", filename)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n,,\r\n"])
def test_file_without_header_is_refused(data: bytes) -> None:
    with pytest.raises(ImportFileError, match="header row"):
        read_table(data, "a.csv")


def test_duplicate_header_is_refused() -> None:
    with pytest.raises(ImportFileError, match="duplicate columns: phone"):
        read_table(b"name,phone,Phone\n", "a.csv")


def test_cells_beyond_the_header_are_kept_for_a_row_error() -> None:
    rows = read_table("name,address\n张三,环翠区,文化路\n".encode(), "a.csv")
    assert rows == [(2, {"name": "张三", "address": "环翠区", EXTRA_CELLS: "文化路"})]


def test_corrupt_xlsx_is_refused() -> None:
    with pytest.raises(ImportFileError, match="XLSX"):
        read_table(b"PK\x03\x04 definitely not a workbook", "a.xlsx")
    with pytest.raises(ImportFileError, match="XLSX"):
        read_table(b"name\nx\n", "a.xlsx")


def xlsx(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.create_sheet("second").append(["ignored"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_numbers_become_the_text_typed() -> None:
    number = idn(7)
    data = xlsx([["Name", "ID_Number", "Phone", "Lat", "Lon", "Count"],
                 ["张三", number, 13812345678, 37.512345, 122.1, 3.0],
                 [None, None, None, None, None, None],
                 ["李四", int(number), 6315201234.0, 37.5, 122.12, 1e-05]])
    rows = read_table(data, "roster.xlsx")
    assert rows == [
        (2, {"name": "张三", "id_number": number, "phone": "13812345678", "lat": "37.512345",
             "lon": "122.1", "count": "3"}),
        # an 18-digit number cell is a double: its last digits are gone, shown as Excel shows it
        (4, {"name": "李四", "id_number": f"{float(number):.14E}", "phone": "6315201234",
             "lat": "37.5", "lon": "122.12", "count": "1e-05"})]


def test_xlsx_exact_integer_cell_is_kept() -> None:
    """Writers other than Excel may store an 18-digit integer exactly; then it is kept."""
    number = idn(8)
    data = xlsx([["id_number"], [123456]])
    archive = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as patched:
        for item in archive.infolist():
            content = archive.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"<v>123456</v>", f"<v>{number}</v>".encode())
            patched.writestr(item, content)
    assert read_table(out.getvalue(), "a.xlsx") == [(2, {"id_number": number})]


def test_cell_text() -> None:
    assert _cell_text(13812345678.0) == "13812345678"
    assert _cell_text(3.71002194503040e17) == "3.71002194503040E+17"
    assert _cell_text(37.5) == "37.5"
    assert _cell_text(None) == ""
    assert _cell_text(dt.datetime(1945, 3, 4)) == "1945-03-04"
    assert _cell_text(True) == "TRUE"


def test_xlsx_header_not_on_first_row_keeps_sheet_line_numbers() -> None:
    data = xlsx([[], ["name", "phone"], ["张三", "13812345678"]])
    assert read_sheet(data, "a.xlsx").rows == [(3, {"name": "张三", "phone": "13812345678"})]


# --- pure validation -------------------------------------------------------------------------

def test_validate_elders_derives_sex_birth_date_and_gcj02() -> None:
    row = elder(1, phone="138 1234 0001", phone2="5201234", risk_groups="失能；高龄;独居",
                contact_name="张小明", contact_phone="13900000001", contact_relation="儿子")
    good, errors = validate_elders([(2, row)], REGION_LEVELS, today=TODAY)
    assert errors == []
    (e,) = good
    assert (e.id_number, e.birth_date) == (idn(1), dt.date(1945, 3, 4))
    assert e.sex == ("M" if int(idn(1)[16]) % 2 else "F")
    assert e.phones == ["+8613812340001", "+866315201234"]
    assert e.risk_groups == ["独居", "失能", "高龄"]  # 高龄 as given, never derived
    assert (e.lat_gcj02, e.lon_gcj02) == geo.wgs84_to_gcj02(37.51, 122.12)
    assert (e.contact_name, e.contact_phone, e.contact_relation) == (
        "张小明", "+8613900000001", "儿子")


def test_validate_elders_optional_cells_may_be_empty() -> None:
    row = elder(1, address="", lat="", lon="", risk_groups="")
    good, errors = validate_elders([(2, row)], REGION_LEVELS, today=TODAY)
    assert errors == []
    assert (good[0].lat, good[0].lat_gcj02, good[0].risk_groups, good[0].address) == (
        None, None, [], "")


def test_validate_elders_landline_area_code_is_configurable() -> None:
    good, _ = validate_elders([(2, elder(1, phone="86123456"))], REGION_LEVELS,
                              default_area_code="0531", today=TODAY)
    assert good[0].phones == ["+8653186123456"]


def test_cells_beyond_the_header_are_a_row_error() -> None:
    data = to_csv(HEADER, [elder(1)]).rstrip(b"\r\n") + ",环翠区\r\n".encode()
    good, errors = validate_elders(read_table(data, "a.csv"), REGION_LEVELS, today=TODAY)
    assert good == [] and [(e.line, e.column) for e in errors] == [(2, EXTRA_CELLS)]
    assert "unquoted comma" in errors[0].reason


def test_swapped_coordinates_get_a_hint() -> None:
    _, errors = validate_elders([(2, elder(1, lat="122.12", lon="37.51"))], REGION_LEVELS,
                                today=TODAY)
    assert [(e.column, "swapped" in e.reason) for e in errors] == [("lat", True), ("lon", True)]


def bad_birth_date_id() -> str:
    body = "37100219451304001"  # month 13
    return body + ric.calc_check_digit(body + "0")


def bad_checksum_id() -> str:
    good = idn(3)
    return good[:17] + ("1" if good[17] != "1" else "2")


BAD_ROWS: list[tuple[dict[str, str], list[tuple[str, str]]]] = [
    # (row, [(column, a piece of the reason)])
    (elder(3, id_number=bad_checksum_id()), [("id_number", "check digit")]),
    (elder(4, id_number=bad_birth_date_id()), [("id_number", "birth date")]),
    (elder(5, phone="12345"), [("phone", "number")]),
    (elder(6, region_code="371099"), [("region_code", "unknown region")]),
    (elder(7, lat="48.85", lon="2.35"), [("lon", "outside China")]),
    (elder(8, lat="37.5", lon=""), [("lon", "latitude given without longitude")]),
    (elder(9, risk_groups="独居;富豪"), [("risk_groups", "unknown risk group")]),
    (elder(2), [("id_number", "与第2行重复 (duplicate of line 2)")]),
    (elder(10, name=""), [("name", "required")]),
    (elder(11, address="路" * 201), [("address", "at most 200")]),
    (elder(12, contact_name="张小明"), [("contact_phone", "without a contact phone")]),
    (elder(13, region_code="371000"), [("region_code", "not a city")]),
    (elder(14, id_number="", phone="1", phone2="abc", lat="north", lon="east",
           contact_phone="13900000001", contact_relation="很远" * 11),
     [("id_number", "required"), ("phone", "number"), ("lat", "number"), ("lon", "number"),
      ("phone2", "number"), ("contact_name", "without a contact name"),
      ("contact_relation", "at most 20")]),
    (elder(15, contact_relation="儿子"), [("contact_relation", "without a contact")]),
    (elder(16, name="张3"), [("name", "cannot have")]),
]


def bad_roster() -> tuple[bytes, int]:
    """Good rows on lines 2 and 18 around every bad case; returns (csv, number of good rows)."""
    rows = [elder(2)] + [row for row, _ in BAD_ROWS] + [elder(17)]
    return to_csv(FULL_HEADER, rows), 2


def test_validate_elders_reports_every_bad_cell_with_line_and_column() -> None:
    data, _ = bad_roster()
    good, errors = validate_elders(read_table(data, "a.csv"), REGION_LEVELS, today=TODAY)
    assert [g.line for g in good] == [2, len(BAD_ROWS) + 3]
    expected = [(line, column, text) for line, (_, wanted) in enumerate(BAD_ROWS, start=3)
                for column, text in wanted]
    assert [(e.line, e.column) for e in errors] == [(line, column) for line, column, _ in expected]
    for error, (_, _, text) in zip(errors, expected, strict=False):
        assert text in error.reason, (error, text)
        assert " (" in error.reason  # Chinese, then English


def test_validate_devices() -> None:
    rows = [(2, {"serial": "SOS-0001", "kind": "SOS_Phone", "secret": "", "elder_id_number": idn(1)}),
            (3, {"serial": "ab", "kind": "toaster", "secret": "short",
                 "elder_id_number": bad_checksum_id()}),
            (4, {"serial": "SOS-0001", "kind": "bed", "secret": "has a space in it!!",
                 "elder_id_number": ""}),
            (5, {"serial": "BR_0002", "kind": "bracelet", "secret": "x" * 16,
                 "elder_id_number": idn(2)})]
    good, errors = validate_devices(rows, today=TODAY)
    assert [(g.line, g.serial, g.kind, g.secret) for g in good] == [
        (2, "SOS-0001", "sos_phone", None), (5, "BR_0002", "bracelet", "x" * 16)]
    assert [(e.line, e.column) for e in errors] == [
        (3, "serial"), (3, "kind"), (3, "secret"), (3, "elder_id_number"),
        (4, "serial"), (4, "secret"), (4, "elder_id_number")]
    assert "at least 16" in errors[2].reason and "duplicate of line 2" in errors[4].reason


def test_report_json_and_text() -> None:
    report = ImportReport("devices", total_rows=3, inserted=1, written=True, filename="d.csv",
                          errors=[RowError(3, "id_number", "身份证号校验位错误 (ID number check "
                                           "digit is wrong)")],
                          generated_secrets=[("SOS-0001", "ab" * 16)])
    assert not report.ok and report.bad_rows == 1
    body = report.to_json()
    assert body["errors"] == [{"line": 3, "column": "id_number",
                               "reason": "身份证号校验位错误 (ID number check digit is wrong)"}]
    assert body["generated_secrets"] == [{"serial": "SOS-0001", "secret": "ab" * 16}]
    json.dumps(body)
    text = report.format_text()
    assert "第3行 id_number: 身份证号校验位错误 (ID number check digit is wrong)" in text
    assert "SOS-0001 " + "ab" * 16 in text and "shown only this once" in text


# --- elders against the database -------------------------------------------------------------

async def test_missing_and_unknown_columns_are_file_errors(db: asyncpg.Connection) -> None:
    await add_regions(db)
    data = to_csv(["name", "id_number", "phone", "region_code", "lat", "lon", "mobile"], [elder(1)])
    with pytest.raises(ImportFileError) as exc:
        await import_elders(db, data, "a.csv")
    assert "missing required columns: address, risk_groups" in exc.value.message
    assert "unknown columns: mobile" in exc.value.message
    assert await count(db, "elders") == 0


async def test_header_only_file_imports_nothing(db: asyncpg.Connection) -> None:
    report = await import_elders(db, to_csv(FULL_HEADER, []), "empty.csv")
    assert (report.ok, report.written, report.total_rows, report.inserted) == (True, True, 0, 0)


async def test_elders_import_and_what_is_stored(db: asyncpg.Connection) -> None:
    await add_regions(db)
    rows = [elder(1, phone2="0631-5201234", contact_name="张小明", contact_phone="13900000001",
                  contact_relation="儿子"),
            elder(2, lat="", lon="", risk_groups="")]
    report = await import_elders(db, to_csv(FULL_HEADER, rows), "roster.csv")
    assert (report.ok, report.written, report.total_rows, report.inserted, report.updated,
            report.unchanged) == (True, True, 2, 2, 0, 0)
    first = await db.fetchrow("SELECT * FROM elders WHERE id_number = $1", idn(1))
    assert first["phones"] == ["+8613812340001", "+866315201234"]
    assert first["birth_date"] == dt.date(1945, 3, 4) and first["region_code"] == "371002001"
    assert (first["lat"], first["lon"]) == (37.51, 122.12)
    assert (first["lat_gcj02"], first["lon_gcj02"]) == geo.wgs84_to_gcj02(37.51, 122.12)
    assert first["risk_groups"] == ["独居", "失能"]
    contacts = await db.fetch("SELECT position, name, phone, relation FROM elder_contacts")
    assert [tuple(c) for c in contacts] == [(1, "张小明", "+8613900000001", "儿子")]
    second = await db.fetchrow("SELECT * FROM elders WHERE id_number = $1", idn(2))
    assert (second["lat"], second["lat_gcj02"], second["risk_groups"]) == (None, None, [])
    assert first["id"] < second["id"]


async def test_any_bad_row_writes_nothing(db: asyncpg.Connection) -> None:
    await add_regions(db)
    await import_elders(db, to_csv(HEADER, [elder(100)]), "first.csv")
    before = await db.fetch("SELECT id, updated_at FROM elders")
    data, _ = bad_roster()
    report = await import_elders(db, data, "bad.csv")
    assert not report.ok and not report.written
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 0)
    assert report.total_rows == len(BAD_ROWS) + 2 and report.bad_rows == len(BAD_ROWS)
    expected = {(line, column) for line, (_, wanted) in enumerate(BAD_ROWS, start=3)
                for column, _ in wanted}
    assert cells(report) == expected
    assert "duplicate of line 2" in reason(report, 10, "id_number")
    assert await db.fetch("SELECT id, updated_at FROM elders") == before
    assert await count(db, "elder_contacts") == 0
    assert "nothing was written" in report.format_text()


async def test_skip_bad_writes_the_good_rows(db: asyncpg.Connection) -> None:
    await add_regions(db)
    data, good = bad_roster()
    report = await import_elders(db, data, "bad.csv", skip_bad=True)
    assert not report.ok and report.written
    assert (report.inserted, report.bad_rows) == (good, len(BAD_ROWS))
    stored = {r["id_number"] for r in await db.fetch("SELECT id_number FROM elders")}
    assert stored == {idn(2), idn(17)}  # line 10 repeats line 2's ID; the first one wins


async def test_reimport_changes_nothing(db: asyncpg.Connection) -> None:
    await add_regions(db)
    rows = [elder(i, contact_name="李四", contact_phone=f"1390000{i:04d}") for i in range(1, 6)]
    data = to_csv(FULL_HEADER, rows)
    await import_elders(db, data, "roster.csv")
    snapshot = "SELECT *, xmin::text AS version FROM elders ORDER BY id"
    contacts = "SELECT *, xmin::text AS version FROM elder_contacts ORDER BY elder_id"
    elders_before, contacts_before = await db.fetch(snapshot), await db.fetch(contacts)
    report = await import_elders(db, data, "roster.csv")
    assert (report.ok, report.inserted, report.updated, report.unchanged) == (True, 0, 0, 5)
    assert await db.fetch(snapshot) == elders_before
    assert await db.fetch(contacts) == contacts_before


async def test_changed_rows_are_updated_and_only_those(db: asyncpg.Connection) -> None:
    await add_regions(db)
    rows = [elder(i, contact_name="李四", contact_phone=f"1390000{i:04d}") for i in range(1, 5)]
    await import_elders(db, to_csv(FULL_HEADER, rows), "roster.csv")
    first_id = await db.fetchval("SELECT id FROM elders WHERE id_number = $1", idn(1))
    await db.execute("INSERT INTO elder_contacts (elder_id, position, name, phone) VALUES"
                     " ($1, 2, '王五', '+8613700000000')", first_id)
    await db.execute("UPDATE elders SET updated_at = '2020-01-01'")
    rows[0] = elder(1, name="张一改", phone="13812349999", phone2="13812349998", address="新地址",
                    lat="37.52", lon="122.13", risk_groups="空巢",
                    contact_name="李四", contact_phone="13900000001")
    rows[1] = elder(2, contact_name="赵六", contact_phone="13900000002", contact_relation="女儿")
    rows[2] = elder(3, id_number=idn(3).lower())  # same elder, no contact columns this time
    report = await import_elders(db, to_csv(FULL_HEADER, rows), "roster.csv")
    assert (report.inserted, report.updated, report.unchanged) == (0, 2, 2)
    changed = await db.fetch("SELECT id_number, updated_at > '2020-01-01' AS touched FROM elders"
                             " ORDER BY id")
    assert [(r["id_number"], r["touched"]) for r in changed] == [
        (idn(1), True), (idn(2), True), (idn(3), False), (idn(4), False)]
    first = await db.fetchrow("SELECT * FROM elders WHERE id = $1", first_id)
    assert (first["name"], first["phones"], first["address"], first["risk_groups"]) == (
        "张一改", ["+8613812349999", "+8613812349998"], "新地址", ["空巢"])
    assert (first["lat_gcj02"], first["lon_gcj02"]) == geo.wgs84_to_gcj02(37.52, 122.13)
    contacts = await db.fetch("SELECT e.id_number, c.position, c.name, c.relation FROM"
                              " elder_contacts c JOIN elders e ON e.id = c.elder_id"
                              " ORDER BY e.id, c.position")
    assert [tuple(c) for c in contacts] == [
        (idn(1), 1, "李四", ""), (idn(1), 2, "王五", ""), (idn(2), 1, "赵六", "女儿"),
        (idn(3), 1, "李四", ""), (idn(4), 1, "李四", "")]


async def test_bom_csv_imports(db: asyncpg.Connection) -> None:
    await add_regions(db)
    report = await import_elders(db, to_csv(HEADER, [elder(1)], bom=True), "bom.csv")
    assert (report.ok, report.inserted) == (True, 1)


async def test_xlsx_with_numeric_cells_imports(db: asyncpg.Connection) -> None:
    await add_regions(db)
    data = xlsx([[h.upper() for h in HEADER],
                 ["张三", idn(1), 13812345678, "文化路1号", 371002001, 37.51, 122.12, "独居"],
                 [],
                 ["李四", idn(2), 5201234, "", "371002", None, None, None],
                 ["王五", int(idn(3)), 1, "", 371002, 37.5, None, None]])
    report = await import_elders(db, data, "roster.xlsx")
    assert cells(report) == {(5, "id_number"), (5, "phone"), (5, "lon")}
    assert "format the column as text" in reason(report, 5, "id_number")
    report = await import_elders(db, data, "roster.xlsx", skip_bad=True)
    assert (report.inserted, report.total_rows) == (2, 3)
    stored = await db.fetch("SELECT id_number, phones, region_code, lat FROM elders ORDER BY id")
    assert [tuple(r) for r in stored] == [
        (idn(1), ["+8613812345678"], "371002001", 37.51),
        (idn(2), ["+866315201234"], "371002", None)]


async def test_audit_row_per_import(db: asyncpg.Connection) -> None:
    await add_regions(db)
    user_id = await add_user(db)
    await import_elders(db, to_csv(HEADER, [elder(1), elder(2)]), "roster.csv",
                        actor_user_id=user_id, request_id="req-1")
    await import_elders(db, to_csv(HEADER, [elder(1, phone="1")]), "bad.csv", request_id="req-2")
    rows = await db.fetch("SELECT * FROM audit_log ORDER BY id")
    assert [(r["action"], r["entity_type"], r["user_id"], r["request_id"]) for r in rows] == [
        ("elders.import", "import", user_id, "req-1"), ("elders.import", "import", None, "req-2")]
    first, second = (json.loads(r["detail"]) for r in rows)
    assert (first["filename"], first["rows"], first["inserted"], first["written"]) == (
        "roster.csv", 2, 2, True)
    assert (second["filename"], second["bad_rows"], second["written"]) == ("bad.csv", 1, False)


async def test_import_inside_callers_transaction_twice(db: asyncpg.Connection) -> None:
    await add_regions(db)
    async with db.transaction():
        await import_elders(db, to_csv(HEADER, [elder(1)]), "a.csv")
        report = await import_elders(db, to_csv(HEADER, [elder(2)]), "b.csv")
    assert report.inserted == 1 and await count(db, "elders") == 2


# --- devices ---------------------------------------------------------------------------------

async def with_elders(db: asyncpg.Connection, n: int = 3) -> None:
    await add_regions(db)
    report = await import_elders(db, to_csv(HEADER, [elder(i) for i in range(1, n + 1)]), "e.csv")
    assert report.inserted == n


def devices_csv(rows: list[list[str]]) -> bytes:
    return to_csv(DEVICE_HEADER, [dict(zip(DEVICE_HEADER, r, strict=False)) for r in rows])


async def test_device_bad_rows_and_all_or_nothing(db: asyncpg.Connection) -> None:
    await with_elders(db)
    data = devices_csv([
        ["SOS-0001", "sos_phone", "", idn(1)],
        ["ab", "sos_phone", "", idn(1)],
        ["BR-0002", "toaster", "", idn(2)],
        ["BR-0003", "bracelet", "short", idn(2)],
        ["BR-0004", "bracelet", "", idn(99)],
        ["SOS-0001", "smoke", "", idn(3)],
        ["BR-0005", "bracelet", "", bad_checksum_id()],
        ["BR-0006", "bracelet", "", ""],
    ])
    report = await import_devices(db, data, "devices.csv")
    assert not report.written and report.generated_secrets == []
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "serial"), (4, "kind"), (5, "secret"), (6, "elder_id_number"), (7, "serial"),
        (8, "elder_id_number"), (9, "elder_id_number")]
    assert "no elder with this ID number" in reason(report, 6, "elder_id_number")
    assert "duplicate of line 2" in reason(report, 7, "serial")
    assert await count(db, "devices") == 0
    report = await import_devices(db, data, "devices.csv", skip_bad=True)
    assert report.written and report.inserted == 1 and await count(db, "devices") == 1


async def test_missing_device_columns(db: asyncpg.Connection) -> None:
    with pytest.raises(ImportFileError, match="missing required columns: secret"):
        await import_devices(db, b"serial,kind,elder_id_number\n", "d.csv")


async def test_generated_secret_shown_once_and_kept(db: asyncpg.Connection) -> None:
    await with_elders(db)
    user_id = await add_user(db)
    given = "0123456789abcdef!"
    data = devices_csv([["SOS-0001", "sos_phone", "", idn(1)],
                        ["BR-0002", "bracelet", given, idn(2)]])
    report = await import_devices(db, data, "d.csv", actor_user_id=user_id)
    assert (report.inserted, report.updated, report.unchanged) == (2, 0, 0)
    ((serial, secret),) = report.generated_secrets
    assert serial == "SOS-0001" and len(secret) == 32 and int(secret, 16) >= 0
    assert secret in report.format_text()
    stored = {r["serial"]: r for r in await db.fetch("SELECT * FROM devices")}
    assert stored["SOS-0001"]["secret"] == secret and stored["BR-0002"]["secret"] == given
    assert stored["SOS-0001"]["elder_id"] == await db.fetchval(
        "SELECT id FROM elders WHERE id_number = $1", idn(1))

    again = await import_devices(db, data, "d.csv")
    assert (again.inserted, again.updated, again.unchanged, again.generated_secrets) == (
        0, 0, 2, [])
    after = {r["serial"]: r for r in await db.fetch("SELECT * FROM devices")}
    assert after == stored  # same secrets, same updated_at

    moved = devices_csv([["SOS-0001", "sos_phone", "", idn(3)],
                         ["BR-0002", "bracelet", "a-brand-new-secret", idn(2)]])
    changed = await import_devices(db, moved, "d2.csv")
    assert (changed.updated, changed.generated_secrets) == (2, [])
    final = {r["serial"]: r for r in await db.fetch("SELECT * FROM devices")}
    assert final["SOS-0001"]["secret"] == secret
    assert final["SOS-0001"]["secret_rotated_at"] == stored["SOS-0001"]["secret_rotated_at"]
    assert final["BR-0002"]["secret"] == "a-brand-new-secret"
    assert final["BR-0002"]["secret_rotated_at"] > stored["BR-0002"]["secret_rotated_at"]

    audit = await db.fetch("SELECT user_id, action, detail FROM audit_log"
                           " WHERE action = 'devices.import' ORDER BY id")
    assert [(a["user_id"], a["action"]) for a in audit] == [
        (user_id, "devices.import"), (None, "devices.import"), (None, "devices.import")]
    assert secret not in audit[0]["detail"]
    assert json.loads(audit[0]["detail"])["generated_secrets"] == 1
