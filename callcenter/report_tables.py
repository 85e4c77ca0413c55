"""A report's figures as tables, and the tables as CSV or XLSX. Pure functions: the numbers come
from stats.py; here they are only labelled and laid out."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

from callcenter import i18n

SUMMARY_KEYS = (
    "calls.total", "calls.inbound", "calls.outbound", "calls.answered", "calls.inbound_answered",
    "calls.abandoned",
    "calls.ringing", "calls.unknown_caller", "calls.with_alarm", "calls.answer_rate",
    "calls.ring_median_s", "alarms.total", "answer.alarms", "answer.unacknowledged",
    "answer.pct_60s", "answer.pct_180s", "answer.median_s", "answer.p95_s", "orders.total",
    "orders.completed", "orders.cancelled", "orders.no_candidate", "orders.completion_rate",
    "orders.checked_in", "orders.punctual", "orders.punctuality",
)
REGION_KEYS = ("calls.total", "calls.answered", "calls.abandoned", "alarms.total",
               "answer.pct_60s", "answer.pct_180s", "answer.median_s", "orders.total",
               "orders.completed", "orders.completion_rate", "orders.punctuality",
               "orders.no_candidate")

Cell = str | int | float | None


@dataclasses.dataclass(frozen=True)
class Table:
    key: str     # stable id: the XLSX sheet and CSV section are found by their title, tests by this
    title: str
    header: list[str]
    rows: list[list[Cell]]


def figure(figures: dict[str, Any], dotted: str) -> Cell:
    group, name = dotted.split(".")
    value: Cell = figures[group][name]
    return value


def tables(report: dict[str, Any], lang: str) -> list[Table]:
    """The report as labelled tables in the given language."""
    t = i18n.translator(lang)
    f = report["figures"]
    orders = f["orders"]

    def named(item: dict[str, Any]) -> str:
        return str(item["name_zh"] if lang == "zh" else item["name_en"])

    head = [t("rep_figure"), t("rep_key"), t("rep_value")]
    count_head = [t("rep_figure"), t("rep_key"), t("rep_count")]
    out = [
        Table("summary", t("rep_summary"), head,
              [[t("rep_" + k.replace(".", "_")), k, figure(f, k)] for k in SUMMARY_KEYS]),
        Table("alarms_by_kind", t("rep_alarms_by_kind"), count_head,
              [[t("ak_" + k), k, n] for k, n in f["alarms"]["by_kind"].items()]),
        Table("alarms_by_outcome", t("rep_alarms_by_outcome"), count_head,
              [[t("dash_out_open" if k == "open" else "out_" + k), k, n]
               for k, n in f["alarms"]["by_outcome"].items()]),
        Table("orders_by_category", t("rep_orders_by_category"), count_head,
              [[named(c), c["code"], c["n"]] for c in orders["by_category"]]),
        Table("orders_by_item", t("rep_orders_by_item"), count_head,
              [[named(i), i["code"], i["n"]] for i in orders["by_item"]]),
        Table("orders_by_state", t("rep_orders_by_state"), count_head,
              [[t("os_" + s), s, n] for s, n in orders["by_state"].items()]),
        Table("no_candidate_reasons", t("rep_reasons"), [t("rep_figure"), t("rep_count")],
              [[r["reason"] or t("rep_reason_none"), r["n"]]
               for r in orders["no_candidate_reasons"]]),
        Table("regions", t("rep_regions"),
              [t("rep_region"), t("rep_key")] + [t("rep_" + k.replace(".", "_"))
                                                 for k in REGION_KEYS],
              [[named_region(c, lang), c["code"]] + [figure(c["figures"], k)
                                                     for k in REGION_KEYS]
               for c in report["children"]]),
    ]
    if "care" in report:
        out += care_tables(report["care"], t, lang)
    return out


def _pct(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def care_tables(care: dict[str, Any], t: Any, lang: str) -> list[Table]:
    """The monthly report's active-care part: visited ÷ due per child region and in all, and
    the elders not yet reached (care.visit_rate's first 200)."""
    head = [t("rep_region"), t("rep_key"), t("rep_care_due"), t("rep_care_visited"),
            t("rep_care_rate")]
    rows: list[list[Cell]] = [[named_region(r, lang), r["code"], r["due"], r["visited"],
                               _pct(r["rate"])] for r in care["regions"]]
    rows.append([t("dash_set_total"), care["region_code"], care["due"], care["visited"],
                 _pct(care["rate"])])
    missing = [[m["name"], m["elder_id"], m["region_name"], m["attempts"],
                t("care_s_" + m["step"]) if m["state"] == "open" else t("rep_care_home_visit"),
                m["assigned_to_name"]] for m in care["not_reached"]]
    return [
        Table("care_visits", t("rep_care_visits"), head, rows),
        Table("care_not_reached", t("rep_care_not_reached"),
              [t("rep_care_elder"), t("rep_key"), t("rep_region"), t("rep_care_attempts"),
               t("rep_care_progress"), t("rep_care_operator")], missing),
    ]


def named_region(r: dict[str, Any], lang: str) -> str:
    return str(r["name"] if lang == "zh" or not r["name_en"] else r["name_en"])


def title(report: dict[str, Any], lang: str) -> str:
    t = i18n.translator(lang)
    kind = t("rep_daily" if report["period"]["kind"] == "daily" else "rep_monthly")
    return f"{named_region(report['region'], lang)} {kind} {report['period']['label']}"


def to_csv(report: dict[str, Any], lang: str) -> str:
    """The report as CSV (see write_csv)."""
    return write_csv(title(report, lang), tables(report, lang))


def to_xlsx(report: dict[str, Any], lang: str) -> bytes:
    """The report as XLSX (see write_xlsx)."""
    return write_xlsx(title(report, lang), tables(report, lang))


def write_csv(heading: str, sections: list[Table]) -> str:
    """Sections one after another: a title row, a header row, the rows, a blank row. A BOM
    first, so spreadsheet programs read the Chinese as UTF-8."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([heading])
    w.writerow([])
    for table in sections:
        w.writerow([table.title])
        w.writerow(table.header)
        w.writerows(["" if c is None else c for c in row] for row in table.rows)
        w.writerow([])
    return "\ufeff" + buf.getvalue()


def write_xlsx(heading: str, sections: list[Table]) -> bytes:
    """One sheet per table, named by the table's title."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    first = True
    for table in sections:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        first = False
        ws.title = table.title[:31]
        ws.append([heading])
        ws.append(table.header)
        for cell in ws[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            ws.append(row)
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 24
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

