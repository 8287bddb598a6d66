-- T12 cross-region payers: accounts where most distinct individual payers come from outside the office's
-- county (region from the payer's ID), spread over several provinces.
WITH busy AS (
    -- a cheap first pass before grouping by payer
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_kind = 'PERSON'
      AND payer_region IS NOT NULL
    GROUP BY payee_account HAVING count(*) >= $min_payers
),
payers AS (
    SELECT payee_account AS account, payer_account, min(payer_region) AS region, sum(amount_cny) AS amount_cny
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy)
      AND payer_account IS NOT NULL AND payer_kind = 'PERSON' AND payer_region IS NOT NULL
    GROUP BY 1, 2
),
measured AS (
    SELECT account, count(*) AS individual_payers,
           count(*) FILTER (WHERE region <> $home_region) AS outside_payers,
           count(DISTINCT substr(region, 1, 2)) AS provinces,
           list_sort(list_distinct(array_agg(substr(region, 1, 2)))) AS province_codes,
           sum(amount_cny) AS individual_inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE region <> $home_region), 0) AS outside_inflow_cny
    FROM payers
    GROUP BY account
    HAVING count(*) >= $min_payers AND count(DISTINCT substr(region, 1, 2)) >= $min_provinces
),
flagged AS (
    SELECT *, outside_payers / individual_payers AS outside_share
    FROM measured WHERE outside_payers >= $min_outside_share * individual_payers
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT payee_account AS account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY payee_account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payer_kind = 'PERSON' AND payer_region <> $home_region
            AND payee_account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
