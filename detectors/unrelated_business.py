"""T13 receipts unrelated to the business (与经营无关): a company that is not a financial institution takes
money from crowds of individuals with investment memos or round amounts; or a person is paid often by
several companies.

A trading or consulting company has no business taking deposits from the public, so crowds of individuals
paying it "investment" money is the classic front of illegal fundraising (2006 管理办法 Art. 11(3)); company
money moving to a private person's account is how schemes pay promoters and hide the proceeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "unrelated_business"
STAGE = "sweep"
SQL = sweep.read_sql(__file__)


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the rule looks at (days)."""
    min_payers: int
    """(a) Distinct individual payers of a non-financial organisation (persons)."""
    min_keyword_share: float
    """(a) Share of those payments with an investment word in the memo or purpose (fraction 0..1) …"""
    min_round_share: float
    """(a) … or share that are multiples of unit_cny (fraction 0..1)."""
    unit_cny: float
    """(a) The round unit (yuan)."""
    min_org_payers: int
    """(b) Distinct organisations paying one individual (organisations) …"""
    min_org_payments: int
    """(b) … in at least this many payments (payments)."""
    memo_keywords: tuple[str, ...] = ()
    """Keywords (regular expressions) from rules/keywords.yaml; not set in the rule file."""
    financial_institutions: tuple[str, ...] = ()
    """Words in a name or industry marking a licensed financial institution, from rules/keywords.yaml."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    alerts = []
    for row in sweep.query(con, SQL, rule, window):
        if row["branch"] == "organisation":
            trade = f"（{row['occupation']}）" if row["occupation"] else ""
            reason_zh = (
                f"非金融单位{trade} {window.days} 天内收到 {row['individual_payers']} 名个人转入 "
                f"{sweep.cny(row['inflow_cny'])}，附言含投资类关键词 {sweep.pct(row['keyword_share'])}，"
                f"整数金额 {sweep.pct(row['round_share'])}"
            )
            reason_en = (
                f"Non-financial organisation{' (' + row['occupation'] + ')' if row['occupation'] else ''} "
                f"paid {sweep.cny(row['inflow_cny'])} by {row['individual_payers']} individuals in "
                f"{window.days} days; {sweep.pct(row['keyword_share'])} with investment words, "
                f"{sweep.pct(row['round_share'])} round amounts"
            )
            ratios = (
                sweep.past(row["individual_payers"], params.min_payers),
                max(
                    sweep.past(row["keyword_share"], params.min_keyword_share),
                    sweep.past(row["round_share"], params.min_round_share),
                ),
            )
        else:
            reason_zh = (
                f"个人账户 {window.days} 天内收到 {row['org_payers']} 家单位转入 {row['org_payments']} 笔，"
                f"共 {sweep.cny(row['inflow_cny'])}"
            )
            reason_en = (
                f"Personal account paid {row['org_payments']} times by {row['org_payers']} organisations "
                f"in {window.days} days, {sweep.cny(row['inflow_cny'])}"
            )
            ratios = (
                sweep.past(row["org_payers"], params.min_org_payers),
                sweep.past(row["org_payments"], params.min_org_payments),
            )
        metrics = {
            key: row[key]
            for key in (
                "branch",
                "individual_payers",
                "inflows",
                "inflow_cny",
                "keyword_share",
                "round_share",
                "occupation",
                "org_payers",
                "org_payments",
            )
        }
        alerts.append(sweep.account_alert(rule, window, row, metrics, reason_zh, reason_en, ratios))
    return _strongest_per_account(alerts)


def _strongest_per_account(alerts: list[Alert]) -> list[Alert]:
    """An account hit by both branches keeps one alert, the stronger."""
    best: dict[str, Alert] = {}
    for alert in alerts:
        if alert.subject not in best or alert.strength > best[alert.subject].strength:
            best[alert.subject] = alert
    return [best[subject] for subject in sorted(best)]
