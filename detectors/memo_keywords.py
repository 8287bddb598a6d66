"""T5 memo keywords (附言关键词): payments whose memo or purpose reads like an investment: 理财, 利息, 复投 …

Schemes and their investors name the product and its returns in the payment memo (the fuhexi report's
"复投"). Banks' wealth products do too (they are skipped by name), and many investors never write a memo, so
this is a supporting signal; requiring several counterparties keeps one investor's own memos from firing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "memo_keywords"
STAGE = "sweep"
WINDOW_ONLY = True  # reads only the payments of its window: a window none of whose days changed is kept
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_hits: int
    """Payments whose memo or purpose matches a keyword (payments)."""
    min_share: float
    """Or: share of the account's payments that match (fraction 0..1) …"""
    min_transactions: int
    """… counted only when the account has at least this many payments in the window (payments)."""
    min_counterparties: int
    """Distinct counterparties among the matching payments (accounts)."""
    memo_keywords: tuple[str, ...] = ()
    """Keywords (regular expressions) from rules/keywords.yaml; not set in the rule file."""
    financial_institutions: tuple[str, ...] = ()
    """Words in a name marking a licensed financial institution, from rules/keywords.yaml."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        words = "、".join(row["keywords"][:5])
        reason_zh = (
            f"{window.days} 天内 {row['keyword_hits']} 笔交易附言含投资类关键词（{words}），"
            f"占全部交易 {sweep.pct(row['hit_share'])}，涉及 {row['hit_counterparties']} 个对手"
        )
        reason_en = (
            f"In {window.days} days {row['keyword_hits']} payments carry investment words ({words}) in "
            f"the memo, {sweep.pct(row['hit_share'])} of all, with {row['hit_counterparties']} counterparties"
        )
        metrics = {
            key: row[key]
            for key in ("transactions", "keyword_hits", "hit_share", "hit_counterparties", "hit_amount_cny", "keywords")
        }
        ratios = (
            max(sweep.past(row["keyword_hits"], params.min_hits), sweep.past(row["hit_share"], params.min_share)),
            sweep.past(row["hit_counterparties"], params.min_counterparties),
        )
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return alerts
