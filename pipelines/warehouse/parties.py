"""Parties: one row per account seen as a reporting customer, with the holder facts the rules need.

Rebuilt whole from `txn` after each ingest; the latest non-empty report of each fact wins.
"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.db import scalar, transaction

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


def refresh_parties(con: duckdb.DuckDBPyConnection) -> int:
    """Replace `parties` from `txn`; returns the number of accounts."""
    latest = ",\n        ".join(
        f"arg_max({source}, txn_time) FILTER (WHERE {source} IS NOT NULL) AS {target}"
        for target, source in HOLDER_FACTS.items()
    )
    with transaction(con):
        con.execute("DELETE FROM parties")
        con.execute(f"""
            INSERT INTO parties (account_no, {", ".join(HOLDER_FACTS)}, first_seen, last_seen, n_txn)
            SELECT account_no,
                {latest},
                min(txn_time), max(txn_time), count(*)
            FROM txn GROUP BY account_no""")
    return int(scalar(con, "SELECT count(*) FROM parties"))
