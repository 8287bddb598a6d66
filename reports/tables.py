"""One writer for every exported table: CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX (openpyxl).

The header row holds the column keys (`rule_id`, `account_no` …) that tools join on; XLSX adds the Chinese
labels as a first row above it for people. A text cell starting with `=`, `+`, `-`, `@`, tab or carriage
return would run as a formula in a spreadsheet: in CSV it gets a leading `'`, in XLSX it is stored as a
string cell, so no formula is ever created.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill

from pipelines.errors import FundflowError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = (".csv", ".xlsx")


@dataclass(frozen=True)
class Column:
    key: str
    label_zh: str


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def write_table(path: str | Path, columns: Sequence[Column], rows: Iterable[dict[str, Any]],
                sheet_title: str = "数据") -> str:
    """Write rows (dicts keyed by column key) to `path` (.csv or .xlsx); returns the file's SHA-256."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise FundflowError(f"导出文件须为 .csv 或 .xlsx / export file must end in .csv or .xlsx: {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        _write_csv(path, columns, rows)
    else:
        _write_xlsx(path, columns, rows, sheet_title)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return "'" + value if is_formula_like(value) else value


def _write_csv(path: Path, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.key for column in columns])
        for row in rows:
            writer.writerow([_csv_cell(row.get(column.key)) for column in columns])


def _write_xlsx(path: Path, columns: Sequence[Column], rows: Iterable[dict[str, Any]], sheet_title: str) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = sheet_title
    sheet.append([column.label_zh for column in columns])
    sheet.append([column.key for column in columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[2]:
        cell.font = Font(color="808080", size=9)
        cell.fill = PatternFill("solid", fgColor="F2F2F2")
    sheet.freeze_panes = "A3"
    for row in rows:
        sheet.append([row.get(column.key) for column in columns])
        for cell in sheet[sheet.max_row]:
            if is_formula_like(cell.value):
                cell.data_type = "s"  # stored as text: a spreadsheet shows it, never evaluates it
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = max(10, len(column.key) + 4)
    workbook.save(path)
