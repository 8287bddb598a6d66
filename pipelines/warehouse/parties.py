"""Parties: one row per account seen as a reporting customer, with the holder facts the rules need.

Built from `txn`, whole or for the accounts whose lines arrived; the latest non-empty report of each fact wins
(ties in time go to the larger txn_id, so a rebuild and an update agree). The caller holds the transaction.
"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.db import drop_temp_tables, mark_changed_accounts, rows_that_differ, scalar

HOLDER_FACTS = {
    "institution_code": "institution_code",
    "holder_name": "account_name",
    "holder_id_no": "customer_id_no",
    "holder_kind": "customer_kind",
    "holder_birth": "customer_birth",
    "holder_region": "customer_region",
    "holder_phone": "customer_phone",
    "legal_rep_id_no": "legal_rep_id_no",
    "agent_id_no": "agent_id_no",
    "occupation": "customer_occupation",
    "account_opened": "account_opened",
}


def _insert_parties(con: duckdb.DuckDBPyConnection, where: str) -> None:
    latest = ",\n        ".join(
        f"arg_max({source}, (txn_time, txn_id)) FILTER (WHERE {source} IS NOT NULL) AS {target}"
        for target, source in HOLDER_FACTS.items()
    )
    con.execute(f"""
        INSERT INTO parties (account_no, {", ".join(HOLDER_FACTS)}, first_seen, last_seen, n_txn)
        SELECT account_no,
            {latest},
            min(txn_time), max(txn_time), count(*)
        FROM txn {where} GROUP BY account_no""")


def refresh_parties(con: duckdb.DuckDBPyConnection) -> int:
    """Replace `parties` from `txn`; returns the number of accounts."""
    con.execute("DELETE FROM parties")
    _insert_parties(con, "")
    return int(scalar(con, "SELECT count(*) FROM parties"))


def update_parties(con: duckdb.DuckDBPyConnection) -> int:
    """Recompute the accounts of the lines in temp table `touched_lines`; returns how many."""
    con.execute("""CREATE OR REPLACE TEMP TABLE parties_before AS
        SELECT * FROM parties WHERE account_no IN (SELECT account_no FROM touched_lines)""")
    con.execute("DELETE FROM parties WHERE account_no IN (SELECT account_no FROM touched_lines)")
    _insert_parties(con, "WHERE account_no IN (SELECT account_no FROM touched_lines)")
    # an account whose holder facts changed (a resubmitted line with another opening date) has stale features
    after = "SELECT * FROM parties WHERE account_no IN (SELECT account_no FROM touched_lines)"
    mark_changed_accounts(con, f"SELECT account_no FROM ({rows_that_differ('SELECT * FROM parties_before', after)})")
    drop_temp_tables(con, "parties_before")
    return int(scalar(con, "SELECT count(DISTINCT account_no) FROM touched_lines"))
