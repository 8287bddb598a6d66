"""Stage one file as a relation of all-text columns in DuckDB, whatever its format.

Every reader ends here so that validation and loading are one SQL path for CSV, XLSX and XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from pipelines.errors import BadFileError
from pipelines.settings import Settings

SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xml": "xml"}
FRAME_VIEW = "ingest_frame"


@dataclass
class RejectedLine:
    """A CSV line that could not be split into the header's columns; it goes to quarantine whole."""

    row_no: int
    message: str
    raw: str


@dataclass
class Staged:
    relation: str
    """Temp table or view with one row per record."""
    row_no_sql: str
    """SQL expression over `relation` (aliased `src`) giving the record's row number in the file (header = row 1)."""
    columns: dict[str, int]
    """Canonical column → its index in `raw_columns`."""
    raw_columns: list[tuple[str, str]]
    """(header as written, quoted column) for every source column: the raw row kept with quarantine."""
    format: str
    encoding: str | None = None
    report_kind: str | None = None
    """Report kind the file itself states (XML root), if any."""
    rejected: list[RejectedLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def file_format(path: Path) -> str:
    """By suffix; a file with another suffix is judged by its first bytes."""
    known = SUFFIX_FORMATS.get(path.suffix.lower())
    if known:
        return known
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
        return "xml"
    return "csv"


def stage_file(con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sheet: str | None = None,
               progress=None) -> Staged:
    """`progress`: None, or a function taking one line to show the operator."""
    # Imported here: the readers import this module's Staged and RejectedLine.
    from pipelines.ingest import csvfile, xlsxfile, xmlfile

    if path.stat().st_size == 0:
        raise BadFileError(path, "文件为空 / empty file")
    kind = file_format(path)
    if kind == "csv":
        return csvfile.stage_csv(con, settings, path, progress)
    if kind == "xlsx":
        return xlsxfile.stage_xlsx(con, path, sheet)
    return xmlfile.stage_xml(con, path)


def register_frame(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, headers: list[str],
                   positions: dict[str, int], fmt: str, **extra) -> Staged:
    """Stage a polars frame whose columns are c0..cN (all text) plus row_no."""
    con.register(FRAME_VIEW, frame)
    return Staged(
        relation=FRAME_VIEW,
        row_no_sql="src.row_no",
        columns=dict(positions),
        raw_columns=[(header or f"c{position}", f'"c{position}"') for position, header in enumerate(headers)],
        format=fmt,
        **extra,
    )


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Remove every temp object one file's ingest made, whatever state it stopped in."""
    for table in ("ingest_raw", "ingest_checked", "ingest_dups", "ingest_existing", "ingest_rejects",
                  "ingest_reject_scans", "ingest_reject_shift", "ingest_id_values", "ingest_ids", "ingest_accounts",
                  "ingest_bad_cards", "ingest_raw_rows"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    try:
        con.unregister(FRAME_VIEW)
    except duckdb.Error:
        pass
