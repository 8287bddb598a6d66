"""T10 insiders and salespeople (转入高管/佣金): a company moves a large share of its inflow to its own legal
representative; or an account pays several salespeople commissions that vary with what they bring in.

Collapsed platforms spend much of the money on their executives (the simu001 audit), and police analyses of
fundraising find a layer of salespeople (业务员) paid commissions on the investors they recruit (the patent).
A payroll account pays many people too, but the same salary every month: the variation of the amounts is what
separates a commission from a wage.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "insider_commission"
STAGE = "sweep"
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_insider_share: float
    """(a) Paid to the legal representative over the organisation's inflow (fraction 0..1) …"""
    min_insider_cny: float
    """(a) … when at least this much (yuan)."""
    min_recipients: int
    """(b) Individuals paid commission-like amounts (persons)."""
    min_commission_payments: int
    """(b) Payments to each of them (payments)."""
    min_commission_rate: float
    """(b) Lowest total paid to them over the payer's inflow from individuals (fraction 0..1)."""
    max_commission_rate: float
    """(b) Highest total paid to them over the payer's inflow from individuals (fraction 0..1)."""
    min_amount_cv: float
    """(b) Smallest variation of the amounts paid to one of them, standard deviation over mean (ratio)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        parts_zh, parts_en, ratios = [], [], []
        if row["is_insider"]:
            parts_zh.append(
                f"{window.days} 天内向法定代表人转出 {sweep.cny(row['insider_cny'])}，"
                f"占单位转入 {sweep.pct(row['insider_share'])}"
            )
            parts_en.append(
                f"in {window.days} days {sweep.cny(row['insider_cny'])} paid to the legal "
                f"representative, {sweep.pct(row['insider_share'])} of the inflow"
            )
            ratios.append(sweep.past(row["insider_share"], params.min_insider_share))
        if row["is_commission"]:
            share = sweep.pct(row["commission_share"])
            parts_zh.append(
                f"向 {row['commission_recipients']} 名未曾转入的个人多次支付金额不一的款项"
                f"共 {sweep.cny(row['commission_cny'])}，为个人转入的 {share}（疑似佣金）"
            )
            parts_en.append(
                f"{sweep.cny(row['commission_cny'])} ({share} of the inflow from individuals) paid "
                f"repeatedly, in varying amounts, to {row['commission_recipients']} individuals who never "
                f"paid in (commission-like)"
            )
            ratios.append(sweep.past(row["commission_recipients"], params.min_recipients))
        reason_en = "; ".join(parts_en)
        metrics = {
            key: row[key]
            for key in (
                "inflow_cny",
                "individual_inflow_cny",
                "insider_cny",
                "insider_payments",
                "insider_share",
                "commission_recipients",
                "commission_cny",
                "commission_share",
                "is_insider",
                "is_commission",
            )
        }
        alerts.append(
            sweep.account_alert(
                rule, window, row, metrics, "；".join(parts_zh), reason_en[:1].upper() + reason_en[1:], tuple(ratios)
            )
        )
    return alerts
