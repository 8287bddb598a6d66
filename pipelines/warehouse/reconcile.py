"""Two report lines of one payment → one `payments` row, from `txn`: whole (rebuild) or for the lines that arrived.

A transfer between two reporting banks is reported as OUT by the payer's bank and IN by the payee's.
Lines pair by the same `match_no`, else by mirrored accounts, equal CNY amount and times within
`settings.payment_match_minutes`; each line is used once. Unpaired lines are one-leg payments.

Pairing only ever looks at lines that share a match_no or a flow (payer, payee, amount), so bringing
payments up to date needs just the lines that share one with a line that arrived or was replaced — taken
transitively, since a line paired by match_no leaves its flow's tolerance round. The caller holds the
transaction (pipelines.warehouse.prepare).
"""

from __future__ import annotations

import duckdb

from pipelines.settings import Settings
from pipelines.warehouse.db import drop_temp_tables, mark_changed_payments, rows_that_differ, scalar

MAX_TOLERANCE_ROUNDS = 5

# The flow a line belongs to for tolerance pairing (payer|payee|amount); NULL when it cannot pair that way.
FLOW_KEY_SQL = """CASE WHEN counterparty_account_no IS NOT NULL AND amount_cny IS NOT NULL THEN
    CASE direction WHEN 'OUT' THEN account_no || '|' || counterparty_account_no
                   ELSE counterparty_account_no || '|' || account_no END || '|' || amount_cny::VARCHAR END"""

PAIR_BY_MATCH_NO = """
INSERT INTO reconcile_pairs
WITH outs AS (SELECT txn_id, match_no, row_number() OVER (PARTITION BY match_no ORDER BY txn_time, txn_id) AS k
              FROM {lines} WHERE direction = 'OUT' AND match_no IS NOT NULL),
     ins AS (SELECT txn_id, match_no, row_number() OVER (PARTITION BY match_no ORDER BY txn_time, txn_id) AS k
             FROM {lines} WHERE direction = 'IN' AND match_no IS NOT NULL)
SELECT outs.txn_id, ins.txn_id, 'match_no' FROM outs JOIN ins USING (match_no, k)
"""

# One round pairs lines that are each other's closest candidate; later rounds pair what is left.
PAIR_BY_TOLERANCE = """
INSERT INTO reconcile_pairs
WITH outs AS (SELECT txn_id, account_no, counterparty_account_no, amount_cny, txn_time FROM {lines}
              WHERE direction = 'OUT' AND counterparty_account_no IS NOT NULL AND amount_cny IS NOT NULL
                AND txn_id NOT IN (SELECT out_txn_id FROM reconcile_pairs)),
     ins AS (SELECT txn_id, account_no, counterparty_account_no, amount_cny, txn_time FROM {lines}
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

# Every payment's lines: a pair, or one line alone.
LEGS_SQL = """
CREATE OR REPLACE TEMP TABLE reconcile_legs AS
SELECT * FROM (
    SELECT out_txn_id, in_txn_id, match_method FROM reconcile_pairs
    UNION ALL
    SELECT txn_id, NULL, 'one_leg' FROM {lines}
    WHERE direction = 'OUT' AND txn_id NOT IN (SELECT out_txn_id FROM reconcile_pairs)
    UNION ALL
    SELECT NULL, txn_id, 'one_leg' FROM {lines}
    WHERE direction = 'IN' AND txn_id NOT IN (SELECT in_txn_id FROM reconcile_pairs))
"""

INSERT_PAYMENTS = """
INSERT INTO payments
WITH legs AS (SELECT out_txn_id, in_txn_id, match_method FROM reconcile_legs
              WHERE hash(coalesce(out_txn_id, in_txn_id)) % $parts = $part)
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
    coalesce(o.place_code, i.place_code) AS place_code,
    o.institution_code AS out_institution,
    o.counterparty_institution AS out_counterparty_institution,
    o.txn_ref AS out_txn_ref,
    i.institution_code AS in_institution,
    i.counterparty_institution AS in_counterparty_institution,
    i.txn_ref AS in_txn_ref
