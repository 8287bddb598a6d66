"""G13 bipartite blocks over the whole graph: a set of quiet accounts that all pay into the same set of quiet
accounts inside one stepped window — many-to-many layering, where no single account looks busy.

SQL keeps, per window, the payments of senders that share receivers with another sender; networkx groups
senders into blocks (components of the shared-receiver graph) and peels the weakest members until the block is
dense enough.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import groupby

import duckdb
import networkx as nx

from detectors import sweep, whole_graph
from detectors.base import Alert, Rule, Window

TYPOLOGY = "bipartite"
STAGE = whole_graph.STAGE
ROWS_PER_WINDOW = True
"""Its SQL rows for one stepped window read only that window's payments: kept between runs per window."""


@dataclass(frozen=True)
class Params:
    span_days: int = 14
    """Length of the stepped window that holds the block (days); windows step by half of it."""
    min_side: int = 3
    """Fewest senders and fewest receivers in a block (accounts)."""
    min_density: float = 0.6
    """Share of the sender × receiver pairs that carry a payment (fraction)."""
    min_shared: int = 2
    """A sender joins a block through another sender sharing at least this many receivers (accounts)."""
    min_amount_percentile: float = 0.5
    """A payment counts when at least this percentile of the window's payment amounts (fraction)."""
    max_member_payments: int = 30
    """Members have at most this many payments in the window; busier accounts are shops (payments)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def blocks(links: list[tuple[str, str]], params: Params) -> list[tuple[set[str], set[str]]]:
    """Dense sender × receiver blocks among one window's links (payer, payee)."""
    graph = nx.Graph()
    graph.add_edges_from((("S", payer), ("R", payee)) for payer, payee in set(links) if payer != payee)
    senders = {node for node in graph if node[0] == "S"}
    shared = nx.Graph()
    for sender in senders:
        shared.add_node(sender)
    for receiver in (node for node in graph if node[0] == "R"):
        payers = sorted(graph.neighbors(receiver))
        for i, first in enumerate(payers):
            for second in payers[i + 1 :]:
                weight = shared.get_edge_data(first, second, {"weight": 0})["weight"] + 1
                shared.add_edge(first, second, weight=weight)
    strong = nx.Graph((a, b) for a, b, weight in shared.edges(data="weight") if weight >= params.min_shared)
    found = []
    for component in nx.connected_components(strong):
        block = graph.subgraph(component | {r for s in component for r in graph.neighbors(s)}).copy()
        while True:
            side_s = {n for n in block if n[0] == "S"}
            side_r = {n for n in block if n[0] == "R"}
            if len(side_s) < params.min_side or len(side_r) < params.min_side:
                break
            if nx.bipartite.density(block, side_s) >= params.min_density:
                accounts_s, accounts_r = {n[1] for n in side_s}, {n[1] for n in side_r}
                if not accounts_s & accounts_r:
                    found.append((accounts_s, accounts_r))
                break
            weakest = min(block, key=lambda node: (block.degree(node), node))
            block.remove_node(weakest)
    return found


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    rows = whole_graph.rows_per_window(con, sys.modules[__name__], rule, window)
    # the order the merge below relies on, over kept and new rows alike (the SQL leaves rows unordered)
    rows.sort(key=lambda row: (row["k"], row["payer"], row["payee"], row["txn_time"], row["payment_id"]))
    kept: dict[frozenset, tuple[set[str], set[str], list[dict]]] = {}
    for _, group in groupby(rows, key=lambda row: row["k"]):
        window_rows = list(group)
        for senders, receivers in blocks([(row["payer"], row["payee"]) for row in window_rows], params):
            payments = [row for row in window_rows if row["payer"] in senders and row["payee"] in receivers]
            key = frozenset(senders | receivers)
            if key not in kept or len(payments) > len(kept[key][2]):
                kept[key] = (senders, receivers, payments)
    # one block seen in overlapping windows, or a part of it, is reported once: the version with most payments
    reported: list[tuple[set[str], set[str], list[dict]]] = []
    for senders, receivers, payments in sorted(kept.values(), key=lambda block: (-len(block[2]), min(block[0]))):
        if not any((senders | receivers) & (s | r) for s, r, _ in reported):
            reported.append((senders, receivers, payments))
    alerts = []
    for senders, receivers, payments in sorted(reported, key=lambda block: min(block[0])):
        subject = min(senders)
        pairs = {(row["payer"], row["payee"]) for row in payments}
        density = len(pairs) / (len(senders) * len(receivers))
        amount = sum(row["amount"] for row in payments)
        first, last = min(row["txn_time"] for row in payments), max(row["txn_time"] for row in payments)
        evidence = [row["payment_id"] for row in sorted(payments, key=lambda row: -row["amount"])]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=subject,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "senders": sorted(senders),
                    "receivers": sorted(receivers),
                    "density": round(density, 4),
                    "amount": round(amount, 2),
                    "first": first.isoformat(),
                    "last": last.isoformat(),
                },
                evidence=tuple(evidence[: params.max_evidence]),
                strength=sweep.strength(
                    sweep.past(min(len(senders), len(receivers)), params.min_side),
                    sweep.past(density, params.min_density),
                ),
                reason_zh=f"多对多：{len(senders)} 个账户向同一组 {len(receivers)} 个账户转账 {sweep.cny(amount)}"
                f"（覆盖 {sweep.pct(density)} 的组合，{first:%m-%d} 至 {last:%m-%d}）",
                reason_en=f"many-to-many block: {len(senders)} accounts paid the same {len(receivers)} accounts "
                f"{sweep.cny(amount)} ({sweep.pct(density)} of pairs, {first:%Y-%m-%d} to {last:%Y-%m-%d})",
                accounts=(subject,),
            )
        )
    return alerts
