"""The flagged neighbourhood as a networkx MultiDiGraph: the only part of the warehouse graph detectors see.

Seeds are the accounts the sweep flagged (temp table `flagged_accounts`). We load, inside the window, every
payment touching a seed (hop 1) and the payments of the seeds' counterparties (hop 2), skipping busy
counterparties (merchants, utilities) and capping hop 2, so the graph grows with the flagged
neighbourhoods, never with the warehouse. One load is shared by every graph detector of a run, and the rings'
wider seeds grow it (`shared_graph`) rather than read it again.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
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

SEED_TABLES = ("flagged_accounts", "ring_seeds", "payout_hubs")
"""Temp tables that may seed a neighbourhood: the sweep's flags, the accounts of a run's alerts (rings), and the
flagged accounts that could pay periodic interest (T3)."""

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


EDGE_ROWS = (
    "payer_account IS NOT NULL AND payee_account IS NOT NULL AND payer_account <> payee_account"
    " AND amount_cny IS NOT NULL"
)
"""The rows of `nb_rows` that become edges: cash has no account at one end (rings sum cash in SQL), and a
self-payment moves nothing."""


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

    def empty(self) -> None:
        """Drop every node, payment and sorted flow (freed at once, without waiting for a collection)."""
        self.graph.clear()
        self._out.clear()
        self._in.clear()


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
_growing: list = []  # weak references to the connections inside `shared_graph`


@contextmanager
def shared_graph(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One detect run's flagged neighbourhood, read and built once: inside, a 2-hop load whose seeds include
    those of the graph already held for the same window (the rings' seeds hold the sweep's flags) grows that
    graph by the payments the new seeds add, instead of reading and building it again. The held graph then
    belongs to the new load. On leaving, the connection's graphs are dropped."""
    reference = weakref.ref(con)
    _growing.append(reference)
    try:
        yield
    finally:
        _growing.remove(reference)
        _cached[:] = [entry for entry in _cached if entry[0]() is not con]


def keep_only_window(con: duckdb.DuckDBPyConnection, window: Window) -> None:
    """Drop the connection's graphs of other windows (a rule's longer window): the rings grow only the run
    window's. A networkx graph holds reference cycles (its cached views), so dropping it frees nothing until a
    collection; at 10M lines an evicted graph kept about 1 GB through the rest of the night. Emptying it frees
    its nodes and payments at once, without a collection that would walk the run window's graph too."""

    def of_another_window(entry) -> bool:
        return entry[0]() is con and entry[1][0] != window

    evicted = [entry for entry in _cached if of_another_window(entry)]
    _cached[:] = [entry for entry in _cached if not of_another_window(entry)]
    for _, _, _, dropped in evicted:
        dropped.empty()


def load(
    con: duckdb.DuckDBPyConnection, window: Window, seed_table: str = "flagged_accounts", hops: int = 2
) -> Neighbourhood:
    """The neighbourhood of the accounts in `seed_table` within `window`, `hops` 1 (the seeds' own payments) or 2
    (their counterparties' too); cached for the connection while the seeds and the payment count stay the same,
    so the graph detectors of one run share one load (and, inside `shared_graph`, the rings too)."""
    if seed_table not in SEED_TABLES:
        raise ValueError(f"unknown seed table {seed_table!r}")
    fingerprint = con.execute(f"SELECT count(*), coalesce(sum(hash(account_no)), 0) FROM {seed_table}").fetchone()
    # count(*) is read from table metadata: checking it costs nothing however large the warehouse grows.
    key = (window, fingerprint, con.execute("SELECT count(*) FROM payments").fetchone())
    mine = [entry for entry in _cached if entry[0]() is con]
    for _, cached_key, cached_hops, found in mine:
        if cached_key == key and cached_hops >= hops:
            return found
    seeds = _select(con, window, seed_table, hops)
    base = None
    if hops == 2 and any(reference() is con for reference in _growing):
        base = next(
            (
                entry
                for entry in reversed(mine)
                if entry[2] == 2 and entry[1][0] == window and entry[1][2] == key[2] and entry[3].seeds <= seeds
            ),
            None,
        )
    if base is None:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM nb_rows WHERE {EDGE_ROWS}").fetchall()
        found = Neighbourhood(_build_graph(rows, seeds), seeds, window)
    else:
        mine.remove(base)  # its graph is grown in place: it now answers only for the new seeds
        found = Neighbourhood(_grow(con, base[3].graph, seeds), seeds, window)
    _cached[:] = mine[-(_CACHE_SIZE - 1) :] + [(weakref.ref(con), key, hops, found)]
    return found


