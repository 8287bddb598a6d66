"""What a reader hands to validation: one file's records as a DuckDB relation of all-text columns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb
import polars as pl

FRAME_VIEW = "ingest_frame"
# Removed anywhere in a cell by every reader: invisible, so a copy of a row with one would be a second key.
ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def visible(text: str) -> str:
    # A search is a fast scan; str.translate rebuilds every non-ASCII string even when nothing changes.
    return text if text.isascii() or not ZERO_WIDTH.search(text) else ZERO_WIDTH.sub("", text)


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
    records: int | None = None
    problem_sql: bool = False
    """The relation has `problem_field` / `problem_raw`: a number-typed identifier cell the reader found."""
    """Records in the file as counted by the reader itself, independently of the relation (None: its row count)."""


def register_frame(
    con: duckdb.DuckDBPyConnection,
    frame: pl.DataFrame,
    headers: list[str],
    positions: dict[str, int],
    fmt: str,
    **extra,
) -> Staged:
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
