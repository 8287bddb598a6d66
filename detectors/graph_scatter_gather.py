"""G11 scatter-gather over the whole graph: one account splits money over several quiet intermediaries, who each
pass about the same amount on, after receiving it, to one target — a transfer hidden behind a layer of accounts.

SQL finds the two-hop paths per stepped window; here each (source, target) keeps its window with the most
distinct intermediaries, one path per intermediary, and the alert names every path with times and amounts.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import duckdb

from detectors import sweep, whole_graph
from detectors.base import Alert, Rule, Window

TYPOLOGY = "scatter_gather"
STAGE = whole_graph.STAGE
ROWS_PER_WINDOW = True
"""Its SQL rows for one stepped window read only that window's payments: kept between runs per window."""


@dataclass(frozen=True)
class Params:
    span_days: int = 20
    """Length of the stepped window that holds the whole shape (days); windows step by half of it."""
    max_hop_days: float = 10
    """Longest time between a path's first hop and its second (days)."""
    amount_tolerance: float = 0.1
    """The second hop's amount lies within this share of the first hop's (fraction)."""
    min_paths: int = 3
    """Distinct intermediaries each carrying a matching path (accounts)."""
    min_amount_percentile: float = 0.5
    """A first hop is at least this percentile of the window's payment amounts (fraction)."""
    max_middle_payments: int = 20
    """An intermediary has at most this many payments in the window (payments)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def shapes(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(source, target) → its paths in the window with the most intermediaries, one (the earliest) per middle."""
    by_window: dict[tuple[str, str, int], dict[str, dict]] = {}
    for row in rows:
        by_window.setdefault((row["source"], row["target"], row["k"]), {}).setdefault(row["middle"], row)
    best: dict[tuple[str, str], list[dict]] = {}
    for (source, target, _), paths in by_window.items():
        if len(paths) > len(best.get((source, target), [])):
            best[(source, target)] = sorted(paths.values(), key=lambda path: (path["first_time"], path["middle"]))
    return best


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    rows = whole_graph.rows_per_window(
        con, sys.modules[__name__], rule, window, hop_seconds=whole_graph.seconds(params.max_hop_days)
    )
    # the order the merge below relies on, over kept and new rows alike (the SQL leaves rows unordered)
    rows.sort(key=lambda row: (row["source"], row["target"], row["k"], row["first_time"], row["middle"],
                               row["first_id"], row["second_id"]))  # fmt: skip
    alerts = []
    for (source, target), paths in sorted(shapes(rows).items()):
        amount = sum(path["first_amount"] for path in paths)
        evidence = [pid for path in paths for pid in (path["first_id"], path["second_id"])]
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=source,
                window_start=window.start,
                window_end=window.end,
                metrics={
                    "paths": len(paths),
                    "amount": round(amount, 2),
                    "source": source,
                    "target": target,
                    "intermediaries": [path["middle"] for path in paths][:50],
                    "path": [
                        {
                            "middle": path["middle"],
                            "first_time": path["first_time"].isoformat(),
                            "first_amount": round(path["first_amount"], 2),
                            "second_time": path["second_time"].isoformat(),
                            "second_amount": round(path["second_amount"], 2),
                        }
                        for path in paths[:50]
                    ],
                },
                evidence=tuple(evidence[: params.max_evidence]),
                strength=sweep.strength(sweep.past(len(paths), params.min_paths)),
                reason_zh=f"分散-汇聚：{source} 的 {sweep.cny(amount)} 经 {len(paths)} 个中间账户分别转出后汇聚到 {target}"
                f"（{paths[0]['first_time']:%m-%d} 至 {max(path['second_time'] for path in paths):%m-%d}）",
                reason_en=f"scatter-gather: {sweep.cny(amount)} from {source} went through {len(paths)} intermediary "
                f"accounts, each passing it on, and gathered in {target}",
                accounts=(source,),
            )
        )
    return alerts
