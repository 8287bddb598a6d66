"""What the whole-graph detectors (G8–G13) share: the stepped windows they measure in, and reading their SQL.

They look at every payment of the run window, not only at accounts the sweep flagged. Each rule steps a window
of `span_days` across the run, half a span at a time, in one query (payments join a small table of windows),
so the work grows linearly with the run's days. Their SQL is plain (joins, GROUP BY, window functions) so other
engines can run it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import duckdb

from detectors import sweep
from detectors.base import Rule, Window
from detectors.neighbourhood import fill_table

STAGE = "whole"
"""Runner stage of the whole-graph rules: after the sweep and the neighbourhood graph rules."""
WINDOWS_TABLE = "graph_windows"
"""Temp table (k, w_start, w_end) of one rule's stepped windows, read by its SQL."""

log = logging.getLogger("fundflow.detection")


def stepped_windows(window: Window, span_days: int) -> list[tuple[int, datetime, datetime]]:
    """Windows of `span_days` days across the run window, stepping back from its end by half a span (at least a
    day); the earliest is moved to start with the run. A run shorter than the span is one window."""
    span = timedelta(days=max(1, min(span_days, window.days)))
    step = timedelta(days=max(span.days // 2, 1))
    windows: list[tuple[int, datetime, datetime]] = []
    end = window.end
    while True:
        start = end - span
        if start <= window.start:
            windows.append((len(windows), window.start, window.start + span))
            return windows
        windows.append((len(windows), start, end))
        end -= step


def fill_windows(con: duckdb.DuckDBPyConnection, window: Window, span_days: int) -> int:
    """(Re)create the windows table for one rule; returns how many windows it holds."""
    windows = stepped_windows(window, span_days)
    log.info("whole-graph rule: %d windows of %d days over %d days", len(windows), span_days, window.days)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {WINDOWS_TABLE} (k INTEGER, w_start TIMESTAMP, w_end TIMESTAMP)")
    fill_table(
        con,
        WINDOWS_TABLE,
        {"k": [w[0] for w in windows], "w_start": [w[1] for w in windows], "w_end": [w[2] for w in windows]},
    )
    return len(windows)


def run_sql(
    con: duckdb.DuckDBPyConnection, module_file: str, rule: Rule, window: Window, **literals: Any
) -> list[dict[str, Any]]:
    """The detector's SQL file with `{name}` literals filled (whole numbers only: interval lengths) and the
    rule's parameters bound by name; rows as dicts."""
    sql = sweep.read_sql(module_file)
    for name, value in literals.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"literal {name} must be a whole number, got {value!r}")
        sql = sql.replace("{" + name + "}", str(value))
    return sweep.query(con, sql, rule, window)


def seconds(days: float) -> int:
    """Interval literals are written in whole seconds."""
    return int(round(days * 86_400))


def one_count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
