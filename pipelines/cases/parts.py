"""Which part of a split lead each account belongs to (拆分线索): the rule, the money it reads from the warehouse,
and the record of splits in the case store. Used by the split itself (pipelines.cases.split) and by publishing,
which divides a ring holding the cores of two parts the same way.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pipelines.cases.store import CaseStore, events
from pipelines.warehouse.db import drop_temp_tables, listed, registered

Ties = dict[tuple[str, str], Decimal]
"""Money moved between two accounts, either way: (smaller account number, larger) → yuan."""


def assign_accounts(roles: dict[str, str], cores: list[list[str]], ties: Ties) -> list[dict[str, str]]:
    """Each part's accounts with their roles. A part's first core is its hub, its other cores collectors. Every
    other account of the lead (not a participant) goes to the part it moved most money with, counting the
    accounts already placed, in rounds from the cores outwards (a tie goes to the earlier part); one moving no
    money with any part stays with the first (the lead as it was). A participant goes to every part whose
    accounts it paid into or was paid by ("also in"), or to the first part when none."""
    neighbours: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (one, other), amount in ties.items():
        neighbours[one][other] = neighbours[other][one] = amount
    placed: dict[str, int] = {}
    parts: list[dict[str, str]] = [{} for _ in cores]
    for index, part_cores in enumerate(cores):
        for rank, account in enumerate(part_cores):
            placed[account] = index
            parts[index][account] = "hub" if rank == 0 else "collector"
    others = sorted(a for a, role in roles.items() if a not in placed and role != "investor")
    while others:
        chosen = {}
        for account in others:
            money = [Decimal(0)] * len(cores)
            for other, amount in neighbours[account].items():
                if other in placed:
                    money[placed[other]] += amount
            if max(money) > 0:
                chosen[account] = money.index(max(money))
        if not chosen:
            break
        placed.update(chosen)
        others = [a for a in others if a not in chosen]
    for account in others:
        placed[account] = 0
    for account, index in placed.items():
        if account not in parts[index]:
            # a hub that is no part's first core is gathering for that part's hub now
            parts[index][account] = "collector" if roles[account] == "hub" else roles[account]
    for account in sorted(a for a, role in roles.items() if role == "investor"):
        paid = {placed[other] for other, amount in neighbours[account].items() if other in placed and amount > 0}
        for index in sorted(paid) or [0]:
            parts[index][account] = "investor"
    return parts


def money_ties(con: duckdb.DuckDBPyConnection, accounts: list[str], start: datetime, end: datetime) -> Ties:
    """Money between any two of `accounts` in [start, end), from the warehouse's payments."""
    with listed(con, "tie_accounts", sorted(accounts)):
        rows = con.execute(
            """
            SELECT least(payer_account, payee_account), greatest(payer_account, payee_account), sum(amount_cny)
            FROM payments
            WHERE payer_account IN (SELECT value FROM tie_accounts) AND payee_account IN (SELECT value FROM tie_accounts)
              AND txn_time >= $start AND txn_time < $end AND amount_cny IS NOT NULL
            GROUP BY ALL""",
            {"start": start, "end": end},
        ).fetchall()
    return {(one, other): Decimal(amount) for one, other, amount in rows}


def ring_key_of(hub_account: str) -> str:
    """The ring key detection gives a ring around this hub (detectors.rings: md5 of the hub account)."""
    return hashlib.md5(hub_account.encode("utf-8")).hexdigest()


