"""G12 gather-scatter over the whole graph: many accounts pay one account, which then — after the money is in —
pays about the same total out to many others (many → hub → many).

SQL picks hubs whose distinct senders and receivers in one stepped window both stand out against the window's
population and the hub's own other windows; here the time order is checked: some moment splits the window's
payments into a gather (enough senders before it) and a scatter (enough receivers after it) whose totals agree
within the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

import duckdb

from detectors import sweep, whole_graph
from detectors.base import Alert, Rule, Window

TYPOLOGY = "gather_scatter"
STAGE = whole_graph.STAGE


@dataclass(frozen=True)
class Params:
    span_days: int = 20
    """Length of the stepped window that holds gather and scatter (days); windows step by half of it."""
    population_percentile: float = 0.95
    """Distinct senders and receivers each exceed this percentile of the window's accounts (fraction)."""
    min_counterparties: int = 5
    """…and this floor, on each side (accounts)."""
    baseline_multiple: float = 3.0
    """…and this many times the hub's own mean over its other windows (at least 1) (times)."""
    amount_tolerance: float = 0.2
    """What is scattered lies within this share of what was gathered (fraction)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def best_split(flows: list[dict], needed: float, tolerance: float) -> dict | None:
    """The moment (an outgoing payment's time) with enough distinct senders before it and receivers from it on,
    totals within the tolerance; the one with the most counterparties on its weaker side. `flows` in time order."""
    ins_before: list[tuple[int, float]] = []  # at each flow: distinct senders and amount gathered before it
    senders: set[str] = set()
    gathered = 0.0
    for flow in flows:
        ins_before.append((len(senders), gathered))
        if flow["direction"] == "in":
            senders.add(flow["other"])
            gathered += flow["amount"]
    receivers: set[str] = set()
    scattered = 0.0
    best = None
    for index in range(len(flows) - 1, -1, -1):
        flow = flows[index]
        if flow["direction"] != "out":
            continue
        receivers.add(flow["other"])
        scattered += flow["amount"]
        senders_before, gathered_before = ins_before[index]
        if (
            senders_before >= needed
            and len(receivers) >= needed
            and abs(scattered - gathered_before) <= tolerance * gathered_before
        ):
            weaker = min(senders_before, len(receivers))
            if best is None or weaker > best["weaker"]:
                best = {
                    "weaker": weaker,
                    "split": index,
                    "senders": senders_before,
                    "receivers": len(receivers),
                    "gathered": gathered_before,
                    "scattered": scattered,
                }
    return best


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    whole_graph.fill_windows(con, window, params.span_days)
    rows = whole_graph.run_sql(con, __file__, rule, window)
    strongest: dict[str, tuple[dict, list[dict]]] = {}
    for (account, _), group in groupby(rows, key=lambda row: (row["account"], row["k"])):
        flows = list(group)
        needed = max(params.min_counterparties, float(flows[0]["cutoff"]) + 1e-9)
        found = best_split(flows, needed, params.amount_tolerance)
        if found and (account not in strongest or found["weaker"] > strongest[account][0]["weaker"]):
            strongest[account] = (found, flows)
    alerts = []
    for account, (found, flows) in sorted(strongest.items()):
        split = flows[found["split"]]["txn_time"]
        gather = [flow for flow in flows[: found["split"]] if flow["direction"] == "in"]
        scatter = [flow for flow in flows[found["split"] :] if flow["direction"] == "out"]
        evidence = [flow["payment_id"] for flow in sorted(gather + scatter, key=lambda f: -f["amount"])]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=account,
                window_start=flows[0]["w_start"],
                window_end=flows[0]["w_end"],
                metrics={
                    "senders": found["senders"],
                    "receivers": found["receivers"],
                    "gathered": round(found["gathered"], 2),
                    "scattered": round(found["scattered"], 2),
                    "population_cutoff": round(float(flows[0]["cutoff"]), 2),
                    "gather_from": gather[0]["txn_time"].isoformat(),
                    "scatter_from": split.isoformat(),
                    "scatter_to": scatter[-1]["txn_time"].isoformat(),
                },
                evidence=tuple(evidence[: params.max_evidence]),
                strength=sweep.strength(
                    sweep.past(found["weaker"], max(params.min_counterparties, float(flows[0]["cutoff"])))
                ),
                reason_zh=f"汇聚-分散：{found['senders']} 个账户转入 {sweep.cny(found['gathered'])}，"
                f"{split:%m-%d %H:%M} 起转给 {found['receivers']} 个账户 {sweep.cny(found['scattered'])}",
                reason_en=f"gather-scatter: {found['senders']} accounts paid in {sweep.cny(found['gathered'])}, then "
                f"from {split:%Y-%m-%d %H:%M} it paid {sweep.cny(found['scattered'])} to {found['receivers']} accounts",
                accounts=(account,),
            )
        )
    return alerts
