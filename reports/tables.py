"""One writer for every exported table: CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX (openpyxl).

The header row holds the column keys (`rule_id`, `account_no` …) that tools join on; XLSX adds the Chinese
labels as a first row above it for people. Control characters and bidi overrides are removed from
every text cell (both formats). A text cell starting with `=`, `+`, `-`, `@`, tab or carriage return would
run as a formula in a spreadsheet: in CSV it gets a leading `'`, in XLSX it is stored as a string cell, so no
formula is ever created. Every export file is then recorded in the case-store audit.
"""

from __future__ import annotations

import csv
import getpass
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from pipelines.cases.store import CaseStore
from pipelines.errors import FundflowError
from pipelines.formatting import export_text
from pipelines.hashing import file_sha256
from pipelines.settings import Settings

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = (".csv", ".xlsx")
AMOUNT_FORMAT = "#,##0.00"


@dataclass(frozen=True)
class Column:
    key: str
    label_zh: str
    number_format: str | None = None
    """XLSX number format of the column's numbers (e.g. AMOUNT_FORMAT); None leaves the default."""


@dataclass(frozen=True)
class Sheet:
    """One table of an export: a sheet of an XLSX file, or a CSV file of its own."""

    title: str
    columns: Sequence[Column]
    rows: Sequence[dict[str, Any]]
    caption: Sequence[str] = ()
    """Lines above the header in XLSX (table name, reporting unit, period); CSV files stay rectangular."""
    key_row: bool = True
    """Machine keys under the Chinese header (XLSX) and as the CSV header; False: Chinese labels only."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    rows: int
    files: tuple[tuple[Path, str], ...] = field(default=())
    """Every file written, with its SHA-256 (a CSV export of several tables writes several)."""
    run_id: str | None = None
    """The detection run exported, for exports of one run's alerts."""


def is_formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def export_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise FundflowError(f"导出文件须为 .csv 或 .xlsx / export file must end in .csv or .xlsx: {Path(path).name}")
    return suffix


def write_table(
    path: str | Path, columns: Sequence[Column], rows: Iterable[dict[str, Any]], sheet_title: str = "数据"
) -> str:
    """Write rows (dicts keyed by column key) to `path` (.csv or .xlsx); returns the file's SHA-256."""
    path = Path(path)
    sheet = Sheet(sheet_title, columns, list(rows))
    if export_format(path) == ".csv":
        return write_csv(path, sheet)
    return write_workbook(path, [sheet])


def write_tables(path: str | Path, sheets: Sequence[Sheet], csv_suffixes: Sequence[str]) -> list[tuple[Path, str]]:
    """Several tables: one XLSX with a sheet each, or one CSV each named `<stem><suffix>.csv`.

    Returns every file written with its SHA-256, in the order of `sheets`.
    """
    path = Path(path)
    if export_format(path) == ".xlsx":
        return [(path, write_workbook(path, sheets))]
    written = []
    for sheet, suffix in zip(sheets, csv_suffixes, strict=True):
        target = path.with_name(path.stem + suffix + ".csv")
        written.append((target, write_csv(target, sheet)))
    return written


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    value = _clean(value)  # before the formula check: "\x01=cmd" must not become a bare "=cmd"
    return "'" + value if is_formula_like(value) else value


def write_csv(path: Path, sheet: Sheet) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([column.key if sheet.key_row else column.label_zh for column in sheet.columns])
        for row in sheet.rows:
            writer.writerow([_csv_cell(row.get(column.key)) for column in sheet.columns])
    return file_sha256(path)


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    # write-only: rows stream to the file instead of living as cell objects until the save (a nightly lead list
    # of 53,000 rows spent a third of its time making and keeping them)
    workbook = Workbook(write_only=True)
    for sheet in sheets:
        _fill_sheet(workbook.create_sheet(sheet.title), sheet)
    workbook.save(path)
    return file_sha256(path)


def _clean(value: Any) -> Any:
    # Bank data occasionally carries control characters (XLSX cannot store them at all); a crafted field may
    # carry terminal escapes or bidi overrides meant for whoever opens the export.
    return export_text(value) if isinstance(value, str) else value


def _fill_sheet(target: WriteOnlyWorksheet, sheet: Sheet) -> None:
    # A write-only sheet takes its column widths and frozen rows before its first row.
    for index, column in enumerate(sheet.columns, start=1):
        width = max(10, min(40, 2 * len(column.label_zh) + 2), len(column.key) + 4 if sheet.key_row else 0)
        target.column_dimensions[get_column_letter(index)].width = width
    heading_rows = len(sheet.caption) + 1 + (1 if sheet.key_row else 0)  # caption, labels, keys
    target.freeze_panes = f"A{heading_rows + 1}"

    def styled(value: Any, **style: Any) -> WriteOnlyCell:
        cell = WriteOnlyCell(target, value=value)
        for name, setting in style.items():
            setattr(cell, name, setting)
        return cell

    for number, line in enumerate(sheet.caption):
        target.append([styled(_clean(line), font=Font(bold=number == 0, size=14 if number == 0 else 10))])
    header_font, header_alignment = Font(bold=True), Alignment(wrap_text=True, vertical="center")
    target.append([styled(c.label_zh, font=header_font, alignment=header_alignment) for c in sheet.columns])
    if sheet.key_row:
        key_font, key_fill = Font(color="808080", size=9), PatternFill("solid", fgColor="F2F2F2")
        target.append([styled(c.key, font=key_font, fill=key_fill) for c in sheet.columns])
    for row in sheet.rows:
        target.append([_cell(target, _clean(row.get(column.key)), column) for column in sheet.columns])


def _cell(target: WriteOnlyWorksheet, value: Any, column: Column) -> Any:
    """A plain value where no style applies (the sheet's one reused cell takes it), else its own cell."""
    if is_formula_like(value):
        cell = WriteOnlyCell(target, value=value)
        cell.data_type = "s"  # stored as text: a spreadsheet shows it, never evaluates it
        return cell
    if column.number_format and value is not None:
        cell = WriteOnlyCell(target, value=value)
        if cell.data_type == "n":
            cell.number_format = column.number_format
        return cell
    return value


# --- who exported what: every export file goes into the case-store audit -----------------------------------


def export_user(user: str | None) -> str:
    """The user recorded for an export: the one given, else the operating-system user running it."""
    return user.strip() if user and user.strip() else getpass.getuser()


def check_unmask(unmasked: bool, reason: str | None) -> str | None:
    """The reason to record; an unmasked export without one is refused."""
    if not unmasked:
        return None
    if not (reason and reason.strip()):
        raise FundflowError("导出明文证件号、账号须说明理由 / --unmasked needs --reason")
    return reason.strip()


def record_export(
    settings: Settings,
    user: str,
    what: str,
    files: Sequence[tuple[Path, str]],
    unmasked: bool,
    reason: str | None,
    target: str | None = None,
    detail: dict | None = None,
) -> None:
    """One audit record per file written (user, reason, SHA-256), all in one transaction.

    If the audit cannot be written the files are deleted: an export nobody can account for must not exist.
    """
    store = CaseStore.open(settings)
    try:
        with store.write() as conn:
            for path, sha256 in files:
                store.append_audit(
                    conn,
                    user,
                    "export",
                    target=target or what,
                    reason=reason,
                    file_sha256=sha256,
                    detail={"what": what, "path": str(Path(path).resolve()), "unmasked": unmasked, **(detail or {})},
                )
    except BaseException:
        for path, _sha256 in files:
            Path(path).unlink(missing_ok=True)
        raise
    finally:
        store.close()
