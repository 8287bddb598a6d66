"""T1 scattered in, concentrated out (分散转入集中转出): many individuals pay into one account, which sends the
money on to a few counterparties.

The legal core of illegal fundraising is money taken from many unspecified people (条例 Art. 2); a collection
account gathers it from crowds and forwards it to a hub or its controllers. A school or a shop also has many
payers, but pays out to many (staff); a supermarket pays a few suppliers, but its customers pay small sums:
the concentration of the outflow and the size of each person's payment separate them from a scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "fan_in"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_payers: int
    """Distinct individual payers into the account (persons)."""
    min_individual_share: float
    """Share of the inflow that comes from individuals (fraction 0..1)."""
    max_out_counterparties: int
    """The few counterparties whose share of the outflow is measured (counterparties)."""
    min_top_out_share: float
    """Share of the outflow those few counterparties take (fraction 0..1)."""
    min_out_in_ratio: float
    """Outflow over inflow: the money must actually move on (ratio)."""
    min_inflow_cny: float
    """Total inflow in the window (yuan)."""
    min_inflow_per_payer_cny: float
    """Average paid in by each individual payer (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        top = min(params.max_out_counterparties, row["out_counterparties"])
        reason_zh = (
            f"{window.days} 天内 {row['individual_payers']} 名个人转入 {sweep.cny(row['inflow_cny'])}"
            f"（个人占 {sweep.pct(row['individual_share'])}），"
            f"{sweep.pct(row['top_out_share'])} 的转出流向 {top} 个对手"
        )
        reason_en = (
            f"In {window.days} days {row['individual_payers']} individuals paid in "
            f"{sweep.cny(row['inflow_cny'])} ({sweep.pct(row['individual_share'])} from individuals); "
            f"{sweep.pct(row['top_out_share'])} of the outflow went to {top} counterparties"
        )
        metrics = {
            key: row[key]
            for key in (
                "individual_payers",
                "inflow_cny",
                "outflow_cny",
                "individual_share",
                "out_counterparties",
                "top_out_share",
                "out_in_ratio",
            )
        }
        ratios = (
            sweep.past(row["individual_payers"], params.min_payers),
            sweep.past(float(row["inflow_cny"]), params.min_inflow_cny),
            sweep.past(row["top_out_share"], params.min_top_out_share),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
