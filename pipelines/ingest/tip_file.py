"""The hotline's tip spreadsheet (群众举报登记表): XLSX or CSV (UTF-8 or GB18030), columns by Chinese header
with English aliases (`vocabulary.TIP_COLUMNS`). Reading only: each row comes back as text cells by column;
checking and registering the rows is `pipelines.cases.tips`.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils.exceptions import InvalidFileException

from pipelines.errors import BadFileError
from pipelines.ingest.readers.csv import NOT_TEXT, decide_encoding
from pipelines.ingest.readers.xlsx import ENTITIES, MAX_COLUMNS, UNREADABLE, _check_size, cell_text
from pipelines.ingest.staged import visible
from pipelines.vocabulary import TIP_COLUMNS

REQUIRED_TIP_COLUMNS = ("received_at", "content")
TIP_SUFFIXES = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx"}


@dataclass
class TipSheet:
    path: Path
    format: str
    encoding: str | None
    rows: list[tuple[int, dict[str, str | None]]] = field(default_factory=list)
    """(row number in the file, header = 1; canonical column → cell text)"""
    ignored: list[str] = field(default_factory=list)
    """Headers that name no tip column."""


def _key(header: str) -> str:
    return header.strip().lower().replace(" ", "_")


ALIASES = {
    _key(alias): name for name, (label_zh, english) in TIP_COLUMNS.items() for alias in (label_zh, name, *english)
}


def _map_header(path: Path, header: list[str]) -> tuple[dict[str, int], list[str]]:
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for position, cell in enumerate(header):
        text = (cell or "").strip().lstrip("\ufeff")
        name = ALIASES.get(_key(text)) if text else None
        if name is None:
            if text:
                ignored.append(text)
            continue
        if name in positions:
            raise BadFileError(path, f"表头重复 / duplicate column: '{header[positions[name]]}' and '{text}'")
        positions[name] = position
    missing = [TIP_COLUMNS[name][0] for name in REQUIRED_TIP_COLUMNS if name not in positions]
    if missing:
        raise BadFileError(path, f"缺少必需列 / missing required column(s): {'、'.join(missing)}")
    return positions, ignored


def _csv_rows(path: Path) -> tuple[str, list[str], list[tuple[int, list[str | None]]]]:
    """A tip sheet is small (a hotline's month): decode it whole, in the encoding the bank reader decides."""
    encoding = decide_encoding(path)
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError:
        raise BadFileError(path, NOT_TEXT) from None
    if "\x00" in text:
        raise BadFileError(path, NOT_TEXT)
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise BadFileError(path, "文件为空 / empty file")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";", "|"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, [])
    rows = []
    # record numbers as a spreadsheet shows them (header = 1), even when a quoted cell spans lines
    for row_no, values in enumerate(reader, start=2):
        if any(value.strip() for value in values):
            rows.append((row_no, [visible(value) if value != "" else None for value in values]))
    return encoding, header, rows


def _xlsx_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str | None]]]]:
    """The first sheet as text; numbers typed as numbers (phones, accounts) come back as their digits."""
    _check_size(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            worksheet = workbook.worksheets[0]
            worksheet.reset_dimensions()  # read-only mode trusts a <dimension> tag that tools write wrong
            rows = worksheet.iter_rows(values_only=True)
            header = [cell_text(cell) or "" for cell in next(rows, ())[:MAX_COLUMNS]]
            records = []
            for row_no, row in enumerate(rows, start=2):
                values = [
                    visible(text) if (text := cell_text(cell)) is not None else None for cell in row[:MAX_COLUMNS]
                ]
                if any(value not in (None, "") for value in values):
                    records.append((row_no, values))
        finally:
            workbook.close()
    except BadFileError:
        raise
    except DefusedXmlException:
        raise BadFileError(path, ENTITIES) from None
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
    ) as exc:
        raise BadFileError(path, f"{UNREADABLE}: {type(exc).__name__}") from None
    return header, records


def _cell(values: list[str | None], at: int) -> str | None:
    value = values[at] if at < len(values) else None
    return value.strip() or None if value else None


def read_tip_file(path: Path) -> TipSheet:
    """Every non-blank row of the file as text by tip column; a whole-file problem raises BadFileError."""
    path = Path(path)
    fmt = TIP_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise BadFileError(path, f"不支持的文件类型 / unsupported file type '{path.suffix}' (xlsx or csv)")
    if not path.is_file():
        raise BadFileError(path, "文件不存在 / no such file")
    if fmt == "csv":
        encoding, header, records = _csv_rows(path)
    else:
        encoding = None
        header, records = _xlsx_rows(path)
    positions, ignored = _map_header(path, header)
    sheet = TipSheet(path, fmt, encoding, ignored=ignored)
    for row_no, values in records:
        cells = {name: _cell(values, at) for name, at in positions.items()}
        sheet.rows.append((row_no, cells))
    return sheet
