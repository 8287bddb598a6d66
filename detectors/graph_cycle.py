"""G10 cycles over the whole graph: money leaves an account and comes back to it through 2–5 others, every hop
after the one before, the whole turn within a span, each hop keeping most of what the hop before carried.

Candidates in SQL: paths grow one time-ordered, amount-decaying hop at a time from every payment (the first
hop is the turn's earliest), so each turn is found once, from its start. Busy accounts (shops, payroll) are not
walked through, and the first hop's floor is a percentile of the window's own payments. networkx checks each
candidate is a simple directed cycle. As with G3, one small turn is family life: a cycle is reported when
repeated over the same accounts or when one turn is among the window's largest payments.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import networkx as nx

from detectors import sweep, whole_graph
from detectors.base import Alert, Rule, Window
from detectors.neighbourhood import fill_table

TYPOLOGY = "cycle"
STAGE = whole_graph.STAGE
MAX_LENGTH = 6
"""Longest cycle the tables are laid out for (accounts)."""


@dataclass(frozen=True)
class Params:
    min_length: int = 3
    """Fewest accounts in a cycle (accounts)."""
    max_length: int = 6
    """Most accounts in a cycle, at most 6 (accounts)."""
    max_span_days: float = 30
    """Longest time from the first hop to the return (days)."""
    amount_tolerance: float = 0.1
    """Each hop carries between (1 − this) and 1 times the hop before it: money decays round a cycle (fraction)."""
    min_amount_percentile: float = 0.5
    """The first hop is at least this percentile of the window's payment amounts (fraction)."""
    min_turns: int = 2
    """Turns over the same accounts that make a cycle a scheme (turns)…"""
    large_turn_percentile: float = 0.99
    """…unless one turn starts with at least this percentile of the window's payment amounts: friends passing
    ¥3,000 round once are family life, a turn of the county's largest payments is not (fraction)."""
    max_account_payments: int = 200
    """An account with more payments than this in the window (a shop, a payroll) is not walked through (payments)."""
    max_evidence: int = 200
    """Payment ids kept as evidence per alert (payments)."""


_EDGES = """
CREATE OR REPLACE TEMP TABLE gc_edges AS
WITH p AS (
    SELECT payment_id, txn_time, CAST(amount_cny AS DOUBLE) AS amount, payer_account AS payer, payee_account AS payee
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end
      AND payer_account IS NOT NULL AND payee_account IS NOT NULL AND payer_account <> payee_account
),
busy AS (
    SELECT account FROM (SELECT payer AS account FROM p UNION ALL SELECT payee AS account FROM p) AS ends
    GROUP BY account HAVING count(*) > $max_account_payments
),
floor AS (SELECT quantile_cont(amount, $min_amount_percentile) AS cutoff FROM p)
SELECT p.payment_id, p.txn_time, p.amount, p.payer, p.payee, p.amount >= floor.cutoff AS may_start
FROM p
CROSS JOIN floor
LEFT JOIN busy AS busy_payer ON busy_payer.account = p.payer
LEFT JOIN busy AS busy_payee ON busy_payee.account = p.payee
WHERE busy_payer.account IS NULL AND busy_payee.account IS NULL
  AND p.amount >= floor.cutoff * $decay_floor
"""

# An edge can lie on a cycle only if its payer is paid by someone and its payee pays someone (in the table).
_PRUNE = """
CREATE OR REPLACE TEMP TABLE gc_edges AS
SELECT e.* FROM gc_edges e
WHERE e.payer IN (SELECT payee FROM gc_edges) AND e.payee IN (SELECT payer FROM gc_edges)
"""

_ACCOUNTS = ", ".join(f"a{i}" for i in range(MAX_LENGTH + 1))
_HOPS = ", ".join(f"e{i}" for i in range(1, MAX_LENGTH + 1))

_START = f"""
CREATE OR REPLACE TEMP TABLE gc_paths AS
SELECT payer AS a0, payee AS a1, {", ".join(f"CAST(NULL AS VARCHAR) AS a{i}" for i in range(2, MAX_LENGTH + 1))},
       payment_id AS e1, {", ".join(f"CAST(NULL AS VARCHAR) AS e{i}" for i in range(2, MAX_LENGTH + 1))},
       txn_time AS t0, txn_time + INTERVAL '{{span_seconds}}' SECOND AS deadline, txn_time AS t_last,
       amount AS first_amount, amount AS last_amount
FROM gc_edges WHERE may_start
"""

