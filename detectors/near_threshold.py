"""T14 near-threshold structuring (接近大额标准): several payments between the same two parties, each just under
the large-value threshold that applies, within a few days.

Splitting a large sum into amounts just under the reporting line avoids a large-value report (2006 管理办法
Art. 11(2)); schemes that know the rules ("blockchain" platforms) tell investors to pay that way and drain
their hubs that way. The receiving account is the one alerted (for cash drawn, the account drawing it): the
investors told to split their payments are participants, not the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "near_threshold"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    band_low: float
    """A payment counts from this fraction of the threshold up to just under it (fraction 0..1)."""
    within_days: int
    """Span within which the near-threshold payments of one pair fall (days)."""
    min_transfers: int
    """Near-threshold payments of one pair within that span (payments)."""
    cash_threshold_cny: float
    """Art. 5 threshold for cash (yuan)."""
    org_threshold_cny: float
    """Art. 5 threshold for transfers by organisations (yuan)."""
    person_threshold_cny: float
    """Art. 5 threshold for domestic transfers by persons (yuan)."""
    cross_border_threshold_cny: float
    """Art. 5 threshold for cross-border transfers by persons (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        reason_zh = (
            f"{window.days} 天内与 {row['pairs']} 个对手间有 {row['near_payments']} 笔接近大额标准的交易"
            f"（{params.within_days} 天内最多 {row['longest_run']} 笔），共 {sweep.cny(row['near_amount_cny'])}"
        )
        reason_en = (
            f"In {window.days} days {row['near_payments']} payments just under a large-value threshold "
            f"with {row['pairs']} counterparties (up to {row['longest_run']} within {params.within_days} "
            f"days), {sweep.cny(row['near_amount_cny'])}"
        )
        metrics = {key: row[key] for key in ("pairs", "longest_run", "near_payments", "near_amount_cny")}
        ratios = (sweep.past(row["longest_run"], params.min_transfers), float(row["pairs"]))
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