def _select(con: duckdb.DuckDBPyConnection, window: Window, seed_table: str, hops: int) -> frozenset[str]:
    """Fill the temp table `nb_rows` with the neighbourhood's payments; return the seeds."""
    span = [window.start, window.end]
    con.execute(f"CREATE OR REPLACE TEMP TABLE nb_seed AS SELECT DISTINCT account_no FROM {seed_table}")
    columns = ", ".join(_COLUMNS)
    # only the columns the graph reads: all of them made this 1.4 s instead of 0.5 at 10M lines
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE nb_hop1 AS
        SELECT {columns} FROM payments
        WHERE txn_time >= ? AND txn_time < ?
          AND (payer_account IN (SELECT account_no FROM nb_seed) OR payee_account IN (SELECT account_no FROM nb_seed))
    """,
        span,
    )
    seeds = frozenset(row[0] for row in con.execute("SELECT account_no FROM nb_seed").fetchall())
    if hops == 1:
        con.execute(f"CREATE OR REPLACE TEMP TABLE nb_rows AS SELECT {columns} FROM nb_hop1")
        return seeds
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
    # The hop-2 payments are chosen on their ids and amounts alone, then read whole: choosing them with every
    # column, through IN-lists joined by OR, took 4 s at 10M lines (nb_expand and nb_seed hold each account once).
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE nb_rows AS
        WITH hop2 AS (
            SELECT p.payment_id FROM payments p
            LEFT JOIN nb_expand payer_expanded ON payer_expanded.account_no = p.payer_account
            LEFT JOIN nb_expand payee_expanded ON payee_expanded.account_no = p.payee_account
            LEFT JOIN nb_seed payer_seed ON payer_seed.account_no = p.payer_account
            LEFT JOIN nb_seed payee_seed ON payee_seed.account_no = p.payee_account
            WHERE p.txn_time >= $start AND p.txn_time < $end
              AND (payer_expanded.account_no IS NOT NULL OR payee_expanded.account_no IS NOT NULL)
              AND payer_seed.account_no IS NULL AND payee_seed.account_no IS NULL
            ORDER BY p.amount_cny DESC, p.payment_id
            LIMIT $cap)
        SELECT {columns} FROM nb_hop1
        UNION ALL
        SELECT {columns} FROM (
            SELECT {columns} FROM payments
            WHERE txn_time >= $start AND txn_time < $end AND payment_id IN (SELECT payment_id FROM hop2)
            ORDER BY amount_cny DESC, payment_id)
    """,
        {"start": window.start, "end": window.end, "cap": MAX_HOP2_PAYMENTS},
    )
    return seeds


def _grow(con: duckdb.DuckDBPyConnection, graph: nx.MultiDiGraph, seeds: frozenset[str]) -> nx.MultiDiGraph:
    """`graph`, built from an earlier `nb_rows` whose seeds are among `seeds`, made the graph of the current
    `nb_rows`: payments no longer in it (dropped by the hop-2 cap) removed, the payments it adds read and added.
    Without the cap every earlier payment stays: it touches one of `seeds` or a counterparty still expanded."""
    loaded = list(graph.edges(keys=True))
    con.register(
        "nb_loaded",
        pa.table(
            {
                "payer": [payer for payer, _, _ in loaded],
                "payee": [payee for _, payee, _ in loaded],
                "payment_id": [key for _, _, key in loaded],
            }
        ),
    )
    try:
        stale = con.execute(
            "SELECT l.payer, l.payee, l.payment_id FROM nb_loaded l ANTI JOIN nb_rows r USING (payment_id)"
        ).fetchall()
        added = con.execute(
            f"SELECT {', '.join('r.' + column for column in _COLUMNS)} FROM nb_rows r "
            f"ANTI JOIN nb_loaded l USING (payment_id) WHERE {EDGE_ROWS} ORDER BY r.payment_id"
        ).fetchall()
    finally:
        con.unregister("nb_loaded")
    for payer, payee, payment_id in stale:
        graph.remove_edge(payer, payee, key=payment_id)
    # a fresh build holds only the seeds and the ends of its payments
    for node in {end for payer, payee, _ in stale for end in (payer, payee)}:
        if node not in seeds and graph.degree(node) == 0:
            graph.remove_node(node)
    for seed in seeds:
        if seed in graph:
            graph.nodes[seed]["flagged"] = True
    return _add_rows(graph, added, seeds)


def _build_graph(rows: list[tuple], seeds: frozenset[str]) -> nx.MultiDiGraph:
    return _add_rows(nx.MultiDiGraph(), rows, seeds)


def _add_rows(graph: nx.MultiDiGraph, rows: list[tuple], seeds: frozenset[str]) -> nx.MultiDiGraph:
    """Add payment rows (`_COLUMNS`) as edges, their ends as nodes; every seed becomes a node."""
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
        if payer is None or payee is None or payer == payee or amount is None:  # as EDGE_ROWS
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
