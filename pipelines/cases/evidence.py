"""A lead's money in both directions, computed once: every payment across the core's boundary is classed
(participants' money in, other money in, forwarding inside the core, payouts to participants, commissions,
transfers to controllers, cash withdrawals, other money out), totalled exactly, counted per day, and sampled
for the stored evidence. The narrative, header, queue, timeline and exports all read these figures.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import duckdb

from pipelines.vocabulary import FLOW_KINDS

INNER_ROLES = ("hub", "collector", "other")
"""Accounts inside the core's boundary: money between them is forwarding, neither in nor out."""

IN_KINDS = ("in_participant", "in_other")
OUT_KINDS = ("payout", "commission", "to_controller", "cash_out", "out_other")

SAMPLE_PER_KIND = 100
"""Evidence payments kept per kind of flow, the largest first; the totals always cover every payment."""

# Every member account of the rings of $run_id with its role and its ring's hub and window: the start of a WITH
# list, continued by this module's and by publishing's queries.
RING_MEMBERS_CTE = """
WITH listed AS (
    SELECT DISTINCT ring_id, unnest(member_accounts) AS account_no, hub_account, window_start, window_end
    FROM rings WHERE run_id = $run_id
),
members AS (
    SELECT l.*, coalesce(m.role, 'other') AS role
    FROM listed l LEFT JOIN ring_members m ON m.run_id = $run_id AND m.ring_id = l.ring_id
        AND m.account_no = l.account_no
)"""

# One row per payment touching an inner account of a ring, classed. Needs `rings` and `ring_members` of $run_id.
CLASSIFIED_SQL = (
    RING_MEMBERS_CTE
    + f""",
inner_accounts AS (SELECT * FROM members WHERE role IN {INNER_ROLES}),
touching AS (
    SELECT i.ring_id, i.role AS inner_role, 'in' AS side, p.*
    FROM inner_accounts i JOIN payments p ON p.payee_account = i.account_no
        AND p.txn_time >= i.window_start AND p.txn_time < i.window_end
    UNION ALL
    SELECT i.ring_id, i.role, 'out', p.*
    FROM inner_accounts i JOIN payments p ON p.payer_account = i.account_no
        AND p.txn_time >= i.window_start AND p.txn_time < i.window_end
),
sided AS (
    SELECT t.*,
           EXISTS (SELECT 1 FROM inner_accounts o WHERE o.ring_id = t.ring_id
                   AND o.account_no = CASE WHEN t.side = 'in' THEN t.payer_account ELSE t.payee_account END)
               AS other_end_inner,
           -- a participant is an individual from outside the ring: its controllers and promoters paying in
           -- are not (publishing's participants CTE counts the same people, for the provinces)
           t.side = 'in' AND t.payer_kind = 'PERSON'
               AND NOT EXISTS (SELECT 1 FROM members m WHERE m.ring_id = t.ring_id AND m.account_no = t.payer_account)
               AS from_participant,
           (SELECT any_value(m.role) FROM members m WHERE m.ring_id = t.ring_id AND m.account_no = t.payee_account)
               AS payee_role
    FROM touching t
),
participants AS (
    SELECT DISTINCT ring_id, payer_account FROM sided WHERE from_participant AND payer_account IS NOT NULL
),
classified AS (
    SELECT s.*,
        CASE
            WHEN s.other_end_inner THEN 'forward'
            WHEN s.from_participant THEN 'in_participant'
            WHEN s.side = 'in' THEN 'in_other'
            WHEN s.is_cash OR s.payee_account IS NULL THEN 'cash_out'
            WHEN s.payee_role = 'controller' THEN 'to_controller'
            WHEN s.payee_role = 'promoter' THEN 'commission'
            WHEN EXISTS (SELECT 1 FROM participants q WHERE q.ring_id = s.ring_id AND q.payer_account = s.payee_account)
                THEN 'payout'
            ELSE 'out_other'
        END AS flow
    FROM sided s
    -- a forwarding payment is seen from both of its ends: keep it once, from the payer's side
    WHERE NOT (s.other_end_inner AND s.side = 'in')
)
"""
)

