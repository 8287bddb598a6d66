-- T6 elderly payers: accounts where many of the distinct individual payers are aged min_age or more at the
-- end of the window (age from the birth date in the payer's resident ID), each paying in savings-sized sums.
WITH busy AS (
    -- a cheap first pass: enough payments from elderly individuals to possibly have enough elderly payers
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_kind = 'PERSON'
      AND payer_birth + INTERVAL 1 YEAR * $min_age < $end
    GROUP BY payee_account HAVING count(*) >= $min_elderly_payers
),
payers AS (
    SELECT payee_account AS account, payer_account, min(payer_birth) AS birth, sum(amount_cny) AS amount_cny
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy)
      AND payer_account IS NOT NULL AND payer_kind = 'PERSON'
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
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT payee_account AS account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY payee_account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payer_kind = 'PERSON'
            AND payer_birth + INTERVAL 1 YEAR * $min_age < $end
            AND payee_account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