FROM legs
LEFT JOIN txn o ON o.txn_id = legs.out_txn_id
LEFT JOIN txn i ON i.txn_id = legs.in_txn_id
"""

PAYMENTS_PER_PART = 3_000_000
"""Payments inserted per statement: 5.2M in one (a 10M-line county) ran out of a 2 GB memory limit; fewer, larger
parts are faster (one insert of 5.2M took 26 s, two 31 s, five 32 s)."""


def _pair_and_insert(con: duckdb.DuckDBPyConnection, settings: Settings, lines: str) -> None:
    """Pair the report lines in `lines` (all of txn, or a subset closed under pairing) and insert their payments."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE reconcile_pairs (out_txn_id VARCHAR, in_txn_id VARCHAR, match_method VARCHAR)"
    )
    try:
        con.execute(PAIR_BY_MATCH_NO.format(lines=lines))
        for _ in range(MAX_TOLERANCE_ROUNDS):
            added = scalar(
                con, PAIR_BY_TOLERANCE.format(lines=lines), {"tolerance_seconds": settings.payment_match_minutes * 60}
            )
            if not added:
                break
        con.execute(LEGS_SQL.format(lines=lines))
        # the insert is split so that its joins fit the memory limit
        parts = max(1, -(-int(scalar(con, "SELECT count(*) FROM reconcile_legs")) // PAYMENTS_PER_PART))
        for part in range(parts):
            con.execute(INSERT_PAYMENTS, {"part": part, "parts": parts})
    finally:
        drop_temp_tables(con, "reconcile_pairs", "reconcile_legs")


def rebuild_payments(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Replace `payments` with a fresh reconciliation of `txn`; returns the count per match method."""
    con.execute("DELETE FROM payments")
    _pair_and_insert(con, settings, "txn")
    return dict(con.execute("SELECT match_method, count(*) FROM payments GROUP BY 1 ORDER BY 1").fetchall())


def update_payments(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Bring `payments` up to date for the lines in temp table `touched_lines` (arrived, or replaced: their
    earlier versions), and every line they could pair with; returns how many lines were paired again."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE reconcile_match AS
            SELECT DISTINCT match_no FROM touched_lines WHERE match_no IS NOT NULL;
        CREATE OR REPLACE TEMP TABLE reconcile_flow AS
            SELECT DISTINCT {FLOW_KEY_SQL} AS flow_key FROM touched_lines WHERE {FLOW_KEY_SQL} IS NOT NULL""")
    try:
        while True:
            con.execute(f"""CREATE OR REPLACE TEMP TABLE reconcile_lines AS
                SELECT txn_id, direction, match_no, account_no, counterparty_account_no, amount_cny, txn_time,
                       {FLOW_KEY_SQL} AS flow_key
                FROM txn
                WHERE match_no IN (SELECT match_no FROM reconcile_match)
                   OR {FLOW_KEY_SQL} IN (SELECT flow_key FROM reconcile_flow)
                   OR txn_id IN (SELECT txn_id FROM touched_lines)""")
            # A line found through its flow may carry a match_no that pairs it elsewhere, and the other way round.
            added_match = scalar(
                con,
                """INSERT INTO reconcile_match
                SELECT DISTINCT match_no FROM reconcile_lines
                WHERE match_no IS NOT NULL AND match_no NOT IN (SELECT match_no FROM reconcile_match)""",
            )
            added_flow = scalar(
                con,
                """INSERT INTO reconcile_flow
                SELECT DISTINCT flow_key FROM reconcile_lines
                WHERE flow_key IS NOT NULL AND flow_key NOT IN (SELECT flow_key FROM reconcile_flow)""",
            )
            if not (added_match or added_flow):
                break
        replaced = """out_txn_id IN (SELECT txn_id FROM reconcile_lines UNION ALL SELECT txn_id FROM touched_lines)
               OR in_txn_id IN (SELECT txn_id FROM reconcile_lines UNION ALL SELECT txn_id FROM touched_lines)"""
        con.execute(f"CREATE OR REPLACE TEMP TABLE payments_before AS SELECT * FROM payments WHERE {replaced}")
        con.execute(f"DELETE FROM payments WHERE {replaced}")
        _pair_and_insert(con, settings, "reconcile_lines")
        con.execute("""CREATE OR REPLACE TEMP TABLE payments_after AS SELECT * FROM payments
            WHERE out_txn_id IN (SELECT txn_id FROM reconcile_lines) OR in_txn_id IN (SELECT txn_id FROM reconcile_lines)""")
        # Payments paired again as they were change nothing; those that went or came are what the stored features
        # (their accounts) and the kept window results (their days) must see.
        mark_changed_payments(con, rows_that_differ("SELECT * FROM payments_before", "SELECT * FROM payments_after"))
        return int(scalar(con, "SELECT count(*) FROM reconcile_lines"))
    finally:
        drop_temp_tables(
            con, "reconcile_match", "reconcile_flow", "reconcile_lines", "payments_before", "payments_after"
        )
