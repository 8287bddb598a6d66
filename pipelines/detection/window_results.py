"""Alerts of the rules that read only their window's payments, kept per stepped window between detect runs.

Such a rule (its detector says `WINDOW_ONLY = True`) gives for one window exactly what it gave last time unless a
payment of that window was added or removed (prepare records the days in `changed_days`), or the rule or its
detector's code changed (the rule hash). A night whose new lines fall on a few days evaluates only the windows
holding those days. After each run the table holds that run's windows, so what it keeps never outgrows one run.
A whole-graph rule whose SQL rows for one of its stepped windows read only that window's payments (its detector
says `ROWS_PER_WINDOW = True`: G11, G13) keeps those rows the same way, and merges kept and new rows itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime
from pathlib import Path
from types import ModuleType

import duckdb

from detectors import base, sweep, whole_graph
from detectors.base import Alert, Rule, Window
from detectors.neighbourhood import fill_table

_SHARED_CODE = (Path(base.__file__), Path(sweep.__file__), Path(whole_graph.__file__))
"""Code every kept detector runs besides its own: the alert record, the sweep helpers, the stepped windows."""


def rule_hash(rule: Rule, module: ModuleType, engine: str) -> str:
    """What a kept window result depends on besides the window's payments."""
    digest = hashlib.sha256()
    own = Path(module.__file__ or "")
    for path in (*_SHARED_CODE, own, own.with_suffix(".sql"), own.with_suffix(".spark.sql")):
        digest.update(path.read_bytes() if path.exists() else b"-")
    for part in (rule.rule_id, rule.version, rule.typology, rule.detector, repr(rule.params), engine):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()[:24]


def _to_json(alerts: list[Alert]) -> str:
    rows = []
    for alert in alerts:
        row = dataclasses.asdict(alert)
        row["window_start"] = alert.window_start.isoformat()
        row["window_end"] = alert.window_end.isoformat()
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, default=str)


def _from_json(text: str) -> list[Alert]:
    alerts = []
    for row in json.loads(text):
        row["window_start"] = datetime.fromisoformat(row["window_start"])
        row["window_end"] = datetime.fromisoformat(row["window_end"])
        row["evidence"] = tuple(row["evidence"])
        row["accounts"] = None if row["accounts"] is None else tuple(row["accounts"])
        alerts.append(Alert(**row))
    return alerts


def _rows_to_json(rows: list[dict]) -> str:
    """SQL rows as JSON, their timestamps marked so that they come back as datetimes."""
    columns = list(rows[0]) if rows else []
    times = [name for name in columns if any(isinstance(row[name], datetime) for row in rows)]
    values = [[row[name].isoformat() if name in times and row[name] is not None else row[name] for name in columns]
              for row in rows]  # fmt: skip
    return json.dumps({"columns": columns, "times": times, "rows": values}, ensure_ascii=False)


def _rows_from_json(text: str) -> list[dict]:
    kept = json.loads(text)
    rows = [dict(zip(kept["columns"], values, strict=True)) for values in kept["rows"]]
    for row in rows:
        for name in kept["times"]:
            if row[name] is not None:
                row[name] = datetime.fromisoformat(row[name])
    return rows


class WindowResults:
    """The kept results still valid at the start of a run, and the results of this run to keep."""

    def __init__(self, con: duckdb.DuckDBPyConnection, engine: str):
        self.engine = engine
        rows = con.execute("""
            SELECT rule_id, rule_hash, window_start, window_end, alerts FROM window_results w
            WHERE NOT EXISTS (SELECT 1 FROM changed_days d
                              WHERE d.day >= CAST(w.window_start AS DATE) AND d.day < CAST(w.window_end AS DATE))
        """).fetchall()
        self._valid = {(rule_id, digest, start, end): text for rule_id, digest, start, end, text in rows}
        self._this_run: dict[tuple, str] = {}
        self._hashes: dict[str, str] = {}  # per rule: its files are read once a run, not once per window
        self.reused: dict[str, int] = {}

    def _key(self, rule: Rule, module: ModuleType, kind: str, start: datetime, end: datetime) -> tuple | None:
        """The kept result's key, or None for a rule whose results of this `kind` (the detector's flag,
        WINDOW_ONLY or ROWS_PER_WINDOW) are not kept."""
        if not getattr(module, kind, False):
            return None
        if rule.rule_id not in self._hashes:
            self._hashes[rule.rule_id] = rule_hash(rule, module, self.engine)
        return (rule.rule_id, self._hashes[rule.rule_id], start, end)

    def _kept(self, rule: Rule, key: tuple | None) -> str | None:
        """The kept text under `key`, carried into this run's results, or None."""
        if key is None or key not in self._valid:
            return None
        text = self._this_run[key] = self._valid[key]
        self.reused[rule.rule_id] = self.reused.get(rule.rule_id, 0) + 1
        return text

    def found(self, rule: Rule, module: ModuleType, window: Window) -> list[Alert] | None:
        """The rule's alerts over `window` as kept, or None when they must be evaluated."""
        text = self._kept(rule, self._key(rule, module, "WINDOW_ONLY", window.start, window.end))
        return None if text is None else _from_json(text)

    def keep(self, rule: Rule, module: ModuleType, window: Window, alerts: list[Alert]) -> None:
        key = self._key(rule, module, "WINDOW_ONLY", window.start, window.end)
        if key is not None:
            self._this_run[key] = _to_json(alerts)

    def found_rows(self, rule: Rule, module: ModuleType, start: datetime, end: datetime) -> list[dict] | None:
        """A whole-graph rule's SQL rows for its stepped window [start, end) as kept, or None."""
        text = self._kept(rule, self._key(rule, module, "ROWS_PER_WINDOW", start, end))
        return None if text is None else _rows_from_json(text)

    def keep_rows(self, rule: Rule, module: ModuleType, start: datetime, end: datetime, rows: list[dict]) -> None:
        key = self._key(rule, module, "ROWS_PER_WINDOW", start, end)
        if key is not None:
            self._this_run[key] = _rows_to_json(rows)

    def write(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace the kept results with this run's (inside the caller's transaction, with the run's alerts)."""
        con.execute("DELETE FROM window_results; DELETE FROM changed_days")
        if self._this_run:
            keys = list(self._this_run)
            fill_table(
                con,
                "window_results",
                {
                    "rule_id": [key[0] for key in keys],
                    "rule_hash": [key[1] for key in keys],
                    "window_start": [key[2] for key in keys],
                    "window_end": [key[3] for key in keys],
                    "alerts": list(self._this_run.values()),
                    "kept_at": [datetime.now()] * len(keys),
                },
            )
