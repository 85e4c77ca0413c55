"""Reading rosters (SPEC §3.1): CSV (UTF-8, BOM optional) or XLSX into header and rows, and
the file-level column checks. Pure: bytes in, rows out.

Line numbers are the row numbers a spreadsheet user sees: the header is line 1 (when it is the
first row), the first data row line 2; blank rows are skipped but still counted.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import types
import zipfile
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

EXTRA_CELLS = "(extra)"  # cells to the right of the header's last named column
_SUFFIXES = (".csv", ".xlsx")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (wrong type, not UTF-8, no header, bad columns)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]


def read_table(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV or XLSX file as (line number, {lower-cased header: cell text})."""
    return read_sheet(data, filename).rows


def read_sheet(data: bytes, filename: str) -> Table:
    """The header and the non-blank rows of a CSV (UTF-8, BOM optional) or XLSX (first sheet)."""
    name = filename.strip()
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix == ".csv":
        raw_rows: Iterable[Sequence[str]] = _csv_rows(data)
    elif suffix == ".xlsx":
        raw_rows = _xlsx_rows(data)
    elif suffix in (".xls", ".et", ".ods", ".numbers"):
        raise ImportFileError(f"不支持{suffix}格式，请另存为 .xlsx 或 CSV UTF-8 (the {suffix} "
                              "format is not supported: save the sheet as .xlsx or CSV UTF-8)")
    else:
        raise ImportFileError("只能导入 .csv 或 .xlsx 文件 (only .csv and .xlsx files can be "
                              "imported)")
    try:
        return _tabulate(raw_rows)
    except csv.Error as exc:
        raise ImportFileError(f"CSV格式错误 (malformed CSV): {exc}") from None
    finally:
        if isinstance(raw_rows, types.GeneratorType):
            raw_rows.close()  # closes the XLSX archive even when the header was refused


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        hint = ""
        try:
            data.decode("gb18030")
            hint = "；看起来是GBK编码，请在Excel中另存为“CSV UTF-8” (it looks like GBK: in Excel " \
                   "use Save As \"CSV UTF-8\")"
        except UnicodeDecodeError:
            pass
        raise ImportFileError(f"文件不是UTF-8编码，第{line}行有无效字节 (the file is not UTF-8: "
                              f"invalid bytes on line {line}){hint}") from None
    return csv.reader(io.StringIO(text, newline=""))


def _xlsx_rows(data: bytes) -> Generator[list[str], None, None]:
    import openpyxl  # imported here: only XLSX imports pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError,
            OSError, EOFError, IndexError) as exc:
        raise ImportFileError(f"不是有效的XLSX文件 (not a valid XLSX file): "
                              f"{type(exc).__name__}") from None
    try:
        if not book.worksheets:
            raise ImportFileError("XLSX文件中没有工作表 (the XLSX file has no sheet)")
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers record a wrong size; read what is really there
        try:
            # values_only rows are numbered from 1, missing rows filled in as empty tuples
            for values in sheet.iter_rows(values_only=True):
                yield [_cell_text(value) for value in values]
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError,
                IndexError, SyntaxError) as exc:  # SyntaxError: broken XML (ParseError)
            raise ImportFileError(f"XLSX文件已损坏 (the XLSX file is damaged): "
                                  f"{type(exc).__name__}") from None
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    """A cell's value as the text the user typed: 13812345678, not 13812345678.0 or 1.38e+10."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if value.is_integer():
            # A number of 16+ digits typed into Excel keeps only 15 significant digits (an
            # 18-digit ID number loses its last three), and any number in an XLSX file is a
            # double. Made-up digits could pass the check digit by chance (1 in 11), so show it
            # as Excel does and let validation refuse it with a hint.
            return f"{value:.14E}"
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _tabulate(raw_rows: Iterable[Sequence[str]]) -> Table:
    header: list[str] | None = None
    width = 0
    rows: list[tuple[int, dict[str, str]]] = []
    named: list[tuple[int, str]] = []
    for line, cells in enumerate(raw_rows, start=1):
        if header is None:
            stripped = [c.replace("\ufeff", "").strip().lower() for c in cells]
            if not any(stripped):
                continue
            while stripped and not stripped[-1]:
                stripped.pop()
            names = [h for h in stripped if h]
            dupes = sorted({h for h in names if names.count(h) > 1})
            if dupes:
                raise ImportFileError(f"列名重复: {', '.join(dupes)} (duplicate columns: "
                                      f"{', '.join(dupes)})")
            header = stripped
            width = len(header)
            named = [(i, h) for i, h in enumerate(header) if h]
            continue
        values = [c.strip() for c in cells]
        if not any(values):
            continue
        if len(values) < width:
            values.extend([""] * (width - len(values)))
        row = {h: values[i] for i, h in named}
        extra = [c for i, c in enumerate(values) if c and (i >= width or not header[i])]
        if extra:
            row[EXTRA_CELLS] = ",".join(extra)
        rows.append((line, row))
    if header is None:
        raise ImportFileError("文件是空的，需要表头行 (the file is empty: a header row is required)")
    return Table([h for h in header if h], rows)


def check_columns(header: Iterable[str], required: Sequence[str],
                  optional: Sequence[str] = ()) -> None:
    """Missing required columns and unknown columns are file-level errors, named all at once."""
    present = set(header)
    missing = [c for c in required if c not in present]
    allowed = set(required) | set(optional)
    unknown = sorted(present - allowed)
    problems = []
    if missing:
        problems.append(f"缺少必需的列: {', '.join(missing)} (missing required columns: "
                        f"{', '.join(missing)})")
    if unknown:
        problems.append(f"未知的列: {', '.join(unknown)} (unknown columns: {', '.join(unknown)}; "
                        f"allowed: {', '.join(list(required) + list(optional))})")
    if problems:
        raise ImportFileError("; ".join(problems))
