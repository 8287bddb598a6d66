"""G1 fan-in / G2 fan-out (AMLSim FanIn, FanOut): many distinct senders into, or receivers from, one account.

Measured on a flagged account over a rolling span of days: the most distinct counterparties seen in any such
span. A collection hub gathers from crowds of investors (fan-in); a payout hub pays many (fan-out). Both are
weak alone (a shop has crowds too), which is why they only run on accounts the sweep already flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "fan_in"  # G2 uses this detector with direction "out" and typology fan_out
STAGE = "graph"


@dataclass(frozen=True)
class Params:
    direction: str = "in"
    """"in" counts distinct senders (G1), "out" distinct receivers (G2)."""
    min_counterparties: int = 20
    """Distinct counterparties inside one span (accounts)."""
    span_days: int = 30
    """Length of the rolling span (days)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def _busiest_span(flows: list[neighbourhood.Flow], span: timedelta) -> tuple[int, list[neighbourhood.Flow]]:
    """The most distinct counterparties in any span starting at a flow, and that span's flows."""
    best_count, best_range = 0, (0, 0)
    seen: dict[str, int] = {}
    end = 0
    for start, first in enumerate(flows):
        while end < len(flows) and flows[end].time <= first.time + span:
            seen[flows[end].other] = seen.get(flows[end].other, 0) + 1
            end += 1
        if len(seen) > best_count:
            best_count, best_range = len(seen), (start, end)
        seen[first.other] -= 1
        if not seen[first.other]:
            del seen[first.other]
    return best_count, flows[best_range[0] : best_range[1]]


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    if params.direction not in ("in", "out"):
        raise ValueError(f"direction must be 'in' or 'out', not {params.direction!r}")
    nb = neighbourhood.load(con, window)
    alerts = []
    for account in sorted(nb.seeds):
        if account not in nb.graph:
            continue
        flows = nb.inflows(account) if params.direction == "in" else nb.outflows(account)
        if len({flow.other for flow in flows}) < params.min_counterparties:
            continue
        count, inside = _busiest_span(flows, timedelta(days=params.span_days))
        if count < params.min_counterparties:
            continue
        total = sum(flow.amount for flow in inside)
        if params.direction == "in":
            zh = f"{params.span_days} 天内 {count} 个账户转入 {sweep.cny(total)}"
            en = f"{count} distinct accounts paid in {sweep.cny(total)} within {params.span_days} days"
        else:
            zh = f"{params.span_days} 天内向 {count} 个账户转出 {sweep.cny(total)}"
            en = f"paid {sweep.cny(total)} out to {count} distinct accounts within {params.span_days} days"
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=account,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "counterparties": count,
                    "amount": round(total, 2),
                    "span_days": params.span_days,
                    "span_start": inside[0].time.isoformat(),
                },
                evidence=tuple(flow.payment_id for flow in inside[: params.max_evidence]),
                strength=sweep.strength(sweep.past(count, params.min_counterparties)),
                reason_zh=zh,
                reason_en=en,
                accounts=(account,),
            )
        )
    return alerts
