"""Derived warehouse tables the detectors read: payments (two report lines of one payment → one row),
parties (holder facts per account), actors. Brought up to date from the files not yet prepared, or rebuilt.

A file is pending from the commit of its ingest until the transaction here that brings the derived tables up to
date from its rows (and the rows they replaced) records it in `prepared_files`: a crash in between leaves it
pending, and the next call completes it. A rebuild gives the same rows as any sequence of updates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from pipelines.crashpoints import pause_point
from pipelines.settings import Settings
from pipelines.warehouse.db import scalar, transaction

PROGRESS_LINES = 100_000
"""Progress goes to the log (the terminal) only when this many lines or more are looked at."""
FULL_REBUILD_SHARE = 0.25
"""When the pending lines are more than this share of txn, a rebuild is cheaper than an update."""

log = logging.getLogger("fundflow.prepare")

# The lines of pending files as stored now, and the earlier versions they replaced (what those paired with
# and whose accounts they described must be looked at again too).
TOUCHED_LINES_SQL = """
CREATE OR REPLACE TEMP TABLE touched_lines AS
WITH pending AS (SELECT file_id FROM files WHERE file_id NOT IN (SELECT file_id FROM prepared_files))
SELECT txn_id, account_no, direction, match_no, counterparty_account_no, amount_cny FROM txn
WHERE file_id IN (SELECT file_id FROM pending)
UNION ALL
SELECT txn_id, account_no, direction, match_no, counterparty_account_no, amount_cny FROM txn_versions
WHERE replaced_by_file IN (SELECT file_id FROM pending)
"""


@dataclass
class PrepareResult:
    mode: str
    """nothing | update | rebuild"""
    pending_files: int = 0
    touched_lines: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def pending_files(con: duckdb.DuckDBPyConnection) -> int:
    """Files whose ingest committed but whose rows the derived tables do not yet reflect. The ingest's own
    transaction makes a file pending (its `files` row); only the end of prepare's transaction clears it."""
    return int(scalar(con, "SELECT count(*) FROM files WHERE file_id NOT IN (SELECT file_id FROM prepared_files)"))


def prepare_warehouse(con: duckdb.DuckDBPyConnection, settings: Settings, mode: str = "auto") -> PrepareResult:
    """Bring payments, parties and actors up to date in one transaction.

    mode: `auto` updates from the pending files (rebuilding when they are a large share of txn or nothing was
    ever prepared), `update` always updates, `rebuild` rebuilds everything from txn (`fundflow rebuild`)."""
    from pipelines.warehouse.actors import resolve_actors, update_actors
    from pipelines.warehouse.parties import refresh_parties, update_parties
    from pipelines.warehouse.reconcile import rebuild_payments, update_payments

    if mode not in ("auto", "update", "rebuild"):
        raise ValueError(f"unknown prepare mode {mode!r}")
    result = PrepareResult(mode="nothing", pending_files=pending_files(con))
    if mode != "rebuild" and not result.pending_files:
        return result
    started = time.monotonic()
    now = datetime.now(settings.tz).replace(tzinfo=None, microsecond=0)
    with transaction(con):
        con.execute(TOUCHED_LINES_SQL)
        result.touched_lines = int(scalar(con, "SELECT count(*) FROM touched_lines"))
        stored = scalar(con, "SELECT count(*) FROM txn")
        if mode == "auto":
            never_prepared = not con.execute("SELECT 1 FROM prepared_files LIMIT 1").fetchone()
            mode = "rebuild" if never_prepared or result.touched_lines > FULL_REBUILD_SHARE * stored else "update"
        result.mode = mode
        looked_at = stored if mode == "rebuild" else result.touched_lines
        say = log.info if looked_at >= PROGRESS_LINES else log.debug
        say(
            f"派生表 / derived tables: {mode} ({result.pending_files} 个待处理文件 pending files, "
            f"{result.touched_lines:,} 行 lines)"
        )
        rebuild = mode == "rebuild"
        steps = {
            "payments": (lambda: rebuild_payments(con, settings))
            if rebuild
            else (lambda: update_payments(con, settings)),
            "parties": (lambda: refresh_parties(con)) if rebuild else (lambda: update_parties(con)),
            "actors": (lambda: resolve_actors(con)) if rebuild else (lambda: update_actors(con)),
        }
        for name, step in steps.items():  # in this order: parties read txn, actors read parties
            step_started = time.monotonic()
            step()
            result.seconds[name] = round(time.monotonic() - step_started, 2)
            say(f"  {name}: {result.seconds[name]:.1f} s")
            if name == "payments":
                pause_point("prepare")  # crash tests: killed here, the whole transaction is rolled back
        if rebuild:
            # every payment was made again: stored account features and kept window results are made again in full
            con.execute(
                "DELETE FROM feature_window; DELETE FROM changed_accounts; DELETE FROM window_results; "
                "DELETE FROM changed_days"
            )
        # Cleared only now, after payments, parties and actors are all current, and in the same transaction.
        con.execute(
            """INSERT INTO prepared_files
            SELECT file_id, $now FROM files WHERE file_id NOT IN (SELECT file_id FROM prepared_files)""",
            {"now": now},
        )
        con.execute("DROP TABLE IF EXISTS touched_lines")
    result.seconds["total"] = round(time.monotonic() - started, 2)
    return result
