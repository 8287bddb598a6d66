"""G8 fan-in / G9 fan-out over the whole graph: an account that, inside one stepped window, pays or is paid by
far more distinct accounts than it does in its other windows and than nearly every account does in that window.

Both references scale with the data: the population cutoff is a percentile of the window's own accounts, the
baseline is the account's own mean, so a shop with a steady crowd of customers does not stand out.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from detectors import sweep, whole_graph
from detectors.base import Alert, Rule, Window

TYPOLOGY = "fan_in"  # G9 uses this detector with direction "out" and typology fan_out
STAGE = whole_graph.STAGE


@dataclass(frozen=True)
class Params:
    direction: str = "in"
    """"in" counts distinct senders (G8), "out" distinct receivers (G9)."""
    span_days: int = 14
    """Length of the stepped window (days); windows step by half of it."""
    population_percentile: float = 0.99
    """The count must exceed this percentile of all active accounts' counts in the same window (fraction)."""
    min_counterparties: int = 10
    """…and never be below this floor, for windows where nearly everyone is quiet (accounts)."""
    baseline_multiple: float = 3.0
    """…and be at least this many times the account's own mean over its other windows (at least 1) (times)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    if params.direction not in ("in", "out"):
        raise ValueError(f"direction must be 'in' or 'out', not {params.direction!r}")
    whole_graph.fill_windows(con, window, params.span_days)
    alerts = []
    for row in whole_graph.run_sql(con, __file__, rule, window):
        count, amount = row["counterparties"], row["amount"]
        days = params.span_days
        if params.direction == "in":
            zh = f"{days} 天内 {count} 个账户转入 {sweep.cny(amount)}（全体账户 {_pct(params)} 分位 {row['cutoff']:.0f}，本户平常 {row['baseline']:.1f}）"
            en = (
                f"{count} distinct accounts paid in {sweep.cny(amount)} within {days} days (population "
                f"{_pct(params)} percentile {row['cutoff']:.0f}, its own usual {row['baseline']:.1f})"
            )
        else:
            zh = f"{days} 天内向 {count} 个账户转出 {sweep.cny(amount)}（全体账户 {_pct(params)} 分位 {row['cutoff']:.0f}，本户平常 {row['baseline']:.1f}）"
            en = (
                f"paid {sweep.cny(amount)} out to {count} distinct accounts within {days} days (population "
                f"{_pct(params)} percentile {row['cutoff']:.0f}, its own usual {row['baseline']:.1f})"
            )
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=row["account"],
                window_start=row["w_start"],
                window_end=row["w_end"],
                metrics={
                    "counterparties": count,
                    "amount": round(float(amount), 2),
                    "population_cutoff": round(float(row["cutoff"]), 2),
                    "own_baseline": round(float(row["baseline"]), 2),
                    "span_days": days,
                },
                evidence=tuple(row["evidence"][: params.max_evidence]),
                strength=sweep.strength(
                    sweep.past(count, max(params.min_counterparties, row["cutoff"])),
                    sweep.past(count, params.baseline_multiple * max(row["baseline"], 1.0)),
                ),
                reason_zh=zh,
                reason_en=en,
                accounts=(row["account"],),
            )
        )
    return alerts


def _pct(params: Params) -> str:
    return f"{params.population_percentile * 100:g}%"
