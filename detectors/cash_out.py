"""T11 cash-out and structuring (大额取现/拆分取现): much of the inflow leaves as cash, or cash moves in
several amounts just under the ¥50,000 large-value threshold within a few days.

Cash breaks the money trail, so controllers drain a scheme's accounts in cash before it collapses; splitting
cash just under the reporting threshold (2006 管理办法 Art. 11(2) "接近大额标准") avoids a large-value report.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "cash_out"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_cash_out_share: float
    """Cash withdrawn over the account's inflow in the window (fraction 0..1) …"""
    min_cash_out_cny: float
    """… when at least this much cash is withdrawn (yuan)."""
    structuring_low_cny: float
    """Lowest cash amount counted as just under the threshold (yuan)."""
    structuring_high_cny: float
    """Highest cash amount counted as just under the threshold (yuan)."""
    structuring_days: int
    """Span within which the near-threshold cash payments fall (days)."""
    min_structured: int
    """Near-threshold cash payments within that span (payments)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        parts_zh, parts_en, ratios = [], [], []
        if row["is_cash_out"]:
            share = row["cash_out_share"]
            parts_zh.append(
                f"{window.days} 天内现金取出 {sweep.cny(row['cash_out_cny'])}"
                + (f"，为转入的 {sweep.pct(share)}" if share is not None else "")
            )
            parts_en.append(
                f"in {window.days} days {sweep.cny(row['cash_out_cny'])} withdrawn in cash"
                + (f", {sweep.pct(share)} of the inflow" if share is not None else "")
            )
            ratios.append(sweep.past(float(row["cash_out_cny"]), params.min_cash_out_cny))
        if row["is_structuring"]:
            band = f"{sweep.cny(params.structuring_low_cny)}–{sweep.cny(params.structuring_high_cny)}"
            parts_zh.append(f"{params.structuring_days} 天内 {row['longest_run']} 笔 {band} 的现金交易（接近大额标准）")
            parts_en.append(
                f"{row['longest_run']} cash payments of {band} within {params.structuring_days} days "
                f"(just under the large-value threshold)"
            )
            ratios.append(sweep.past(row["longest_run"], params.min_structured))
        reason_en = "; ".join(parts_en)
        metrics = {
            key: row[key]
            for key in (
                "inflow_cny",
                "cash_out_cny",
                "cash_withdrawals",
                "cash_out_share",
                "longest_run",
                "near_threshold_cash",
                "is_cash_out",
                "is_structuring",
            )
        }
        alerts.append(
            sweep.account_alert(
                rule, window, row, metrics, "；".join(parts_zh), reason_en[:1].upper() + reason_en[1:], tuple(ratios)
            )
        )
    return alerts
