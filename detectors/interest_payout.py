"""T3 Ponzi-like periodic payouts (定期付息/返利): the account pays "interest" back to the people who paid it.

A scheme promises returns, so its hub pays many of its own earlier payers at a fixed rhythm (monthly or weekly)
amounts that are a fixed share of what each put in. A payroll account pays people monthly too, but its
employees never paid it first: the reverse edge (payer before payee) is what separates the two.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "interest_payout"
STAGE = "graph"

_PERIODS = {"monthly": 365.25 / 12, "weekly": 7.0}


@dataclass(frozen=True)
class Params:
    min_payees: int = 10
    """Distinct earlier payers who receive periodic payouts (persons)."""
    min_payouts: int = 3
    """Payouts to one person at a regular interval (payments)."""
    monthly_tolerance_days: float = 3.0
    """Allowed drift of a monthly interval (days)."""
    weekly_tolerance_days: float = 1.0
    """Allowed drift of a weekly interval (days)."""
    max_ratio_cv: float = 0.1
    """Largest coefficient of variation of the payout/principal ratio across payees (ratio)."""
    min_annual_rate: float = 0.06
    """Smallest implied annual rate of return (fraction, 0.06 = 6%)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""
    window_days: int = 180
    """History examined, ending with the run's last day: three monthly payouts need more than 90 days (days)."""


def _regular_chain(payouts: list[neighbourhood.Flow], period_days: float, tolerance: float) -> list:
    """The longest run of payouts each one period after the previous (a reinvested tranche starts its own)."""
    length: list[int] = []
    previous: list[int] = []
    for j, later in enumerate(payouts):
        length.append(1)
        previous.append(-1)
        for i in range(j):
            gap = (later.time - payouts[i].time).total_seconds() / 86400
            if abs(gap - period_days) <= tolerance and length[i] + 1 > length[j]:
                length[j], previous[j] = length[i] + 1, i
    if not payouts:
        return []
    chain = [max(range(len(payouts)), key=lambda j: length[j])]
    while previous[chain[-1]] >= 0:
        chain.append(previous[chain[-1]])
    return [payouts[i] for i in reversed(chain)]


def _payee_rate(paid_in: list[neighbourhood.Flow], payouts: list[neighbourhood.Flow], params: Params):
    """(period, payout/principal per period, evidence ids) for one payee, or None when not a periodic payout.

    The principal is what the payee had paid in before the chain of payouts began."""
    for period, days in _PERIODS.items():
        tolerance = params.monthly_tolerance_days if period == "monthly" else params.weekly_tolerance_days
        chain = _regular_chain(payouts, days, tolerance)
        if len(chain) < params.min_payouts:
            continue
        principal_flows = [flow for flow in paid_in if flow.time < chain[0].time]
        principal = sum(flow.amount for flow in principal_flows)
        if principal <= 0:
            return None
        rate = statistics.median(flow.amount for flow in chain) / principal
        ids = [flow.payment_id for flow in principal_flows] + [flow.payment_id for flow in chain]
        return period, rate, ids
    return None


# Flagged accounts that could alert at all: at least min_payees payees, each paid min_payouts times by the hub
# and having paid it in the window. Found in SQL, so that the 180-day graph holds only their own payments (all the
# checks read): at 10M lines 41 of 1,127 flagged accounts, whose whole neighbourhood took 12 s to load.
CANDIDATES_SQL = f"""
WITH window_payments AS (  -- the payments that are the graph's edges
    SELECT payer_account, payee_account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND {neighbourhood.EDGE_ROWS}
),
payouts AS (
    SELECT payer_account AS hub, payee_account AS payee FROM window_payments
    WHERE payer_account IN (SELECT account_no FROM flagged_accounts)
    GROUP BY ALL HAVING count(*) >= $min_payouts
),
paid_in AS (
    SELECT DISTINCT payee_account AS hub, payer_account AS payee FROM window_payments
    WHERE payee_account IN (SELECT account_no FROM flagged_accounts)
)
SELECT hub FROM payouts JOIN paid_in USING (hub, payee) GROUP BY hub HAVING count(*) >= $min_payees
"""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    bars = {
        "start": window.start,
        "end": window.end,
        "min_payouts": params.min_payouts,
        "min_payees": params.min_payees,
    }
    candidates = {row[0] for row in con.execute(CANDIDATES_SQL, bars).fetchall()}
    if not candidates:
        return []
    neighbourhood.flag_accounts(con, candidates, table="payout_hubs")
    nb = neighbourhood.load(con, window, seed_table="payout_hubs", hops=1)  # payouts and principal: its own
    alerts = []
    for hub in sorted(nb.seeds):
        if hub not in nb.graph:
            continue
        by_payee: dict[str, list[neighbourhood.Flow]] = {}
        for flow in nb.outflows(hub):
            if nb.is_person(flow.other):
                by_payee.setdefault(flow.other, []).append(flow)
        paid_in: dict[str, list[neighbourhood.Flow]] = {}
        for flow in nb.inflows(hub):
            paid_in.setdefault(flow.other, []).append(flow)
        rates: dict[str, list] = {"monthly": [], "weekly": []}
        evidence: dict[str, list[str]] = {"monthly": [], "weekly": []}
        for payee, payouts in by_payee.items():
            found = _payee_rate(paid_in.get(payee, []), payouts, params)
            if found:
                period, rate, ids = found
                rates[period].append(rate)
                evidence[period].extend(ids)
        for period, period_rates in rates.items():
            if len(period_rates) < params.min_payees:
                continue
            mean_rate = statistics.fmean(period_rates)
            cv = statistics.pstdev(period_rates) / mean_rate if mean_rate > 0 else float("inf")
            periods_per_year = 12 if period == "monthly" else 52
            annual_rate = mean_rate * periods_per_year
            if cv >= params.max_ratio_cv or annual_rate < params.min_annual_rate:
                continue
            alerts.append(
                _alert(
                    rule,
                    window,
                    hub,
                    period,
                    len(period_rates),
                    mean_rate,
                    annual_rate,
                    cv,
                    evidence[period][: params.max_evidence],
                )
            )
    return alerts


def _alert(
    rule: Rule,
    window: Window,
    hub: str,
    period: str,
    payees: int,
    mean_rate: float,
    annual_rate: float,
    cv: float,
    evidence: list[str],
) -> Alert:
    params: Params = rule.params
    period_zh, rate_zh, period_en = ("按月", "月息", "monthly") if period == "monthly" else ("按周", "周息", "weekly")
    metrics = {
        "payees": payees,
        "period": period,
        "mean_rate": round(mean_rate, 5),
        "annual_rate": round(annual_rate, 4),
        "ratio_cv": round(cv, 4),
    }
    return Alert(
        rule_id=rule.rule_id,
        typology=rule.typology,
        subject_kind="account",
        subject=hub,
        window_start=window.start,
        window_end=window.end,
        metrics=metrics,
        evidence=tuple(evidence),
        strength=sweep.strength(sweep.past(payees, params.min_payees), sweep.past(annual_rate, params.min_annual_rate)),
        reason_zh=f"{payees} 名早期投资人{period_zh}收到返款，平均{rate_zh} {mean_rate:.1%}（年化 {annual_rate:.0%}）",
        reason_en=f"{payees} earlier investors receive {period_en} payouts, mean rate {mean_rate:.1%} per period "
        f"({annual_rate:.0%} a year)",
        accounts=(hub,),
    )
