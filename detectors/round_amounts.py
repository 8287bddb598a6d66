"""T4 round or unit-multiple amounts (整数/固定倍数): individuals pay in whole multiples of a unit.

Investors buy "shares" of a product, so their payments are multiples of a subscription unit (the fuhexi
report); shoppers and customers pay odd amounts for goods. School fees and dues are round too, but each
family pays a fee, not its savings: the average paid per payer keeps them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "round_amounts"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    unit_cny: float
    """The round unit; the account's most common amount also counts as a unit when at least this (yuan)."""
    min_round_share: float
    """Share of individual inflows that are multiples of a unit (fraction 0..1)."""
    min_inflows: int
    """Individual inflows in the window (payments)."""
    min_payers: int
    """Distinct individual payers in the window (persons)."""
    min_inflow_per_payer_cny: float
    """Average paid in by each individual payer (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        unit = row["unit_amount_cny"]
        unit_zh = f"{sweep.cny(params.unit_cny)} 或 {sweep.cny(unit)}" if unit else sweep.cny(params.unit_cny)
        unit_en = f"{sweep.cny(params.unit_cny)} or {sweep.cny(unit)}" if unit else sweep.cny(params.unit_cny)
        reason_zh = (
            f"{window.days} 天内 {row['individual_payers']} 名个人转入 {row['individual_inflows']} 笔，"
            f"{sweep.pct(row['round_share'])} 为 {unit_zh} 的整数倍"
        )
        reason_en = (
            f"In {window.days} days {row['individual_payers']} individuals paid in "
            f"{row['individual_inflows']} times; {sweep.pct(row['round_share'])} are multiples of {unit_en}"
        )
        metrics = {
            key: row[key]
            for key in (
                "individual_inflows",
                "individual_payers",
                "inflow_cny",
                "round_inflows",
                "round_share",
                "unit_amount_cny",
            )
        }
        ratios = (
            sweep.past(row["round_share"], params.min_round_share),
            sweep.past(row["individual_inflows"], params.min_inflows),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
