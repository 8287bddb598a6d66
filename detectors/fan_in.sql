-- T1 scattered in, concentrated out: accounts many individuals pay into, whose outflow goes to a few
-- counterparties, each individual paying in savings-sized sums (a shop's customers pay tens or hundreds).
-- One row per offending account; cash paid out counts as one counterparty.
WITH busy AS (
    -- a cheap first pass: only accounts with that many payments from individuals can have that many payers
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_kind = 'PERSON'
    GROUP BY payee_account HAVING count(*) >= $min_payers
),
inflow AS (
    SELECT payee_account AS account,
           count(DISTINCT payer_account) FILTER (WHERE payer_kind = 'PERSON') AS individual_payers,
           sum(amount_cny) AS inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE payer_kind = 'PERSON'), 0) AS individual_inflow_cny
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy)
    GROUP BY payee_account
    HAVING count(DISTINCT payer_account) FILTER (WHERE payer_kind = 'PERSON') >= $min_payers
       AND sum(amount_cny) >= $min_inflow_cny
       AND coalesce(sum(amount_cny) FILTER (WHERE payer_kind = 'PERSON'), 0)
           >= $min_inflow_per_payer_cny * count(DISTINCT payer_account) FILTER (WHERE payer_kind = 'PERSON')
),
outflow_by_counterparty AS (
    SELECT payer_account AS account, coalesce(payee_account, 'CASH') AS counterparty, sum(amount_cny) AS amount_cny
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payer_account IN (SELECT account FROM inflow)
    GROUP BY 1, 2
),
outflow AS (
    SELECT account,
           sum(amount_cny) AS outflow_cny,
           count(*) AS out_counterparties,
           sum(amount_cny) FILTER (WHERE rank <= $max_out_counterparties) AS top_outflow_cny
    FROM (SELECT *, row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, counterparty) AS rank
          FROM outflow_by_counterparty)
    GROUP BY account
),
measured AS (
    SELECT i.account, i.individual_payers, i.inflow_cny, o.outflow_cny, o.out_counterparties,
           i.individual_inflow_cny / i.inflow_cny AS individual_share,
           o.top_outflow_cny / o.outflow_cny AS top_out_share,
           o.outflow_cny / i.inflow_cny AS out_in_ratio
    FROM inflow i JOIN outflow o ON o.account = i.account
),
flagged AS (
    SELECT * FROM measured
    WHERE individual_share >= $min_individual_share
      AND top_out_share >= $min_top_out_share
      AND out_in_ratio >= $min_out_in_ratio
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT payee_account AS account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY payee_account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payer_kind = 'PERSON'
            AND payee_account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
