"""G3 cycle (AMLSim Cycle): money leaves an account and comes back to it through 2–5 others, hop after hop in
time order, at about the same amount — turnover manufactured to make accounts look busy or returns look real.

A family passing a gift around once makes the same shape, so a cycle is a scheme only when it is repeated
(the same accounts cycle at least `min_cycles` times) or large (one turn of at least `min_amount_cny`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb

from detectors import neighbourhood, sweep
from detectors.base import Alert, Rule, Window

TYPOLOGY = "cycle"
STAGE = "graph"


@dataclass(frozen=True)
class Params:
    min_length: int = 3
    """Fewest accounts in a cycle (accounts)."""
    max_length: int = 6
    """Most accounts in a cycle (accounts)."""
    max_span_days: float = 30
    """Longest time from the first hop to the return (days)."""
    amount_tolerance: float = 0.2
    """Every hop's amount lies within this share of the first hop's (fraction)."""
    min_cycles: int = 2
    """Repetitions over the same accounts that make small cycles a scheme (cycles)."""
    min_amount_cny: float = 500_000
    """One turn at least this large is a scheme on its own (yuan)."""
    max_search_steps: int = 50_000
    """Search budget per flagged account, so one busy account cannot stall the run (steps)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def _cycles_through(nb: neighbourhood.Neighbourhood, origin: str, params: Params) -> list[tuple]:
    """Time-ordered cycles through `origin`, wherever the turn starts: (accounts, payment ids, amount, duration,
    end time).

    For each payment into `origin`, walk backwards in time to where the turn may have started, then forwards
    from `origin` until a walk reaches such a start; amounts are compared with the payment into `origin`.
    """
    found = []
    steps = 0
    span = timedelta(days=params.max_span_days)
    for arrival in nb.inflows(origin):
        low, high = arrival.amount * (1 - params.amount_tolerance), arrival.amount * (1 + params.amount_tolerance)
        starts: dict[str, list[tuple]] = {}  # start account -> (accounts start..origin, ids, first time)
        stack = [([arrival.other, origin], [arrival.payment_id], arrival.time)]
        while stack and steps < params.max_search_steps:
            path, ids, first_time = stack.pop()
            steps += 1
            starts.setdefault(path[0], []).append((path, ids, first_time))
            if len(path) >= params.max_length:
                continue
            for hop in neighbourhood.between(nb.inflows(path[0]), arrival.time - span, first_time):
                if hop.time >= first_time or not low <= hop.amount <= high:
                    continue
                if hop.other == origin and len(path) >= params.min_length:  # the turn started at origin
                    found.append(
                        (
                            tuple(path),
                            tuple([hop.payment_id] + ids),
                            arrival.amount,
                            arrival.time - hop.time,
                            arrival.time,
                        )
                    )
                elif hop.other not in path:
                    stack.append(([hop.other] + path, [hop.payment_id] + ids, hop.time))
        if not starts:  # the search budget ran out before this arrival was looked at
            break
        earliest = min(first for chains in starts.values() for _, _, first in chains)
        stack = [([origin], [], arrival.time)]
        while stack and steps < params.max_search_steps:
            path, ids, after = stack.pop()
            steps += 1
            for hop in neighbourhood.between(nb.outflows(path[-1]), after, earliest + span):
                if hop.time <= after or not low <= hop.amount <= high:
                    continue
                for back_path, back_ids, first_time in starts.get(hop.other, []):
                    length = len(back_path) + len(path) - 1
                    if (
                        params.min_length <= length <= params.max_length
                        and hop.time <= first_time + span
                        and not set(back_path[:-1]) & set(path)
                    ):
                        found.append(
                            (
                                tuple(back_path[:-1] + path),
                                tuple(back_ids + ids + [hop.payment_id]),
                                arrival.amount,
                                hop.time - first_time,
                                hop.time,
                            )
                        )
                if hop.other not in path and len(path) < params.max_length - 1:
                    stack.append((path + [hop.other], ids + [hop.payment_id], hop.time))
    return found


def _disjoint(turns: dict[frozenset, tuple]) -> dict[frozenset, tuple]:
    """Repetitions are turns sharing no payment: one round mixed with the next is not another round."""
    kept: dict[frozenset, tuple] = {}
    used: set[str] = set()
    # Shortest turns first, then earliest: a real round is tight, a mix of rounds spans their gaps.
    for ids in sorted(turns, key=lambda ids: (turns[ids][3], turns[ids][4])):
        if not ids & used:
            kept[ids] = turns[ids]
            used |= ids
    return kept


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    nb = neighbourhood.load(con, window)
    by_accounts: dict[frozenset, dict[frozenset, tuple]] = {}
    for origin in sorted(nb.seeds):
        if origin not in nb.graph:
            continue
        for path, ids, amount, duration, end in _cycles_through(nb, origin, params):
            # The same turn is found once from each of its flagged accounts: key it by its payments.
            by_accounts.setdefault(frozenset(path), {})[frozenset(ids)] = (path, ids, amount, duration, end)
    alerts = []
    for accounts, found_turns in by_accounts.items():
        turns = _disjoint(found_turns)
        largest = max(turn[2] for turn in turns.values())
        if len(turns) < params.min_cycles and largest < params.min_amount_cny:
            continue
        subject = min(accounts & nb.seeds)
        total = sum(turn[2] for turn in turns.values())
        evidence = sorted({pid for turn in turns.values() for pid in turn[1]})[: params.max_evidence]
        length = len(accounts)
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=subject,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "cycles": len(turns),
                    "length": length,
                    "amount": round(total, 2),
                    "largest": round(largest, 2),
                    "cycle_accounts": sorted(accounts),
                },
                evidence=tuple(evidence),
                strength=sweep.strength(
                    max(sweep.past(len(turns), params.min_cycles), sweep.past(largest, params.min_amount_cny))
                ),
                reason_zh=f"资金在 {length} 个账户间按时间顺序循环 {len(turns)} 次，合计 {sweep.cny(total)}",
                reason_en=f"money went round {length} accounts in time order {len(turns)} times, "
                f"{sweep.cny(total)} in all",
                accounts=(subject,),
            )
        )
    return alerts
