"""T7 new or dormant account suddenly active (新开户/久悬户突然活跃): an account opened shortly before, or
quiet for months, suddenly has many counterparties or a large flow.

Schemes open fresh accounts, or revive idle ones bought or borrowed from others, to collect for a short
while and then abandon them (2006 管理办法 Art. 11(4)). A new shop also starts busy, so this supports other
signals rather than standing alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "dormant_burst"
STAGE = "sweep"
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    new_days: int
    """An account opened at most this long before the window's end counts as new (days)."""
    idle_days: int
    """The span before the window in which a dormant account was quiet (days)."""
    burst_multiple: float
    """The window's flow is at least this many times the quiet span's flow per window length (times)."""
    min_counterparties: int
    """Distinct counterparties in the window (accounts) …"""
    min_flow_cny: float
    """… or flow in and out in the window (yuan)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        if row["is_new"]:
            state_zh, state_en = (
                f"开户于 {row['account_opened']} 的新账户",
                f"New account (opened {row['account_opened']})",
            )
        else:
            state_zh = f"此前 {params.idle_days} 天几乎无交易（{sweep.cny(row['earlier_flow_cny'])}）的账户"
            state_en = f"Account quiet for the previous {params.idle_days} days ({sweep.cny(row['earlier_flow_cny'])})"
        reason_zh = f"{state_zh}，{window.days} 天内与 {row['counterparties']} 个对手往来 {sweep.cny(row['flow_cny'])}"
        reason_en = (
            f"{state_en}: in {window.days} days {row['counterparties']} counterparties, "
            f"{sweep.cny(row['flow_cny'])} in and out"
        )
        metrics = {
            key: row[key]
            for key in ("counterparties", "flow_cny", "transactions", "earlier_flow_cny", "is_new", "is_quiet")
        }
        metrics["account_opened"] = str(row["account_opened"]) if row["account_opened"] else None
        # Which fact the rule used: the reported opening date, or the quiet look-back the history covers.
        metrics["basis"] = "account_opened" if row["is_new"] else "quiet_history"
        metrics["history_days"] = row["history_days"]
        ratios = (
            max(
                sweep.past(row["counterparties"], params.min_counterparties),
                sweep.past(float(row["flow_cny"]), params.min_flow_cny),
            ),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
