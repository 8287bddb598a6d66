"""What the whole-graph detectors (G8–G13) share: the stepped windows they measure in, and reading their SQL.

They look at every payment of the run window, not only at accounts the sweep flagged. Each rule steps a window
of `span_days` across the run, half a span at a time, in one query (payments join a small table of windows),
so the work grows linearly with the run's days. The payments of every window are one temp table (`graph_edges`),
built once per span with each account's figures per window (`graph_account_windows`) while the runner's whole-graph stage holds `shared_edges` (G8, G9 and G13 step 14 days, G11
and G12 20). Their SQL is plain (joins, GROUP BY, window functions) so other engines can run it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from types import ModuleType
from typing import Any

import duckdb

from detectors import sweep
from detectors.base import Rule, Window, grid_day_before
from detectors.neighbourhood import fill_table

STAGE = "whole"
"""Runner stage of the whole-graph rules: after the sweep and the neighbourhood graph rules."""
WINDOWS_TABLE = "graph_windows"
"""Temp table (k, w_start, w_end) of one rule's stepped windows, read by its SQL."""
WINDOW_DAYS_TABLE = "graph_window_days"
"""Temp table (k, day, w_start, w_end): each window once per calendar day it touches, to find a payment's windows
by its day (an equality join) instead of comparing every payment with every window."""
EDGES_TABLE = "graph_edges"
"""Temp table (k, payment_id, txn_time, amount, payer, payee): every payment between two different accounts of
the run window, once per stepped window holding it; what G8, G9 and G11–G13 read."""

TODO_TABLE = "graph_windows_todo"
"""Temp table (k) of the stepped windows a rule with ROWS_PER_WINDOW evaluates in this run (`rows_per_window`);
the others' rows were kept from the last run."""

EDGES_SQL = f"""
CREATE OR REPLACE TEMP TABLE {EDGES_TABLE} AS
SELECT w.k, p.payment_id, p.txn_time, CAST(p.amount_cny AS DOUBLE) AS amount,
       p.payer_account AS payer, p.payee_account AS payee
FROM payments p
JOIN {WINDOW_DAYS_TABLE} w ON w.day = CAST(p.txn_time AS DATE) AND p.txn_time >= w.w_start AND p.txn_time < w.w_end
WHERE p.txn_time >= $start AND p.txn_time < $end
  AND p.payer_account IS NOT NULL AND p.payee_account IS NOT NULL AND p.payer_account <> p.payee_account
"""

ACCOUNT_WINDOWS_TABLE = "graph_account_windows"
"""Temp table (k, account, payments, senders, receivers, amount_in, amount_out): each account's payments in and
out of one window, its distinct senders and receivers and the amounts; how busy an account is and how wide its
fans are, for G8, G9 and G11–G13."""

ACCOUNT_WINDOWS_SQL = f"""
CREATE OR REPLACE TEMP TABLE {ACCOUNT_WINDOWS_TABLE} AS
WITH pairs AS (
    -- distinct (payer, payee) pairs first: counting pairs is much cheaper than count(DISTINCT) per account
    SELECT k, payer, payee, count(*) AS payments, sum(amount) AS amount FROM {EDGES_TABLE} GROUP BY k, payer, payee
),
paid_in AS (
    SELECT k, payee AS account, count(*) AS senders, sum(payments) AS payments, sum(amount) AS amount
    FROM pairs GROUP BY k, payee
),
paid_out AS (
    SELECT k, payer AS account, count(*) AS receivers, sum(payments) AS payments, sum(amount) AS amount
    FROM pairs GROUP BY k, payer
)
SELECT coalesce(i.k, o.k) AS k, coalesce(i.account, o.account) AS account,
       coalesce(i.payments, 0) + coalesce(o.payments, 0) AS payments,
       coalesce(i.senders, 0) AS senders, coalesce(o.receivers, 0) AS receivers,
       i.amount AS amount_in, o.amount AS amount_out
FROM paid_in i
FULL JOIN paid_out o ON o.k = i.k AND o.account = i.account
"""

_SHARING: weakref.WeakKeyDictionary[Any, tuple[datetime, datetime, int] | None] = weakref.WeakKeyDictionary()
"""Connections inside `shared_edges` → the (run start, run end, span) their edge table was built for."""
_KEPT: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
"""Connections inside `shared_edges` → the run's kept window results (pipelines.detection.window_results), if any."""

log = logging.getLogger("fundflow.detection")


