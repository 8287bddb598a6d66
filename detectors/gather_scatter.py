"""G5 gather-scatter (AMLSim GatherScatter): many pay into an account, which soon pays most of it out to many.

The closest graph pattern to T1 plus T2: money gathered from a crowd does not stay, it is spread within days
(to collectors, promoters, earlier investors). A shop gathers from a crowd but pays a few suppliers; a payroll
account pays a crowd but is fed by one employer: each misses one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "gather_scatter"
STAGE = "graph"


@dataclass(frozen=True)
class Params:
    min_senders: int = 10
    """Distinct accounts paying in during the gathering span (accounts)."""
    min_receivers: int = 10
    """Distinct accounts paid out to after the gathering (accounts)."""
    gather_days: int = 7
    """Length of the gathering span (days)."""
    max_gap_hours: float = 72
    """Scattering must happen by this long after the last gathered payment (hours)."""
    min_out_share: float = 0.8
    """Scattered amount as a share of the gathered amount (fraction)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def _best_episode(nb: neighbourhood.Neighbourhood, account: str, params: Params):
    inflows, outflows = nb.inflows(account), nb.outflows(account)
    best = None
    anchored_days = set()
    for first in inflows:
        if first.time.date() in anchored_days:
            continue
        anchored_days.add(first.time.date())
        gathered = neighbourhood.between(inflows, first.time, first.time + timedelta(days=params.gather_days))
        senders = {flow.other for flow in gathered}
        if len(senders) < params.min_senders:
            continue
        scattered = neighbourhood.between(
            outflows, first.time, gathered[-1].time + timedelta(hours=params.max_gap_hours)
        )
        receivers = {flow.other for flow in scattered}
        amount_in = sum(flow.amount for flow in gathered)
        amount_out = sum(flow.amount for flow in scattered)
        share = amount_out / amount_in
        if len(receivers) < params.min_receivers or share < params.min_out_share:
            continue
        episode = (len(senders), len(receivers), amount_in, min(share, 1.0), gathered, scattered)
        if best is None or episode[2] > best[2]:
            best = episode
    return best


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    nb = neighbourhood.load(con, window)
    alerts = []
    for account in sorted(nb.seeds):
        if account not in nb.graph or nb.graph.in_degree(account) < params.min_senders:
            continue
        episode = _best_episode(nb, account, params)
        if episode is None:
            continue
        senders, receivers, amount_in, share, gathered, scattered = episode
        evidence = [flow.payment_id for flow in gathered + scattered][: params.max_evidence]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=account,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "senders": senders,
                    "receivers": receivers,
                    "amount_in": round(amount_in, 2),
                    "out_share": round(share, 3),
                    "gather_start": gathered[0].time.isoformat(),
                },
                evidence=tuple(evidence),
                strength=sweep.strength(
                    sweep.past(senders, params.min_senders), sweep.past(receivers, params.min_receivers)
                ),
                reason_zh=f"{params.gather_days} 天内 {senders} 个账户汇入 {sweep.cny(amount_in)}，"
                f"随即 {share:.0%} 分散转给 {receivers} 个账户",
                reason_en=f"{senders} accounts paid in {sweep.cny(amount_in)} within {params.gather_days} days, "
                f"then {share:.0%} went out to {receivers} accounts",
                accounts=(account,),
            )
        )
    return alerts
