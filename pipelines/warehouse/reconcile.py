"""Two report lines of one payment → one `payments` row, rebuilt whole from `txn`.

A transfer between two reporting banks is reported as OUT by the payer's bank and IN by the payee's.
Lines pair by the same `match_no`, else by mirrored accounts, equal CNY amount and times within
`settings.payment_match_minutes`; each line is used once. Unpaired lines are one-leg payments.
"""

from __future__ import annotations

import duckdb

from pipelines.settings import Settings
from pipelines.warehouse.db import scalar, transaction

MAX_TOLERANCE_ROUNDS = 5

PAIR_BY_MATCH_NO = """
INSERT INTO reconcile_pairs
WITH outs AS (SELECT txn_id, match_no, row_number() OVER (PARTITION BY match_no ORDER BY txn_time, txn_id) AS k
              FROM txn WHERE direction = 'OUT' AND match_no IS NOT NULL),
     ins AS (SELECT txn_id, match_no, row_number() OVER (PARTITION BY match_no ORDER BY txn_time, txn_id) AS k
             FROM txn WHERE direction = 'IN' AND match_no IS NOT NULL)
SELECT outs.txn_id, ins.txn_id, 'match_no' FROM outs JOIN ins USING (match_no, k)
"""

# One round pairs lines that are each other's closest candidate; later rounds pair what is left.
PAIR_BY_TOLERANCE = """
INSERT INTO reconcile_pairs
WITH outs AS (SELECT txn_id, account_no, counterparty_account_no, amount_cny, txn_time FROM txn
              WHERE direction = 'OUT' AND counterparty_account_no IS NOT NULL AND amount_cny IS NOT NULL
                AND txn_id NOT IN (SELECT out_txn_id FROM reconcile_pairs)),
     ins AS (SELECT txn_id, account_no, counterparty_account_no, amount_cny, txn_time FROM txn
             WHERE direction = 'IN' AND counterparty_account_no IS NOT NULL AND amount_cny IS NOT NULL
               AND txn_id NOT IN (SELECT in_txn_id FROM reconcile_pairs)),
     candidates AS (
        SELECT outs.txn_id AS out_id, ins.txn_id AS in_id, abs(epoch(outs.txn_time) - epoch(ins.txn_time)) AS gap
        FROM outs JOIN ins ON outs.account_no = ins.counterparty_account_no
            AND outs.counterparty_account_no = ins.account_no AND outs.amount_cny = ins.amount_cny
        WHERE abs(epoch(outs.txn_time) - epoch(ins.txn_time)) <= $tolerance_seconds),
     ranked AS (
        SELECT *, row_number() OVER (PARTITION BY out_id ORDER BY gap, in_id) AS out_rank,
                  row_number() OVER (PARTITION BY in_id ORDER BY gap, out_id) AS in_rank
        FROM candidates)
SELECT out_id, in_id, 'tolerance' FROM ranked WHERE out_rank = 1 AND in_rank = 1
"""

INSERT_PAYMENTS = """
INSERT INTO payments
WITH legs AS (
    SELECT out_txn_id, in_txn_id, match_method FROM reconcile_pairs
    UNION ALL
    SELECT txn_id, NULL, 'one_leg' FROM txn
    WHERE direction = 'OUT' AND txn_id NOT IN (SELECT out_txn_id FROM reconcile_pairs)
    UNION ALL
    SELECT NULL, txn_id, 'one_leg' FROM txn
    WHERE direction = 'IN' AND txn_id NOT IN (SELECT in_txn_id FROM reconcile_pairs)
)
SELECT
    md5(CASE WHEN o.txn_id IS NULL THEN i.txn_id WHEN i.txn_id IS NULL THEN o.txn_id
             ELSE least(o.txn_id, i.txn_id) || '|' || greatest(o.txn_id, i.txn_id) END) AS payment_id,
    o.txn_id AS out_txn_id,
    i.txn_id AS in_txn_id,
    legs.match_method,
    least(o.txn_time, i.txn_time) AS txn_time,
    coalesce(o.amount_cny, i.amount_cny) AS amount_cny,
    CASE WHEN o.txn_id IS NOT NULL THEN o.account_no
         WHEN NOT i.is_cash THEN i.counterparty_account_no END AS payer_account,
    coalesce(o.account_name, i.counterparty_name) AS payer_name,
    coalesce(o.customer_id_no, i.counterparty_id_no) AS payer_id_no,
    coalesce(o.customer_kind, i.counterparty_kind) AS payer_kind,
    coalesce(o.customer_birth, i.counterparty_birth) AS payer_birth,
    coalesce(o.customer_region, i.counterparty_region) AS payer_region,
    CASE WHEN i.txn_id IS NOT NULL THEN i.account_no
         WHEN NOT o.is_cash THEN o.counterparty_account_no END AS payee_account,
    coalesce(i.account_name, o.counterparty_name) AS payee_name,
    coalesce(i.customer_id_no, o.counterparty_id_no) AS payee_id_no,
    coalesce(i.customer_kind, o.counterparty_kind) AS payee_kind,
    coalesce(i.customer_birth, o.counterparty_birth) AS payee_birth,
    coalesce(i.customer_region, o.counterparty_region) AS payee_region,
    coalesce(o.method, i.method) AS method,
    coalesce(o.is_cash, i.is_cash) AS is_cash,
    coalesce(o.channel, i.channel) AS channel,
    coalesce(o.purpose, i.purpose) AS purpose,
    coalesce(o.memo, i.memo) AS memo,
    coalesce(o.place_code, i.place_code) AS place_code
FROM legs
LEFT JOIN txn o ON o.txn_id = legs.out_txn_id
LEFT JOIN txn i ON i.txn_id = legs.in_txn_id
"""


def rebuild_payments(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Replace `payments` with a fresh reconciliation of `txn`; returns the count per match method."""
    con.execute("DROP TABLE IF EXISTS reconcile_pairs")
    con.execute("CREATE TEMP TABLE reconcile_pairs (out_txn_id VARCHAR, in_txn_id VARCHAR, match_method VARCHAR)")
    try:
        with transaction(con):
            con.execute(PAIR_BY_MATCH_NO)
            for _ in range(MAX_TOLERANCE_ROUNDS):
                added = scalar(con, PAIR_BY_TOLERANCE, {"tolerance_seconds": settings.payment_match_minutes * 60})
                if not added:
                    break
            con.execute("DELETE FROM payments")
            con.execute(INSERT_PAYMENTS)
        return dict(con.execute("SELECT match_method, count(*) FROM payments GROUP BY 1 ORDER BY 1").fetchall())
    finally:
        con.execute("DROP TABLE IF EXISTS reconcile_pairs")
