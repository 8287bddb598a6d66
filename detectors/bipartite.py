"""G6 bipartite / G7 stack (AMLSim Bipartite, Stack): a set of accounts all paying a set of others (many-to-many),
and such blocks chained into layers in time order (S → L1 → L2).

Many-to-many transfers of substantial amounts between small sets of private accounts layer money; a stack
of them moves it step by step away from its source. Households paying the same utilities form the same
block, so busy accounts (utilities, shops) and small payments are left out of the blocks.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "bipartite"  # G7 uses this detector with min_layers 2 and typology stack
STAGE = "graph"


@dataclass(frozen=True)
class Params:
    min_layers: int = 1
    """Chained blocks required: 1 for a bipartite block (G6), 2 or more for a stack (G7) (blocks)."""
    min_side: int = 3
    """Fewest accounts on each side of a block (accounts)."""
    min_density: float = 0.6
    """Share of the possible sender-receiver pairs that carry a payment (fraction)."""
    min_edge_cny: float = 10_000
    """Smallest payment that counts as a link (yuan)."""
    max_member_degree: int = 50
    """Accounts dealing with more counterparties than this (utilities, shops) are never block members (accounts)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


@dataclass
class _Links:
    out: dict[str, set[str]]
    into: dict[str, set[str]]
    payments: dict[tuple[str, str], list]  # (time, payment id) of the linking payments


def _links(nb: neighbourhood.Neighbourhood, params: Params) -> _Links:
    graph = nb.graph
    busy = {node for node in graph if len(graph.pred[node].keys() | graph.succ[node].keys()) > params.max_member_degree}
    links = _Links({}, {}, {})
    for payer, payee, key, data in graph.edges(keys=True, data=True):
        if data["amount"] < params.min_edge_cny or payer in busy or payee in busy:
            continue
        links.out.setdefault(payer, set()).add(payee)
        links.into.setdefault(payee, set()).add(payer)
        links.payments.setdefault((payer, payee), []).append((data["time"], key))
    return links


def _prune(senders: set[str], receivers: set[str], links: _Links, params: Params) -> tuple[set[str], set[str]]:
    """Drop members linked to too few of the other side until the block is stable."""
    while True:
        need_r = math.ceil(params.min_density * len(receivers))
        kept_s = {s for s in senders if len(links.out.get(s, set()) & receivers) >= need_r}
        need_s = math.ceil(params.min_density * len(kept_s))
        kept_r = {r for r in receivers if len(links.into.get(r, set()) & kept_s) >= need_s}
        if kept_s == senders and kept_r == receivers:
            return senders, receivers
        senders, receivers = kept_s, kept_r


def _block(senders: set[str], receivers: set[str], links: _Links, params: Params):
    senders, receivers = _prune(senders - receivers, receivers - senders, links, params)
    if len(senders) < params.min_side or len(receivers) < params.min_side:
        return None
    pairs = [(s, r) for s in senders for r in receivers if (s, r) in links.payments]
    density = len(pairs) / (len(senders) * len(receivers))
    if density < params.min_density:
        return None
    return frozenset(senders), frozenset(receivers), density, pairs


def _seed_blocks(seed: str, links: _Links, params: Params):
    """Blocks with `seed` among the senders, and among the receivers."""
    receivers = set(links.out.get(seed, set()))
    senders = {
        s for r in receivers for s in links.into.get(r, set()) if len(links.out.get(s, set()) & receivers) >= 2
    } | {seed}
    yield _block(senders, receivers, links, params)
    senders = set(links.into.get(seed, set()))
    receivers = {
        r for s in senders for r in links.out.get(s, set()) if len(links.into.get(r, set()) & senders) >= 2
    } | {seed}
    yield _block(senders, receivers, links, params)


def _next_layer(block, links: _Links, params: Params, used: set[str]):
    """The block fed by this block's receivers, if it comes later in time."""
    _, receivers, _, pairs = block
    onward = {r2 for r in receivers for r2 in links.out.get(r, set()) if r2 not in used}
    nxt = _block(set(receivers), onward, links, params)
    if nxt is None:
        return None
    # median_low: an actual time of the layer (the mean of two datetimes is not defined)
    median_time = statistics.median_low(t for pair in pairs for t, _ in links.payments[pair])
    next_time = statistics.median_low(t for pair in nxt[3] for t, _ in links.payments[pair])
    return nxt if next_time > median_time else None


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    nb = neighbourhood.load(con, window)
    links = _links(nb, params)
    stacks: dict[tuple, list] = {}
    for seed in sorted(nb.seeds):
        for block in _seed_blocks(seed, links, params):
            if block is None:
                continue
            layers = [block]
            used = set(block[0]) | set(block[1])
            while len(layers) < params.min_layers:
                nxt = _next_layer(layers[-1], links, params, used)
                if nxt is None:
                    break
                layers.append(nxt)
                used |= nxt[1]
            if len(layers) >= params.min_layers:
                stacks.setdefault(tuple((b[0], b[1]) for b in layers), layers)
    alerts = []
    for layers in stacks.values():
        members = set().union(*(set(b[0]) | set(b[1]) for b in layers))
        flagged = members & nb.seeds
        if not flagged:
            continue
        subject = min(flagged)
        ids = sorted(pid for b in layers for pair in b[3] for _, pid in links.payments[pair])
        amount = sum(
            nb.graph.edges[payer, payee, pid]["amount"]
            for b in layers
            for (payer, payee) in b[3]
            for _, pid in links.payments[(payer, payee)]
        )
        sizes = " → ".join(str(len(layer)) for layer in [layers[0][0]] + [b[1] for b in layers])
        density = min(b[2] for b in layers)
        if params.min_layers >= 2:
            zh = f"资金经 {len(layers)} 层多对多账户（{sizes}）按时间顺序转移，合计 {sweep.cny(amount)}"
            en = (
                f"money moved through {len(layers)} time-ordered many-to-many layers ({sizes} accounts), "
                f"{sweep.cny(amount)} in all"
            )
        else:
            zh = f"{sizes} 个账户之间多对多转账，连接密度 {density:.0%}，合计 {sweep.cny(amount)}"
            en = f"many-to-many transfers between {sizes} accounts, density {density:.0%}, {sweep.cny(amount)} in all"
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=subject,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "layers": len(layers),
                    "layer_sizes": sizes,
                    "density": round(density, 3),
                    "amount": round(amount, 2),
                    "members": sorted(members)[:100],
                },
                evidence=tuple(ids[: params.max_evidence]),
                strength=sweep.strength(
                    sweep.past(density, params.min_density),
                    sweep.past(min(len(layers[0][0]), len(layers[0][1])), params.min_side),
                ),
                reason_zh=zh,
                reason_en=en,
                accounts=(subject,),
            )
        )
    return alerts
