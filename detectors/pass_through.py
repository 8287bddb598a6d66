"""T2 rapid pass-through (快进快出): money arrives and leaves again within hours, and the account never holds it.

Collection accounts of a scheme forward investors' money to the hub at once, so the collectors' balances stay
near zero. A wholesaler also turns its money over, but pays its suppliers days later and keeps a working
balance: the clearing time and the end-of-day balance separate the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "pass_through"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    pass_fraction: float
    """Part of an inflow that must leave for it to count as passed on (fraction 0..1)."""
    max_hours: int
    """An inflow passed on within this many hours counts as fast (hours)."""
    min_fast_share: float
    """Share of the inflow, by amount, passed on fast (fraction 0..1)."""
    min_out_in_ratio: float
    """Lowest outflow over inflow in the window (ratio)."""
    max_out_in_ratio: float
    """Highest outflow over inflow in the window (ratio)."""
    max_balance_share: float
    """Average end-of-day balance over the window's inflow stays below this (fraction 0..1)."""
    min_inflows: int
    """Inflows in the window (payments)."""
    min_inflow_cny: float
    """Total inflow in the window (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        hours = round(float(row["median_hours"] or 0), 1)
        reason_zh = (
            f"{window.days} 天内转入 {row['inflows']} 笔共 {sweep.cny(row['inflow_cny'])}，"
            f"{sweep.pct(row['fast_share'])} 在 {params.max_hours} 小时内转出（中位 {hours} 小时），"
            f"转出/转入 {row['out_in_ratio']:.2f}，日终余额仅占 {sweep.pct(row['balance_share'])}"
        )
        reason_en = (
            f"In {window.days} days {row['inflows']} inflows of {sweep.cny(row['inflow_cny'])}; "
            f"{sweep.pct(row['fast_share'])} left within {params.max_hours} h (median {hours} h), "
            f"out/in {row['out_in_ratio']:.2f}, end-of-day balance {sweep.pct(row['balance_share'])}"
        )
        metrics = {
            key: row[key]
            for key in (
                "inflows",
                "inflow_cny",
                "outflow_cny",
                "out_in_ratio",
                "fast_share",
                "median_hours",
                "balance_share",
            )
        }
        ratios = (
            sweep.past(row["fast_share"], params.min_fast_share),
            sweep.past(row["inflows"], params.min_inflows),
            sweep.past(float(row["inflow_cny"]), params.min_inflow_cny),
            sweep.under(row["balance_share"], params.max_balance_share),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