_CYCLES = f"""
CREATE OR REPLACE TEMP TABLE gc_cycles (length INTEGER, {", ".join(f"a{i} VARCHAR" for i in range(MAX_LENGTH + 1))},
    {", ".join(f"e{i} VARCHAR" for i in range(1, MAX_LENGTH + 1))}, t0 TIMESTAMP, t_end TIMESTAMP,
    first_amount DOUBLE, last_amount DOUBLE)
"""


def _step(length: int) -> str:
    """SQL extending every path of `length - 1` hops by one hop out of its last account."""
    last = f"path.a{length - 1}"
    kept = ", ".join(f"path.a{i}" for i in range(length))
    blank_accounts = "".join(f", path.a{i}" for i in range(length + 1, MAX_LENGTH + 1))
    hops = ", ".join(f"path.e{i}" for i in range(1, length))
    blank_hops = "".join(f", path.e{i}" for i in range(length + 1, MAX_LENGTH + 1))
    return f"""
    SELECT {kept}, hop.payee AS a{length}{blank_accounts}, {hops}, hop.payment_id AS e{length}{blank_hops},
           path.t0, path.deadline, hop.txn_time AS t_last, path.first_amount, hop.amount AS last_amount
    FROM gc_paths path
    JOIN gc_edges hop ON hop.payer = {last}
    WHERE hop.txn_time > path.t_last AND hop.txn_time <= path.deadline
      AND hop.amount <= path.last_amount AND hop.amount >= path.last_amount * (1 - $amount_tolerance)
    """


def _bound(sql: str, params: Params, window: Window, **extra) -> dict:
    values = {
        "start": window.start,
        "end": window.end,
        "amount_tolerance": params.amount_tolerance,
        "min_amount_percentile": params.min_amount_percentile,
        "max_account_payments": params.max_account_payments,
        **extra,
    }
    return {name: value for name, value in values.items() if f"${name}" in sql}