def stepped_windows(window: Window, span_days: int) -> list[tuple[int, datetime, datetime]]:
    """Windows of `span_days` days across the run window: the newest ends with the run, the earlier ones step
    back by half a span (at least a day) on a fixed calendar grid (base.grid_day_before), and the earliest is
    moved to start with the run. A run shorter than the span is one window."""
    span = timedelta(days=max(1, min(span_days, window.days)))
    step_days = max(span.days // 2, 1)
    windows: list[tuple[int, datetime, datetime]] = []
    end = window.end
    while True:
        start = end - span
        if start <= window.start:
            windows.append((len(windows), window.start, window.start + span))
            return windows
        windows.append((len(windows), start, end))
        end = datetime.combine(grid_day_before(end.date(), step_days), time.min)


def fill_windows(con: duckdb.DuckDBPyConnection, window: Window, span_days: int) -> int:
    """(Re)create the windows table for one rule, the edge table of its windows and its accounts' figures per
    window; returns how many windows
    there are. Inside `shared_edges`, tables already built for the same run window and span are kept."""
    windows = stepped_windows(window, span_days)
    key = (window.start, window.end, span_days)
    if con in _SHARING and _SHARING[con] == key:
        return len(windows)
    log.info("whole-graph rule: %d windows of %d days over %d days", len(windows), span_days, window.days)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {WINDOWS_TABLE} (k INTEGER, w_start TIMESTAMP, w_end TIMESTAMP)")
    fill_table(
        con,
        WINDOWS_TABLE,
        {"k": [w[0] for w in windows], "w_start": [w[1] for w in windows], "w_end": [w[2] for w in windows]},
    )
    days = [(k, day, start, end) for k, start, end in windows for day in _days_touched(start, end)]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {WINDOW_DAYS_TABLE} (k INTEGER, day DATE, w_start TIMESTAMP, w_end TIMESTAMP)"
    )
    fill_table(
        con,
        WINDOW_DAYS_TABLE,
        {name: [row[i] for row in days] for i, name in enumerate(("k", "day", "w_start", "w_end"))},
    )
    con.execute(EDGES_SQL, {"start": window.start, "end": window.end})
    con.execute(ACCOUNT_WINDOWS_SQL)
    if con in _SHARING:
        _SHARING[con] = key
    return len(windows)


def _days_touched(start: datetime, end: datetime) -> list[date]:
    """The calendar days of [start, end)."""
    days, day = [], start.date()
    while datetime.combine(day, datetime.min.time()) < end:
        days.append(day)
        day += timedelta(days=1)
    return days


@contextmanager
def shared_edges(con: duckdb.DuckDBPyConnection, kept: Any = None) -> Iterator[None]:
    """While held, rules stepping the same span over the same run window read one edge table, built by the first;
    afterwards the tables are dropped. Outside it every rule builds its own (a test's data may change between).
    `kept`, the run's window results, answers `rows_per_window` for the windows whose payments did not change."""
    _SHARING[con] = None
    if kept is not None:
        _KEPT[con] = kept
    try:
        yield
    finally:
        del _SHARING[con]
        _KEPT.pop(con, None)
        for table in (ACCOUNT_WINDOWS_TABLE, EDGES_TABLE, WINDOW_DAYS_TABLE, WINDOWS_TABLE, TODO_TABLE):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def rows_per_window(
    con: duckdb.DuckDBPyConnection, module: ModuleType, rule: Rule, window: Window, **literals: Any
) -> list[dict[str, Any]]:
    """The rows of a ROWS_PER_WINDOW detector's SQL over every stepped window of its span: for a window whose
    payments did not change since the last run its kept rows, for the others the SQL, which reads only the
    windows in `graph_windows_todo`. Each row's `k` is its window's in this run; the caller orders the rows."""
    span_days = rule.params.span_days
    fill_windows(con, window, span_days)
    kept = _KEPT.get(con)
    rows: list[dict[str, Any]] = []
    todo = []
    for k, start, end in stepped_windows(window, span_days):
        found = kept.found_rows(rule, module, start, end) if kept is not None else None
        if found is None:
            todo.append((k, start, end))
        else:
            rows += [dict(row, k=k) for row in found]
    if todo:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TODO_TABLE} (k INTEGER)")
        fill_table(con, TODO_TABLE, {"k": [k for k, _, _ in todo]})
        fresh = run_sql(con, module.__file__ or "", rule, window, **literals)
        rows += fresh
        if kept is not None:
            by_window: dict[int, list[dict[str, Any]]] = {k: [] for k, _, _ in todo}
            for row in fresh:
                by_window[row["k"]].append(row)
            for k, start, end in todo:
                kept.keep_rows(rule, module, start, end, by_window[k])
    return rows


def run_sql(
    con: duckdb.DuckDBPyConnection, module_file: str, rule: Rule, window: Window, **literals: Any
) -> list[dict[str, Any]]:
    """The detector's SQL file with `{name}` literals filled (whole numbers only: interval lengths) and the
    rule's parameters bound by name; rows as dicts."""
    return sweep.query(con, sweep.read_sql(module_file).filled(**literals), rule, window)


def seconds(days: float) -> int:
    """Interval literals are written in whole seconds."""
    return int(round(days * 86_400))


def one_count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
