"""The flagged neighbourhood as a networkx MultiDiGraph: the only part of the warehouse graph detectors see.

Seeds are the accounts the sweep flagged (temp table `flagged_accounts`). We load, inside the window, every
payment touching a seed (hop 1) and the payments of the seeds' counterparties (hop 2), skipping busy
counterparties (merchants, utilities) and capping hop 2, so the graph grows with the flagged
neighbourhoods, never with the warehouse. One load is shared by every graph detector of a run.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import duckdb
import networkx as nx
import pyarrow as pa

from detectors.base import Window

MAX_NEIGHBOUR_PAYMENTS = 300
"""A counterparty with more payments than this in the window (a shop, a utility) is not expanded (payments)."""
MAX_HOP2_PAYMENTS = 200_000
"""Upper bound on hop-2 payments loaded into Python; the largest are kept (payments)."""

SEED_TABLES = ("flagged_accounts", "ring_seeds")
"""Temp tables that may seed a neighbourhood: the sweep's flags, and the accounts of a run's alerts (rings)."""

_COLUMNS = (
    "payment_id",
    "txn_time",
    "amount_cny",
    "payer_account",
    "payer_name",
    "payer_id_no",
    "payer_kind",
    "payer_birth",
    "payer_region",
    "payee_account",
    "payee_name",
    "payee_id_no",
    "payee_kind",
    "payee_birth",
    "payee_region",
)


class Flow(NamedTuple):
    """One payment seen from one end: when, how much, the other account, the payment id."""

    time: datetime
    amount: float
    other: str
    payment_id: str


@dataclass
class Neighbourhood:
    """The loaded graph plus time-sorted views of each node's payments."""

    graph: nx.MultiDiGraph
    seeds: frozenset[str]
    window: Window
    _out: dict[str, list[Flow]] = field(default_factory=dict)
    _in: dict[str, list[Flow]] = field(default_factory=dict)

    def outflows(self, node: str) -> list[Flow]:
        """Payments out of `node`, oldest first."""
        if node not in self._out:
            self._out[node] = sorted(
                Flow(data["time"], data["amount"], other, key)
                for _, other, key, data in self.graph.out_edges(node, keys=True, data=True)
            )
        return self._out[node]

    def inflows(self, node: str) -> list[Flow]:
        """Payments into `node`, oldest first."""
        if node not in self._in:
            self._in[node] = sorted(
                Flow(data["time"], data["amount"], other, key)
                for other, _, key, data in self.graph.in_edges(node, keys=True, data=True)
            )
        return self._in[node]

    def is_person(self, node: str) -> bool:
        return self.graph.nodes[node].get("kind") == "PERSON"


def between(flows: list[Flow], start: datetime, end: datetime) -> list[Flow]:
    """The flows with start <= time <= end (flows sorted by time)."""
    lo = bisect_left(flows, (start,))
    hi = bisect_right(flows, (end, float("inf")))
    return flows[lo:hi]


def flag_accounts(con: duckdb.DuckDBPyConnection, accounts, table: str = "flagged_accounts") -> None:
    """(Re)create a seed table such as `flagged_accounts` (which the runner fills) from account numbers."""
    if table not in SEED_TABLES:
        raise ValueError(f"unknown seed table {table!r}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} (account_no VARCHAR)")
    fill_table(con, table, {"account_no": sorted(set(accounts))})


def fill_table(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list]) -> None:
    """Insert columns of values through Arrow: one statement, fast (binding a long Python list is slow)."""
    con.register("fill_rows", pa.table(columns))
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM fill_rows")
    finally:
        con.unregister("fill_rows")


_cached: list = []  # [(weak reference to the connection, key, hops, Neighbourhood)], the latest last
_CACHE_SIZE = 3  # the run window, a rule's longer window (T3), and the rings' seeds


def load(
    con: duckdb.DuckDBPyConnection, window: Window, seed_table: str = "flagged_accounts", hops: int = 2
) -> Neighbourhood:
    """The neighbourhood of the accounts in `seed_table` within `window`, `hops` 1 (the seeds' own payments) or 2
    (their counterparties' too); cached for the connection while the seeds and the payment count stay the same,
    so the graph detectors and the rings of one run share one load."""
    if seed_table not in SEED_TABLES:
        raise ValueError(f"unknown seed table {seed_table!r}")
    fingerprint = con.execute(f"SELECT count(*), coalesce(sum(hash(account_no)), 0) FROM {seed_table}").fetchone()
    # count(*) is read from table metadata: checking it costs nothing however large the warehouse grows.
    key = (window, fingerprint, con.execute("SELECT count(*) FROM payments").fetchone())
    for reference, cached_key, cached_hops, found in _cached:
        if reference() is con and cached_key == key and cached_hops >= hops:
            return found
    found = _load(con, window, seed_table, hops)
    _cached[:] = [entry for entry in _cached if entry[0]() is con][-(_CACHE_SIZE - 1) :] + [
        (weakref.ref(con), key, hops, found)
    ]
    return found


