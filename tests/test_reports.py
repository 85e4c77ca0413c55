"""Daily and monthly reports: the CSV and XLSX downloads read back to the JSON's numbers, the
region scope, and bad input answered 4xx naming the field."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import asyncpg
import pytest
from openpyxl import load_workbook

from callcenter import report_tables
from tests.test_dashboard import CITY, RONGCHENG, SHANGHAI, WENDENG, craft

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _day() -> dt.date:
    return dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=2)


@pytest.fixture
async def crafted(db: asyncpg.Connection, world: dict[str, int]) -> dt.date:
    day = _day()
    await craft(db, world, dt.datetime.combine(day, dt.time(9), SHANGHAI))
    return day


async def _get(client: Any, url: str, status: int = 200) -> Any:
    resp = await client.get(url)
    assert resp.status == status, await resp.text()
    return resp


def _csv_sections(text: str) -> dict[str, list[list[str]]]:
    """Title -> rows (header first) of the CSV's sections."""
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in rows[2:]:
        if not row:
            current = None
        elif current is None:
            current = sections.setdefault(row[0], [])
        else:
            current.append(row)
    return sections


def _number(cell: Any) -> Any:
    if cell in ("", None):
        return None
    return float(cell)


def _expected_summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report_tables.figure(report["figures"], k) for k in report_tables.SUMMARY_KEYS}


async def test_daily_report_csv_and_xlsx_match_json(client: Any, crafted: dt.date) -> None:
    await client.login("supervisor")
    url = f"/api/v1/reports/daily?date={crafted.isoformat()}&region={CITY}"
    report = await (await _get(client, url)).json()
    assert report["period"] == {"kind": "daily", "label": crafted.isoformat(),
                                "tz": "Asia/Shanghai"}
    assert report["figures"]["orders"]["total"] == 6
    summary = _expected_summary(report)

    resp = await _get(client, url + "&format=csv")
    assert resp.content_type == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    sections = _csv_sections((await resp.read()).decode("utf-8"))
    assert list(sections) == ["汇总", "警情按类型", "警情按处置结果", "工单按类别",
                              "工单按服务项目", "工单按状态", "无人可派原因", "下辖区划"]
    rows = sections["汇总"]
    assert rows[0] == ["指标", "代码", "数值"]
    assert {r[1]: _number(r[2]) for r in rows[1:]} == summary
    assert {r[1]: int(r[2]) for r in sections["工单按状态"][1:] if r[2] != "0"} == {
        "completed": 2, "no_candidate": 2, "cancelled": 1, "queued": 1}
    assert sections["无人可派原因"][1:] == [["未注明", "1"], ["附近无在班人员", "1"]]
    districts = {r[1]: r for r in sections["下辖区划"][1:]}
    assert list(districts) == [WENDENG, RONGCHENG]
    assert districts[WENDENG][0] == "文登区"
    assert sections["下辖区划"][0][:4] == ["区划", "代码", "来电总数", "已接听"]
    wd = next(c for c in report["children"] if c["code"] == WENDENG)
    assert [_number(v) for v in districts[WENDENG][2:]] == [
        report_tables.figure(wd["figures"], k) for k in report_tables.REGION_KEYS]

    resp = await _get(client, url + "&format=xlsx")
    assert resp.content_type == XLSX
    book = load_workbook(io.BytesIO(await resp.read()), read_only=True)
    assert book.sheetnames == list(sections)
    values = list(book["汇总"].iter_rows(min_row=3, values_only=True))
    assert {r[1]: r[2] for r in values} == summary
    regions = list(book["下辖区划"].iter_rows(min_row=3, values_only=True))
    assert [r[1] for r in regions] == [WENDENG, RONGCHENG]
    assert list(regions[0][2:]) == [report_tables.figure(wd["figures"], k)
                                    for k in report_tables.REGION_KEYS]
    kinds = {r[1]: r[2] for r in book["警情按类型"].iter_rows(min_row=3, values_only=True)}
    assert kinds == report["figures"]["alarms"]["by_kind"]
    book.close()

    # English labels on request, same numbers
    resp = await _get(client, url + "&format=csv&lang=en")
    english = _csv_sections((await resp.read()).decode("utf-8"))
    assert english["Summary"][0] == ["Figure", "Key", "Value"]
    assert {r[1]: _number(r[2]) for r in english["Summary"][1:]} == summary


