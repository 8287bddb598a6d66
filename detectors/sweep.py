"""What every SQL sweep detector shares: reading its `.sql` file, binding parameters by name, measuring how far
past its thresholds a subject is, and building `Alert` records with a one-line reason.

A sweep query returns one row per offending account (zero rows: nothing to report), with the measured values
as columns and an `evidence` list of payment ids.
"""

from __future__ import annotations

import dataclasses
import functools
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


class RuleSQL(str):
    """A detector's SQL text that remembers the file it was read from and the `{literals}` filled into it, so
    its Spark variant (`fan_in.spark.sql` beside `fan_in.sql`) is found by the file and filled the same way."""

    source: Path
    literals: dict[str, int]

    def __new__(cls, text: str, source: Path, literals: dict[str, int] | None = None) -> RuleSQL:
        sql = super().__new__(cls, text)
        sql.source = source
        sql.literals = dict(literals or {})
        return sql

    def filled(self, **literals: int) -> RuleSQL:
        """This SQL with `{name}` replaced by whole numbers (interval lengths)."""
        return RuleSQL(_fill(str(self), literals), self.source, self.literals | literals)

    def spark_variant(self) -> str | None:
        """The Spark variant with the same literals filled, or None when the DuckDB SQL is transpiled instead."""
        variant = _variant_text(self.source.with_suffix(".spark.sql"))
        return None if variant is None else _fill(variant, self.literals)


def _fill(text: str, literals: dict[str, int]) -> str:
    for name, value in literals.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"literal {name} must be a whole number, got {value!r}")
        text = text.replace("{" + name + "}", str(value))
    return text


@functools.cache
def _variant_text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def read_sql(module_file: str) -> RuleSQL:
    """The SQL file beside a detector module: `fan_in.py` → `fan_in.sql`."""
    path = Path(module_file).with_suffix(".sql")
    return RuleSQL(path.read_text(encoding="utf-8"), path)


def spark_variant(sql: str) -> str | None:
    """The Spark variant of a detector's SQL (read by `read_sql`), or None when it is transpiled instead."""
    return sql.spark_variant() if isinstance(sql, RuleSQL) else None


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