def candidates(con: duckdb.DuckDBPyConnection, params: Params, window: Window) -> list[dict]:
    """Time-ordered, decaying cycles of the window as rows: length, accounts a0…, payment ids e1…, times, amounts."""
    if not 2 <= params.min_length <= params.max_length <= MAX_LENGTH:
        raise ValueError(f"cycle lengths must satisfy 2 <= min_length <= max_length <= {MAX_LENGTH}")
    decay_floor = (1 - params.amount_tolerance) ** (params.max_length - 1)
    con.execute(_EDGES, _bound(_EDGES, params, window, decay_floor=decay_floor))
    for _ in range(2):
        con.execute(_PRUNE)
    con.execute(_START.replace("{span_seconds}", str(whole_graph.seconds(params.max_span_days))))
    con.execute(_CYCLES)
    for length in range(2, params.max_length + 1):
        step = _step(length)
        closing = f"a{length} = a0" if length >= params.min_length else "FALSE"
        fresh = " AND ".join(f"a{length} <> a{i}" for i in range(length))
        con.execute(f"CREATE OR REPLACE TEMP TABLE gc_next AS {step}", _bound(step, params, window))
        con.execute(
            f"INSERT INTO gc_cycles SELECT {length}, {_ACCOUNTS}, {_HOPS}, t0, t_last, first_amount, last_amount "
            f"FROM gc_next WHERE {closing}"
        )
        if length == params.max_length:
            break
        con.execute(f"CREATE OR REPLACE TEMP TABLE gc_paths AS SELECT * FROM gc_next WHERE {fresh}")
        paths = whole_graph.one_count(con, "SELECT count(*) FROM gc_paths")
        whole_graph.log.info("G10 cycles: %d open paths of %d hops", paths, length)
        if not paths:
            break
    cursor = con.execute("SELECT * FROM gc_cycles ORDER BY t0, e1")
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    for table in ("gc_edges", "gc_paths", "gc_next", "gc_cycles"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
    return rows


def _hops(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, tuple]:
    if not ids:
        return {}
    con.execute("CREATE OR REPLACE TEMP TABLE gc_ids (payment_id VARCHAR)")
    fill_table(con, "gc_ids", {"payment_id": ids})
    rows = con.execute(
        "SELECT payment_id, payer_account, payee_account, txn_time, CAST(amount_cny AS DOUBLE) "
        "FROM payments WHERE payment_id IN (SELECT payment_id FROM gc_ids)"
    ).fetchall()
    con.execute("DROP TABLE gc_ids")
    return {row[0]: row[1:] for row in rows}


def _disjoint(turns: list[tuple[dict, list[tuple]]]) -> list[tuple[dict, list[tuple]]]:
    """Repetitions are turns sharing no payment (one round's first hops with the next round's last is not a
    third round); the tightest turns are kept first, then reported in time order."""
    kept: list[tuple[dict, list[tuple]]] = []
    used: set[str] = set()
    for turn in sorted(turns, key=lambda turn: (turn[0]["t_end"] - turn[0]["t0"], turn[0]["t0"])):
        ids = {turn[0][f"e{i}"] for i in range(1, turn[0]["length"] + 1)}
        if not ids & used:
            kept.append(turn)
            used |= ids
    return sorted(kept, key=lambda turn: turn[0]["t0"])


def _large_turn_cutoff(con: duckdb.DuckDBPyConnection, params: Params, window: Window) -> float:
    row = con.execute(
        "SELECT quantile_cont(CAST(amount_cny AS DOUBLE), ?) FROM payments WHERE txn_time >= ? AND txn_time < ? "
        "AND payer_account IS NOT NULL AND payee_account IS NOT NULL",
        [params.large_turn_percentile, window.start, window.end],
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def _is_simple_cycle(hops: list[tuple]) -> bool:
    """networkx's check of one turn: its hops form exactly one simple directed cycle through every account,
    in time order."""
    graph = nx.DiGraph((payer, payee) for payer, payee, _, _ in hops)
    cycles = list(nx.simple_cycles(graph))
    times = [when for _, _, when, _ in hops]
    return len(cycles) == 1 and len(cycles[0]) == len(hops) and times == sorted(times)


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    rows = candidates(con, params, window)
    details = _hops(con, sorted({row[f"e{i}"] for row in rows for i in range(1, row["length"] + 1)}))
    turns_by_accounts: dict[frozenset, list[tuple[dict, list[tuple]]]] = {}
    for row in rows:
        hops = [details[row[f"e{i}"]] for i in range(1, row["length"] + 1)]
        if _is_simple_cycle(hops):
            accounts = frozenset(row[f"a{i}"] for i in range(row["length"]))
            turns_by_accounts.setdefault(accounts, []).append((row, hops))
    large = _large_turn_cutoff(con, params, window)
    alerts = []
    for found in turns_by_accounts.values():
        turns = _disjoint(found)
        first, hops = turns[0]
        if len(turns) < params.min_turns and max(turn["first_amount"] for turn, _ in turns) < large:
            continue
        subject = first["a0"]
        total = sum(turn["first_amount"] for turn, _ in turns)
        path = " → ".join([*(payer for payer, _, _, _ in hops), subject])
        steps = "；".join(f"{when:%m-%d %H:%M} {sweep.cny(amount)}" for _, _, when, amount in hops)
        evidence = sorted({row[f"e{i}"] for row, _ in turns for i in range(1, row["length"] + 1)})
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
                    "large_turn_cutoff": round(large, 2),
                    "length": first["length"],
                    "amount": round(total, 2),
                    "cycle_accounts": sorted({a for a in (payer for payer, _, _, _ in hops)}),
                    "path": [
                        {"from": payer, "to": payee, "time": when.isoformat(), "amount": round(amount, 2)}
                        for payer, payee, when, amount in hops
                    ],
                },
                evidence=tuple(evidence[: params.max_evidence]),
                strength=sweep.strength(float(len(turns))),  # one turn 0.5, two 0.75, four or more 1.0
                reason_zh=f"循环转账：资金 {path} 按时间顺序回到原账户（{steps}），共 {len(turns)} 轮 {sweep.cny(total)}",
                reason_en=f"cycle: money went {path} in time order and came back ({len(turns)} turn(s), "
                f"{sweep.cny(total)} in all)",
                accounts=(subject,),
            )
        )
    return alerts
