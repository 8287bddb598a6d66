-- T6 elderly payers: accounts where many of the distinct individual payers are aged min_age or more at the
-- end of the window (age from the birth date in the payer's resident ID), each paying in savings-sized sums.
-- The per-payer and per-account figures are each taken once and the evidence in the same pass as the final
-- rows: Spark inlines a CTE at every reference, and the earlier form (the flagged accounts read for the
-- evidence and again for the final rows) ran the whole chain twice.
WITH busy AS (
    -- a cheap first pass: enough payments from elderly individuals to possibly have enough elderly payers
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_kind = 'PERSON'
      AND payer_birth + INTERVAL 1 YEAR * $min_age < $end
    GROUP BY payee_account HAVING count(*) >= $min_elderly_payers
),
inflow AS (
    SELECT payee_account AS account, payer_account, payer_birth, payment_id, amount_cny,
           payer_birth + INTERVAL 1 YEAR * $min_age < $end AS from_elderly
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy)
      AND payer_kind = 'PERSON'
),
payers AS (
    SELECT account, payer_account, min(payer_birth) AS birth, sum(amount_cny) AS amount_cny
    FROM inflow
    WHERE payer_account IS NOT NULL
    GROUP BY 1, 2
),
measured AS (
    SELECT account, count(*) AS individual_payers,
           count(*) FILTER (WHERE birth + INTERVAL 1 YEAR * $min_age < $end) AS elderly_payers,
           count(*) FILTER (WHERE birth IS NOT NULL) AS payers_with_age,
           sum(amount_cny) AS individual_inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE birth + INTERVAL 1 YEAR * $min_age < $end), 0) AS elderly_inflow_cny
    FROM payers
    GROUP BY account
    HAVING count(*) FILTER (WHERE birth + INTERVAL 1 YEAR * $min_age < $end) >= $min_elderly_payers
),
flagged AS (
    SELECT *, elderly_payers / individual_payers AS elderly_share,
           elderly_inflow_cny / elderly_payers AS inflow_per_elderly_payer_cny
    FROM measured
    WHERE elderly_payers >= $min_elderly_share * individual_payers
      AND elderly_inflow_cny >= $min_inflow_per_payer_cny * elderly_payers
)
-- the inflows again, once, for the evidence: the largest payments from elderly individuals
SELECT f.account, f.individual_payers, f.elderly_payers, f.payers_with_age, f.individual_inflow_cny,
       f.elderly_inflow_cny, f.elderly_share, f.inflow_per_elderly_payer_cny,
       array_agg(i.payment_id ORDER BY i.amount_cny DESC, i.payment_id)
           FILTER (WHERE i.from_elderly)[1:$max_evidence] AS evidence
FROM flagged f JOIN inflow i ON i.account = f.account
GROUP BY ALL
ORDER BY f.account
