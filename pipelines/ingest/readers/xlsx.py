"""XLSX workbooks: the first sheet (or a named one), header in row 1, every cell read as text."""

from __future__ import annotations

import zipfile
import zlib
from datetime import date, datetime, time
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
from openpyxl.utils.exceptions import InvalidFileException

from pipelines.errors import BadFileError
from pipelines.ingest.headers import map_headers
from pipelines.ingest.staged import Staged, register_frame

UNREADABLE = "无法读取 Excel 工作簿（文件损坏或不是 xlsx） / cannot read the workbook (damaged or not xlsx)"


def cell_text(value) -> str | None:
    """Excel stores times and numbers typed; the contract reads text, so render them as a bank would."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return str(value)


def read_rows(path: Path, sheet: str | None) -> tuple[list[str], list[tuple[int, list[str | None]]]]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet and sheet not in workbook.sheetnames:
                raise BadFileError(
                    path, f"工作表不存在 / no sheet '{sheet}' (sheets: {', '.join(workbook.sheetnames)})"
                )
            worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
            rows = worksheet.iter_rows(values_only=True)
            header = [cell_text(cell) or "" for cell in next(rows, ())]
            records = []
            for row_no, row in enumerate(rows, start=2):
                values = [cell_text(cell) for cell in row]
                if any(value not in (None, "") for value in values):
                    records.append((row_no, values))
        finally:
            workbook.close()
    except BadFileError:
        raise
    except (
        zipfile.BadZipFile,
        zlib.error,
        InvalidFileException,
        KeyError,
        EOFError,
        OSError,
        ValueError,
        IndexError,
    ) as exc:
        raise BadFileError(path, f"{UNREADABLE}: {type(exc).__name__}") from None
    return header, records


def stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None = None) -> Staged:
    header, records = read_rows(path, sheet)
    mapped = map_headers(path, header)
    width = len(header)
    data = {
        f"c{position}": [values[position] if position < len(values) else None for _, values in records]
        for position in range(width)
    }
    data["row_no"] = [row_no for row_no, _ in records]
    frame = pl.DataFrame(data, schema={**{f"c{position}": pl.Utf8 for position in range(width)}, "row_no": pl.Int64})
    # Cells beyond the header's width have nowhere to go: say so rather than drop them silently.
    overflow = [row_no for row_no, values in records if any(v not in (None, "") for v in values[width:])]
    notes = [f"忽略未知列 / ignored unknown columns: {', '.join(mapped.ignored)}"] if mapped.ignored else []
    if overflow:
        notes.append(f"表头之外的单元格被忽略 / cells right of the header ignored in rows {overflow[:10]}")
    return register_frame(con, frame, mapped.headers, mapped.positions, "xlsx", notes=notes)
