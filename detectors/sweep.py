"""What every SQL sweep detector shares: reading its `.sql` file, binding parameters by name, measuring how far
past its thresholds a subject is, and building `Alert` records with a one-line reason.

A sweep query returns one row per offending account (zero rows: nothing to report), with the measured values
as columns and an `evidence` list of payment ids.
"""

from __future__ import annotations

import dataclasses
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from detectors.base import Alert, Rule, Window

MAX_EVIDENCE = 200
"""Payment ids kept per alert: the largest payments of the pattern (payments)."""

_NAMED_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)")
_SPARK_VARIANTS: dict[str, str] = {}
"""DuckDB SQL text → its Spark variant (`fan_in.spark.sql` beside `fan_in.sql`), for SQL sqlglot cannot port."""


def read_sql(module_file: str) -> str:
    """The SQL file beside a detector module: `fan_in.py` → `fan_in.sql` (and its Spark variant, if any)."""
    path = Path(module_file).with_suffix(".sql")
    sql = path.read_text(encoding="utf-8")
    variant = path.with_suffix(".spark.sql")
    if variant.exists():
        _SPARK_VARIANTS[sql] = variant.read_text(encoding="utf-8")
    return sql


def spark_variant(sql: str) -> str | None:
    """The Spark variant of a detector's SQL, or None when the DuckDB SQL is transpiled instead."""
    return _SPARK_VARIANTS.get(sql)


def query(con: duckdb.DuckDBPyConnection, sql: str, rule: Rule, window: Window) -> list[dict[str, Any]]:
    """Run a sweep query with `$start`, `$end`, `$max_evidence` and the rule's parameters bound by name.

    Only the names the SQL uses are bound (DuckDB refuses extra ones); a name the SQL uses that neither the
    window nor the parameters provide is a programming error and raises KeyError naming it.
    """
    available = {field.name: getattr(rule.params, field.name) for field in dataclasses.fields(rule.params)}
    available.update(start=window.start, end=window.end, max_evidence=MAX_EVIDENCE)
    names = sorted(set(_NAMED_PARAMETER.findall(sql)))
    bound = {name: _sql_value(available[name]) for name in names}
    cursor = con.execute(sql, bound)
    columns = [description[0] for description in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _sql_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def past(measured: float, threshold: float) -> float:
    """How many times over a minimum threshold the measured value is (1.0 = just at it)."""
    if threshold <= 0:
        return 2.0 if measured > 0 else 1.0
    return measured / threshold


def under(measured: float, threshold: float) -> float:
    """How many times under a maximum threshold the measured value is (1.0 = just at it)."""
    if measured <= 0:
        return 4.0
    return threshold / measured


def strength(*ratios: float) -> float:
    """0.5 when every threshold is just met, rising to 1.0 as the geometric mean ratio reaches 4×."""
    capped = [min(max(ratio, 1.0), 4.0) for ratio in ratios] or [1.0]
    mean_log = sum(math.log2(ratio) for ratio in capped) / len(capped)
    return round(0.5 + 0.25 * mean_log, 4)


def cny(amount: float) -> str:
    """¥4,310,000, or ¥49,999.99 when there are fen to show."""
    value = round(float(amount), 2)
    return f"¥{value:,.0f}" if value == int(value) else f"¥{value:,.2f}"


def pct(share: float) -> str:
    return f"{round(float(share) * 100)}%"


def account_alert(
    rule: Rule,
    window: Window,
    row: dict[str, Any],
    metrics: dict[str, Any],
    reason_zh: str,
    reason_en: str,
    ratios: tuple[float, ...],
) -> Alert:
    """One alert about the account in `row["account"]`, its evidence from `row["evidence"]`."""
    account = row["account"]
    return Alert(
        rule_id=rule.rule_id,
        typology=rule.typology,
        subject_kind="account",
        subject=account,
        window_start=window.start,
        window_end=window.end,
        metrics={name: _plain(value) for name, value in metrics.items()},
        evidence=tuple(row.get("evidence") or ())[:MAX_EVIDENCE],
        strength=strength(*ratios),
        reason_zh=reason_zh,
        reason_en=reason_en,
        accounts=(account,),
    )


def _plain(value: Any) -> Any:
    """Metrics go to JSON: decimals become floats, shares are rounded for reading."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, Decimal):
        return round(float(value), 2)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
