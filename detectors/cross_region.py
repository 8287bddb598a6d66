"""T12 cross-region payers (跨地区): most individual payers come from outside the county, from several provinces.

Networked schemes recruit far beyond their home county through promoters and apps, while a local shop or
school draws on local people. Cross-province leads also feed the campaign's 跨省 statistics table.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "cross_region"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_payers: int
    """Distinct individual payers with a known region (persons)."""
    min_outside_share: float
    """Share of them from outside the county (fraction 0..1)."""
    min_provinces: int
    """Distinct provinces among the payers (provinces)."""
    home_region: str = ""
    """6-digit region code of the office's county; filled from the settings (FUNDFLOW_COUNTY)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    if not params.home_region:
        raise ValueError("home_region is empty: the runner fills it from the settings")
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        reason_zh = (
            f"{window.days} 天内 {row['individual_payers']} 名个人转入，其中 {row['outside_payers']} 人"
            f"（{sweep.pct(row['outside_share'])}）来自县外，分布于 {row['provinces']} 个省份"
        )
        reason_en = (
            f"In {window.days} days {row['individual_payers']} individuals paid in; "
            f"{row['outside_payers']} ({sweep.pct(row['outside_share'])}) are from outside the county, "
            f"across {row['provinces']} provinces"
        )
        metrics = {
            key: row[key]
            for key in (
                "individual_payers",
                "outside_payers",
                "outside_share",
                "provinces",
                "province_codes",
                "individual_inflow_cny",
                "outside_inflow_cny",
            )
        }
        ratios = (
            sweep.past(row["outside_share"], params.min_outside_share),
            sweep.past(row["provinces"], params.min_provinces),
            sweep.past(row["individual_payers"], params.min_payers),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