@contextmanager
def staged_rings(con: duckdb.DuckDBPyConnection, run_id: str, rings: Iterable) -> Iterator[None]:
    """Rings (publishing's RingFacts) as `rings` and `ring_members` of `run_id`, in temporary tables that hide the
    warehouse's own while the shared queries run inside the block (they read those tables by name)."""
    try:
        con.execute(
            "CREATE TEMP TABLE rings (ring_id VARCHAR, run_id VARCHAR, hub_account VARCHAR, "
            "member_accounts VARCHAR[], window_start TIMESTAMP, window_end TIMESTAMP, evidence_payments VARCHAR[])"
        )
        con.execute(
            "CREATE TEMP TABLE ring_members (run_id VARCHAR, ring_id VARCHAR, account_no VARCHAR, role VARCHAR)"
        )
        staged = list(rings)
        accounts = [(ring, a) for ring in staged for a in ring.accounts]
        texts, lists = pa.string(), pa.list_(pa.string())
        # through Arrow, one statement a table: DuckDB's executemany goes row by row, and binding the accounts
        # and payments as list parameters tries to import pandas for every element (warehouse.registered)
        ring_rows = pa.table(
            {
                "ring_id": pa.array([ring.ring_key for ring in staged], texts),
                "hub_account": pa.array([ring.hub_account for ring in staged], texts),
                "member_accounts": pa.array(
                    [[a["account_no"] for a in ring.accounts if a["role"] != "investor"] for ring in staged], lists
                ),
                "window_start": pa.array([ring.window_start for ring in staged], pa.timestamp("us")),
                "window_end": pa.array([ring.window_end for ring in staged], pa.timestamp("us")),
                "evidence_payments": pa.array([[p["payment_id"] for p in ring.payments] for ring in staged], lists),
            }
        )
        member_rows = pa.table(
            {
                "ring_id": pa.array([ring.ring_key for ring, _ in accounts], texts),
                "account_no": pa.array([a["account_no"] for _, a in accounts], texts),
                "role": pa.array([a["role"] for _, a in accounts], texts),
            }
        )
        with registered(con, "staged_rings", ring_rows), registered(con, "staged_members", member_rows):
            con.execute(
                "INSERT INTO temp.rings SELECT ring_id, $run_id, hub_account, member_accounts, window_start, "
                "window_end, evidence_payments FROM staged_rings",
                {"run_id": run_id},
            )
            con.execute(
                "INSERT INTO temp.ring_members SELECT $run_id, ring_id, account_no, role FROM staged_members",
                {"run_id": run_id},
            )
        yield
    finally:
        drop_temp_tables(con, "temp.rings", "temp.ring_members")


def split_links(lead: dict) -> dict:
    """From a lead's split notes: {"split_from": the lead it was split from (None for an original),
    "split_into": the parts split from it, "siblings": the other parts split off with it}."""
    me = lead["lead_id"]
    notes = [note for note in lead.get("why") or [] if note.get("kind") == "analyst_split"]
    split_from = next((n["split_from"] for n in notes if n["split_from"] != me), None)
    split_into = [p for n in notes if n["split_from"] == me for p in n["parts"] if p != me]
    siblings = [p for n in notes if n["split_from"] == split_from for p in n["parts"] if p not in (me, split_from)]
    return {
        "split_from": split_from,
        "split_into": list(dict.fromkeys(split_into)),
        "siblings": list(dict.fromkeys(siblings)),
    }


def split_families(conn: Connection) -> list[list[str]]:
    """The leads split apart from each other, as lists of lead ids (a part split again joins its family)."""
    family_of: dict[str, int] = {}
    families: list[set[str]] = []
    for (detail,) in conn.execute(sa.select(events.c.detail).where(events.c.action == "split").order_by(events.c.seq)):
        parts = set(detail["parts"])
        joined = sorted({family_of[p] for p in parts if p in family_of})
        if joined:
            target = joined[0]
            for other in joined[1:]:
                families[target] |= families[other]
                families[other] = set()
            families[target] |= parts
        else:
            target = len(families)
            families.append(set(parts))
        for p in families[target]:
            family_of[p] = target
    return [sorted(family) for family in families if family]


def earlier_events(store: CaseStore, lead: dict) -> list[dict]:
    """For a part split off another lead: that lead's events up to the split (the history the part shares, the
    split itself last); [] for any other lead."""
    split_from = split_links(lead)["split_from"]
    if not split_from or not lead["events"]:
        return []
    query = (
        sa.select(events)
        .where(events.c.lead_id == split_from, events.c.seq < lead["events"][0]["seq"])
        .order_by(events.c.seq)
    )
    with store.read() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
