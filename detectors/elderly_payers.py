"""T6 elderly payers (老年人): many of the individuals paying into the account are 60 or older.

Schemes target middle-aged and elderly savers (the fuhexi report; campaign plans name 老弱病残 as focus
groups), so a crowd of elderly payers adds weight to other signals. A hospital, a pharmacy or a corner shop
also has crowds of elderly customers, but each pays small sums: savings going into a scheme are thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "elderly_payers"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_age: int
    """Age at the end of the window from which a payer counts as elderly (years)."""
    min_elderly_payers: int
    """Distinct elderly individual payers (persons)."""
    min_elderly_share: float
    """Share of the distinct individual payers who are elderly (fraction 0..1)."""
    min_inflow_per_payer_cny: float
    """Average paid in by each elderly payer in the window (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        reason_zh = (
            f"{window.days} 天内 {row['individual_payers']} 名个人转入 "
            f"{sweep.cny(row['individual_inflow_cny'])}，其中 {row['elderly_payers']} 人"
            f"（{sweep.pct(row['elderly_share'])}）年满 {params.min_age} 岁"
        )
        reason_en = (
            f"In {window.days} days {row['individual_payers']} individuals paid in "
            f"{sweep.cny(row['individual_inflow_cny'])}; {row['elderly_payers']} of them "
            f"({sweep.pct(row['elderly_share'])}) are aged {params.min_age} or more"
        )
        metrics = {
            key: row[key]
            for key in (
                "individual_payers",
                "elderly_payers",
                "elderly_share",
                "payers_with_age",
                "individual_inflow_cny",
                "elderly_inflow_cny",
                "inflow_per_elderly_payer_cny",
            )
        }
        ratios = (
            sweep.past(row["elderly_payers"], params.min_elderly_payers),
            sweep.past(row["elderly_share"], params.min_elderly_share),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
