"""G4 scatter-gather (AMLSim ScatterGather): one account splits money over several intermediaries, who pass it on,
each about the same amount and after receiving it, to one beneficiary.

Several parallel two-hop paths with matching amounts hide one transfer behind a layer of accounts — how a
scheme moves collected money to its controller. Employees paid by one company who later pay one landlord do
not match: their onward amounts differ from what they received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "scatter_gather"
STAGE = "graph"


@dataclass(frozen=True)
class Params:
    min_paths: int = 3
    """Distinct intermediaries each carrying a matching two-hop path (accounts)."""
    max_hop_days: float = 30
    """Longest time between the first hop and the second (days)."""
    amount_tolerance: float = 0.2
    """The second hop's amount lies within this share of the first hop's (fraction)."""
    min_amount_cny: float = 10_000
    """Smallest first-hop amount considered (yuan)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def _matching(first: neighbourhood.Flow, second: neighbourhood.Flow, params: Params) -> bool:
    """The second hop follows the first in time and carries about the same amount."""
    return (
        first.amount >= params.min_amount_cny
        and first.time < second.time
        and second.time - first.time <= timedelta(days=params.max_hop_days)
        and abs(second.amount - first.amount) <= params.amount_tolerance * first.amount
    )


def _paths(nb: neighbourhood.Neighbourhood, flagged: str, params: Params) -> dict[tuple[str, str], dict]:
    """(source, beneficiary) -> intermediary -> (amount, first-hop id, second-hop id), for two-hop paths that
    start or end at the flagged account."""
    found: dict[tuple[str, str], dict] = {}
    smallest_second = params.min_amount_cny * (1 - params.amount_tolerance)
    for hop1 in nb.outflows(flagged):
        if hop1.amount < params.min_amount_cny:
            continue
        window = neighbourhood.between(
            nb.outflows(hop1.other), hop1.time, hop1.time + timedelta(days=params.max_hop_days)
        )
        for hop2 in window:
            if hop2.other not in (flagged, hop1.other) and _matching(hop1, hop2, params):
                found.setdefault((flagged, hop2.other), {}).setdefault(
                    hop1.other, (hop1.amount, hop1.payment_id, hop2.payment_id)
                )
    for hop2 in nb.inflows(flagged):
        if hop2.amount < smallest_second:
            continue
        window = neighbourhood.between(
            nb.inflows(hop2.other), hop2.time - timedelta(days=params.max_hop_days), hop2.time
        )
        for hop1 in window:
            if hop1.other not in (flagged, hop2.other) and _matching(hop1, hop2, params):
                found.setdefault((hop1.other, flagged), {}).setdefault(
                    hop2.other, (hop1.amount, hop1.payment_id, hop2.payment_id)
                )
    return found


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    nb = neighbourhood.load(con, window)
    patterns: dict[tuple[str, str], dict] = {}
    for flagged in sorted(nb.seeds):
        if flagged in nb.graph:
            for ends, paths in _paths(nb, flagged, params).items():
                patterns.setdefault(ends, paths)
    alerts = []
    for (source, beneficiary), paths in sorted(patterns.items()):
        if len(paths) < params.min_paths:
            continue
        subject = source if source in nb.seeds else beneficiary
        amount = sum(path[0] for path in paths.values())
        evidence = [pid for path in paths.values() for pid in path[1:]][: params.max_evidence]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=subject,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "paths": len(paths),
                    "amount": round(amount, 2),
                    "source": source,
                    "beneficiary": beneficiary,
                    "intermediaries": sorted(paths)[:50],
                },
                evidence=tuple(evidence),
                strength=sweep.strength(sweep.past(len(paths), params.min_paths)),
                reason_zh=f"{sweep.cny(amount)} 经 {len(paths)} 个中间账户分散转出后汇聚到同一账户",
                reason_en=f"{sweep.cny(amount)} split over {len(paths)} intermediary accounts and "
                f"gathered again in one account",
                accounts=(subject,),
            )
        )
    return alerts
