"""Stage one file as a relation of all-text columns in DuckDB, whatever its format.

Every reader ends here so that validation and loading are one SQL path for CSV, XLSX and XML.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.errors import BadFileError
from pipelines.ingest.readers import csv, xlsx, xml
from pipelines.ingest.staged import FRAME_VIEW, Staged
from pipelines.settings import Settings

SUFFIX_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".xml": "xml"}


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


def stage_file(
    con: duckdb.DuckDBPyConnection, settings: Settings, path: Path, sheet: str | None = None, progress=None
) -> Staged:
    """`progress`: None, or a function taking one line to show the operator."""
    if path.stat().st_size == 0:
        raise BadFileError(path, "文件为空 / empty file")
    kind = file_format(path)
    if kind == "csv":
        return csv.stage_csv(con, settings, path, progress)
    if kind == "xlsx":
        return xlsx.stage_xlsx(con, path, sheet)
    return xml.stage_xml(con, path)


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Remove every temp object one file's ingest made, whatever state it stopped in."""
    for table in (
        "ingest_raw",
        "ingest_checked",
        "ingest_dups",
        "ingest_existing",
        "ingest_rejects",
        "ingest_reject_scans",
        "ingest_reject_shift",
        "ingest_id_values",
        "ingest_ids",
        "ingest_accounts",
        "ingest_bad_cards",
        "ingest_raw_rows",
    ):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    try:
        con.unregister(FRAME_VIEW)
    except duckdb.Error:
        pass
