"""XLSX workbooks: the first sheet (or a named one), header in row 1, every cell read as text.

The rows with content are also counted straight from the sheet's XML, independently of openpyxl's reading
(which once trusted a wrong `<dimension>` tag); a workbook whose two counts disagree is refused whole.
"""

from __future__ import annotations

import zipfile
import zlib
from datetime import date, datetime, time
from pathlib import Path
from xml.etree.ElementTree import ParseError

import duckdb
import openpyxl
import polars as pl
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from openpyxl.utils.exceptions import InvalidFileException

from pipelines.errors import BadFileError
from pipelines.ingest.headers import HeaderMap, map_headers
from pipelines.ingest.staged import Staged, register_frame, visible

MAX_COLUMNS = 256
MAX_CELL_CHARS = 1 << 20
MAX_UNPACKED_BYTES = 512 << 20
IDENTIFIER_COLUMNS = frozenset(
    {
        "account_no",
        "counterparty_account_no",
        "customer_id_no",
        "counterparty_id_no",
        "legal_rep_id_no",
        "agent_id_no",
        "customer_phone",
    }
)
ENTITIES = "工作簿 XML 含有实体声明，已拒绝 / workbook XML declares entities: refused"
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


def _check_size(path: Path) -> None:
    """Refuse a workbook whose parts unpack to more than we will hold (a zip bomb is small on disk)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadFileError(path, f"{UNREADABLE}: {type(exc).__name__}") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise BadFileError(
            path,
            f"工作簿解压后 {unpacked / 1e6:,.0f} MB，超过上限 {MAX_UNPACKED_BYTES / 1e6:,.0f} MB / workbook unpacks to "
            f"{unpacked / 1e6:,.0f} MB, over the {MAX_UNPACKED_BYTES / 1e6:,.0f} MB limit",
        )


def _too_wide(path: Path, width: int) -> BadFileError:
    return BadFileError(
        path, f"列数超过 {MAX_COLUMNS} 列的上限 / more than {MAX_COLUMNS} columns (found at least {width})"
    )


def identifier_text(value) -> str | None:
    """An account, ID or phone number typed as a number: its digits if exact, else None (Excel keeps 15)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def count_content_rows(path: Path, part: str, shared_strings: list[str]) -> int:
    """Rows below row 1 holding at least one non-empty value, counted by streaming the sheet's XML part
    (`<row>` elements: a value `<v>`, an inline string `<is><t>`, a shared string that is not empty)."""
    counted = 0
    number = 0
    with zipfile.ZipFile(path) as archive, archive.open(part) as stream:
        for _, element in iterparse(stream, events=("end",)):
            if _local(element.tag) != "row":
                continue
            number = int(element.get("r") or number + 1)
            if number > 1 and any(_has_content(cell, shared_strings) for cell in element):
                counted += 1
            element.clear()
    return counted


def _has_content(cell, shared_strings: list[str]) -> bool:
    """As the reader judges a cell: empty once zero-width characters are removed means empty."""
    if _local(cell.tag) != "c":
        return False
    kind = cell.get("t")
    for child in cell:
        name = _local(child.tag)
        if name == "v" and child.text:
            if kind != "s":
                return bool(visible(child.text))
            index = int(child.text)
            return 0 <= index < len(shared_strings) and bool(visible(str(shared_strings[index] or "")))
        if name == "is" and visible("".join(t.text or "" for t in child.iter() if _local(t.tag) == "t")):
            return True
    return False