def _load(con: duckdb.DuckDBPyConnection, window: Window, seed_table: str, hops: int) -> Neighbourhood:
    span = [window.start, window.end]
    con.execute(f"CREATE OR REPLACE TEMP TABLE nb_seed AS SELECT DISTINCT account_no FROM {seed_table}")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE nb_hop1 AS
        SELECT * FROM payments
        WHERE txn_time >= ? AND txn_time < ?
          AND (payer_account IN (SELECT account_no FROM nb_seed) OR payee_account IN (SELECT account_no FROM nb_seed))
    """,
        span,
    )
    columns = ", ".join(_COLUMNS)
    seeds = frozenset(row[0] for row in con.execute("SELECT account_no FROM nb_seed").fetchall())
    if hops == 1:
        return Neighbourhood(
            _build_graph(con.execute(f"SELECT {columns} FROM nb_hop1").fetchall(), seeds), seeds, window
        )
    con.execute("""
        CREATE OR REPLACE TEMP TABLE nb_ring1 AS
        SELECT account_no FROM (
            SELECT payer_account AS account_no FROM nb_hop1 UNION SELECT payee_account FROM nb_hop1)
        WHERE account_no IS NOT NULL AND account_no NOT IN (SELECT account_no FROM nb_seed)
    """)
    # Only counterparties with few payments are expanded: a supermarket's customers say nothing about a scheme.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE nb_expand AS
        SELECT account_no FROM (
            SELECT payer_account AS account_no FROM payments
            WHERE txn_time >= ? AND txn_time < ? AND payer_account IN (SELECT account_no FROM nb_ring1)
            UNION ALL
            SELECT payee_account FROM payments
            WHERE txn_time >= ? AND txn_time < ? AND payee_account IN (SELECT account_no FROM nb_ring1))
        GROUP BY account_no HAVING count(*) <= ?
    """,
        span + span + [MAX_NEIGHBOUR_PAYMENTS],
    )
    rows = con.execute(
        f"""
        SELECT {columns} FROM nb_hop1
        UNION ALL
        SELECT {columns} FROM (
            SELECT * FROM payments
            WHERE txn_time >= ? AND txn_time < ?
              AND (payer_account IN (SELECT account_no FROM nb_expand)
                   OR payee_account IN (SELECT account_no FROM nb_expand))
              AND coalesce(payer_account NOT IN (SELECT account_no FROM nb_seed), true)
              AND coalesce(payee_account NOT IN (SELECT account_no FROM nb_seed), true)
            ORDER BY amount_cny DESC, payment_id
            LIMIT ?)
    """,
        span + [MAX_HOP2_PAYMENTS],
    ).fetchall()
    return Neighbourhood(_build_graph(rows, seeds), seeds, window)


def _build_graph(rows: list[tuple], seeds: frozenset[str]) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph()
    for (
        payment_id,
        time,
        amount,
        payer,
        payer_name,
        payer_id,
        payer_kind,
        payer_birth,
        payer_region,
        payee,
        payee_name,
        payee_id,
        payee_kind,
        payee_birth,
        payee_region,
    ) in rows:
        # Cash has no account at one end; cash totals are summed in SQL where they matter (rings).
        if payer is None or payee is None or payer == payee or amount is None:
            continue
        for node, name, id_no, kind, birth, region in (
            (payer, payer_name, payer_id, payer_kind, payer_birth, payer_region),
            (payee, payee_name, payee_id, payee_kind, payee_birth, payee_region),
        ):
            if node not in graph:
                graph.add_node(
                    node, name=name, id_no=id_no, kind=kind, birth=birth, region=region, flagged=node in seeds
                )
        graph.add_edge(payer, payee, key=payment_id, time=time, amount=float(amount))
    for seed in seeds:
        if seed not in graph:
            graph.add_node(seed, name=None, id_no=None, kind=None, birth=None, region=None, flagged=True)
    return graph