EVIDENCE_QUERIES = {
    "kinds": """
        SELECT ring_id, flow, count(*) AS n, sum(amount_cny) AS amount,
               count(DISTINCT CASE WHEN flow = 'payout' THEN payee_account END) AS payees
        FROM classified GROUP BY ring_id, flow""",
    "participants": """
        SELECT ring_id, count(DISTINCT coalesce(payer_id_no, payer_account, payer_name)) AS n
        FROM classified WHERE flow = 'in_participant' GROUP BY ring_id""",
    "days": """
        SELECT ring_id, CAST(txn_time AS DATE) AS day,
               coalesce(sum(amount_cny) FILTER (WHERE flow IN ('in_participant', 'in_other')), 0) AS inflow,
               coalesce(sum(amount_cny) FILTER (WHERE flow NOT IN ('in_participant', 'in_other', 'forward')), 0)
                   AS outflow
        FROM classified WHERE flow <> 'forward' GROUP BY ring_id, day ORDER BY ring_id, day""",
    # the largest payments of each kind, and every payment of the ring's own evidence subgraph (detectors.rings)
    "sample": f"""
        , ring_evidence AS (SELECT ring_id, unnest(evidence_payments) AS payment_id FROM rings WHERE run_id = $run_id)
        SELECT ring_id, payment_id, flow FROM (
            SELECT c.ring_id, c.payment_id, c.flow,
                   row_number() OVER (PARTITION BY c.ring_id, c.flow ORDER BY c.amount_cny DESC, c.payment_id) AS rank,
                   e.payment_id IS NOT NULL AS in_ring_evidence
            FROM classified c LEFT JOIN ring_evidence e ON e.ring_id = c.ring_id AND e.payment_id = c.payment_id)
        WHERE rank <= {SAMPLE_PER_KIND} OR in_ring_evidence ORDER BY ring_id, flow, rank""",
}


def _grouped(con: duckdb.DuckDBPyConnection, sql: str, run_id: str) -> dict[str, list[dict]]:
    cursor = con.execute(CLASSIFIED_SQL + sql, {"run_id": run_id})
    names = [column[0] for column in cursor.description]
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in cursor.fetchall():
        record = dict(zip(names, row))
        grouped[record["ring_id"]].append(record)
    return grouped


def read_evidence(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, dict]:
    """ring id → {"figures": the ring's money figures, "sample": {payment_id: flow kind}} for one run."""
    found = {name: _grouped(con, sql, run_id) for name, sql in EVIDENCE_QUERIES.items()}
    rings = set(found["kinds"]) | set(found["sample"])
    result = {}
    for ring_id in rings:
        kinds = {row["flow"]: row for row in found["kinds"].get(ring_id, [])}
        sample = {row["payment_id"]: row["flow"] for row in found["sample"].get(ring_id, [])}
        shown: defaultdict[str, int] = defaultdict(int)
        for kind in sample.values():
            shown[kind] += 1
        flows: dict[str, dict] = {
            kind: {
                "count": int(kinds[kind]["n"]) if kind in kinds else 0,
                "amount": Decimal(kinds[kind]["amount"]) if kind in kinds else Decimal(0),
                "shown": shown[kind],
            }
            for kind in FLOW_KINDS
        }
        flows["payout"]["participants"] = int(kinds["payout"]["payees"]) if "payout" in kinds else 0
        people = found["participants"].get(ring_id) or [{"n": 0}]
        result[ring_id] = {
            "figures": {
                "total_in": sum((flows[kind]["amount"] for kind in IN_KINDS), Decimal(0)),
                "total_out": sum((flows[kind]["amount"] for kind in OUT_KINDS), Decimal(0)),
                "participants": int(people[0]["n"]),
                "flows": flows,
                "days": [
                    {
                        "day": row["day"].isoformat(),
                        "inflow": Decimal(row["inflow"]),
                        "outflow": Decimal(row["outflow"]),
                    }
                    for row in found["days"].get(ring_id, [])
                ],
            },
            "sample": sample,
        }
    return result