def read_rows(
    path: Path, sheet: str | None
) -> tuple[HeaderMap, list[tuple[int, list[str | None]]], list[tuple[int, str, str]]]:
    """(header, records as (row number, cells), numeric identifiers as (row number, field, raw value))."""
    _check_size(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            if sheet and sheet not in workbook.sheetnames:
                raise BadFileError(
                    path, f"工作表不存在 / no sheet '{sheet}' (sheets: {', '.join(workbook.sheetnames)})"
                )
            worksheet = workbook[sheet] if sheet else workbook.worksheets[0]
            # Read-only mode trusts the sheet's <dimension> tag, which banks' tools write wrong: read it all.
            worksheet.reset_dimensions()
            rows = worksheet.iter_rows(values_only=True)
            first = next(rows, ())
            if len(first) > MAX_COLUMNS and any(cell not in (None, "") for cell in first[MAX_COLUMNS:]):
                raise _too_wide(path, len(first))
            header = [cell_text(cell) or "" for cell in first[:MAX_COLUMNS]]
            while header and not header[-1]:
                header.pop()
            mapped = map_headers(path, header)
            identifier_positions = {
                position: name for name, position in mapped.positions.items() if name in IDENTIFIER_COLUMNS
            }
            records: list[tuple[int, list[str | None]]] = []
            numeric = []
            for row_no, row in enumerate(rows, start=2):
                if len(row) > MAX_COLUMNS and any(cell not in (None, "") for cell in row[MAX_COLUMNS:]):
                    raise _too_wide(path, len(row))
                values: list[str | None] = []
                for position, cell in enumerate(row[:MAX_COLUMNS]):
                    if position in identifier_positions and isinstance(cell, (int, float)):
                        exact = identifier_text(cell)
                        if exact is None:
                            numeric.append((row_no, identifier_positions[position], repr(cell)))
                        values.append(exact if exact is not None else repr(cell))
                        continue
                    text = cell_text(cell)
                    if text is not None and len(text) > MAX_CELL_CHARS:
                        raise BadFileError(
                            path,
                            f"第 {row_no} 行单元格超过 {MAX_CELL_CHARS:,} 字符 / a cell in row {row_no} is over "
                            f"{MAX_CELL_CHARS:,} characters",
                        )
                    values.append(visible(text) if text is not None else None)
                if any(value not in (None, "") for value in values):
                    records.append((row_no, values))
            counted = count_content_rows(path, worksheet._worksheet_path, worksheet._shared_strings)
            if counted != len(records):
                raise BadFileError(
                    path,
                    f"记录数不一致：工作表 XML 中 {counted:,} 行有内容，读取 {len(records):,} 行；整个文件未导入 / "
                    f"record count mismatch: the sheet's XML has {counted:,} rows with content, "
                    f"{len(records):,} were read; file refused whole",
                )
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
        TypeError,
        ParseError,
        DefusedXmlException,
    ) as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(exc, DefusedXmlException) or isinstance(cause, DefusedXmlException):
            raise BadFileError(path, ENTITIES) from None
        # openpyxl wraps a sheet's XML error in a bare ValueError: name the error underneath.
        named = type(cause if type(exc) is ValueError and cause is not None else exc).__name__
        raise BadFileError(path, f"{UNREADABLE}: {named}") from None
    return mapped, records, numeric


def stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, sheet: str | None = None) -> Staged:
    mapped, records, numeric = read_rows(path, sheet)
    width = len(mapped.headers)
    data: dict[str, list[object]] = {
        f"c{position}": [values[position] if position < len(values) else None for _, values in records]
        for position in range(width)
    }
    data["row_no"] = [row_no for row_no, _ in records]
    # The first number-typed identifier of a row, if any: validation quarantines that row.
    first_numeric: dict[int, tuple[str, str]] = {}
    for row_no, name, raw in numeric:
        first_numeric.setdefault(row_no, (name, raw))
    data["problem_field"] = [first_numeric.get(row_no, (None, None))[0] for row_no, _ in records]
    data["problem_raw"] = [first_numeric.get(row_no, (None, None))[1] for row_no, _ in records]
    schema = {**{f"c{position}": pl.Utf8 for position in range(width)}, "row_no": pl.Int64}
    frame = pl.DataFrame(data, schema={**schema, "problem_field": pl.Utf8, "problem_raw": pl.Utf8})
    # Cells beyond the header's width have nowhere to go: say so rather than drop them silently.
    overflow = [row_no for row_no, values in records if any(v not in (None, "") for v in values[width:])]
    notes = [f"忽略未知列 / ignored unknown columns: {', '.join(mapped.ignored)}"] if mapped.ignored else []
    if overflow:
        notes.append(f"表头之外的单元格被忽略 / cells right of the header ignored in rows {overflow[:10]}")
    return register_frame(
        con, frame, mapped.headers, mapped.positions, "xlsx", notes=notes, problem_sql=True, records=len(records)
    )
