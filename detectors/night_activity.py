"""T8 night activity (夜间交易): a large share of the account's payments happen online between 22:00 and 06:00.

Accounts run for a scheme, often rented or controlled from elsewhere, move money in batches at night when
nobody watches; ordinary people and shops transact in the day. AML practice, not a published rule: a
supporting signal only.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "night_activity"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    night_start_hour: int
    """Night begins at this hour, local time (hour 0..23)."""
    night_end_hour: int
    """Night ends at this hour, local time (hour 0..23)."""
    min_transactions: int
    """Payments of the account in the window (payments)."""
    min_night_share: float
    """Share of them online at night (fraction 0..1)."""
    min_night_amount_cny: float
    """Amount moved online at night; night owls buying small things online are not the point (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    hours = f"{params.night_start_hour:02d}:00–{params.night_end_hour:02d}:00"
    for row in sweep.query(con, SQL, rule, window):
        reason_zh = (
            f"{window.days} 天内 {row['transactions']} 笔交易中 {row['night_transactions']} 笔"
            f"（{sweep.pct(row['night_share'])}）在夜间 {hours} 通过网银/手机完成，"
            f"金额 {sweep.cny(row['night_amount_cny'])}"
        )
        reason_en = (
            f"In {window.days} days {row['night_transactions']} of {row['transactions']} payments "
            f"({sweep.pct(row['night_share'])}) were made online at night ({hours}), "
            f"{sweep.cny(row['night_amount_cny'])}"
        )
        metrics = {key: row[key] for key in ("transactions", "night_transactions", "night_share", "night_amount_cny")}
        ratios = (
            sweep.past(row["night_share"], params.min_night_share),
            sweep.past(row["transactions"], params.min_transactions),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