async def test_monthly_report_and_scope(app_client: Any, crafted: dt.date) -> None:
    month = crafted.strftime("%Y-%m")
    sup = await app_client()
    await sup.login("sup.wendeng")
    mine = await (await _get(sup, f"/api/v1/reports/monthly?month={month}")).json()
    assert mine["period"]["kind"] == "monthly" and mine["region"]["code"] == WENDENG
    f = mine["figures"]
    assert (f["calls"]["total"], f["alarms"]["total"], f["orders"]["total"]) == (3, 3, 5)
    assert f["orders"]["no_candidate_reasons"] == [{"reason": "附近无在班人员", "n": 1}]
    daily = await (await _get(sup, f"/api/v1/reports/daily?date={crafted}")).json()
    assert daily["figures"] == f      # all the month's data is on that one day
    for other in (RONGCHENG, CITY):
        resp = await _get(sup, f"/api/v1/reports/monthly?month={month}&region={other}", 403)
        assert "region" in (await resp.json())["fields"]
    book = load_workbook(io.BytesIO(await (await _get(
        sup, f"/api/v1/reports/monthly?month={month}&format=xlsx")).read()), read_only=True)
    values = {r[1]: r[2] for r in book["汇总"].iter_rows(min_row=3, values_only=True)}
    assert values["orders.total"] == 5 and values["answer.pct_180s"] == 66.7
    book.close()


@pytest.mark.parametrize(("query", "status", "field"), [
    ("daily?date=2026-13-01", 422, "date"),
    ("daily?date=2026-02-30", 422, "date"),
    ("daily?date=20261101", 422, "date"),
    ("daily?date=2999-01-01", 422, "date"),
    ("daily?date=1999-12-31", 422, "date"),
    ("daily?format=pdf", 422, "format"),
    ("daily?region=37", 422, "region"),
    ("daily?region=371099", 404, "region"),
    ("daily?region=371082", 403, "region"),
    ("monthly?month=2026-1", 422, "month"),
    ("monthly?month=2026-00", 422, "month"),
    ("monthly?month=2999-01", 422, "month"),
    ("monthly?month=%E4%B8%80%E6%9C%88", 422, "month"),
    ("monthly?format=", 422, "format"),
])
async def test_bad_input(client: Any, world: dict[str, int], query: str, status: int,
                         field: str) -> None:
    await client.login("sup.wendeng")
    resp = await client.get(f"/api/v1/reports/{query}")
    body = await resp.json()
    assert resp.status == status, body
    assert field in body["fields"], body


async def test_roles(app_client: Any, world: dict[str, int]) -> None:
    anonymous = await app_client()
    resp = await anonymous.get("/api/v1/reports/daily")
    assert resp.status == 401, await resp.text()
    staff = await app_client()
    await staff.login("pa.001")
    resp = await staff.get("/api/v1/reports/monthly")
    assert resp.status == 403, await resp.text()


async def test_reports_page(client: Any, crafted: dt.date) -> None:
    await client.login("op.wendeng")
    resp = await _get(client, f"/reports?date={crafted}")
    text = await resp.text()
    assert "统计报表" in text and "文登区 日报" in text and "附近无在班人员" in text
    assert f"/api/v1/reports/daily?date={crafted}&amp;region={WENDENG}&amp;lang=zh" in text
    resp = await _get(client, f"/reports?kind=monthly&month={crafted:%Y-%m}&lang=en")
    assert "Monthly report" in await resp.text()
    resp = await client.get("/reports?date=2026-02-30")
    assert resp.status == 422, await resp.text()
    resp = await client.get("/reports?region=371082")
    assert resp.status == 403, await resp.text()
