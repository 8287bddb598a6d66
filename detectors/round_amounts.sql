-- T4 round or unit-multiple amounts: accounts whose individual inflows are mostly multiples of a round unit
-- (e.g. ¥1,000) or of the account's own most common amount (a subscription unit), when that is not small,
-- and each payer pays in savings-sized sums.
WITH busy AS (
    -- a cheap first pass before the distinct counts and the modal amount
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL AND payer_kind = 'PERSON'
    GROUP BY payee_account HAVING count(*) >= $min_inflows
),
inflow AS (
    SELECT payee_account AS account, payment_id, amount_cny, payer_account
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payer_kind = 'PERSON'
      AND payee_account IN (SELECT account FROM busy)
),
counted AS (
    SELECT account, count(*) AS individual_inflows, count(DISTINCT payer_account) AS individual_payers,
           sum(amount_cny) AS inflow_cny, mode(amount_cny) AS modal_amount_cny
    FROM inflow
    GROUP BY account
    HAVING count(*) >= $min_inflows AND count(DISTINCT payer_account) >= $min_payers
       AND sum(amount_cny) >= $min_inflow_per_payer_cny * count(DISTINCT payer_account)
),
measured AS (
    SELECT c.account, c.individual_inflows, c.individual_payers, c.inflow_cny,
           CASE WHEN c.modal_amount_cny >= $unit_cny AND c.modal_amount_cny % $unit_cny <> 0
                THEN c.modal_amount_cny END AS unit_amount_cny,
           count(*) FILTER (WHERE i.amount_cny % $unit_cny = 0
                               OR (c.modal_amount_cny >= $unit_cny AND i.amount_cny % c.modal_amount_cny = 0))
               AS round_inflows
    FROM counted c JOIN inflow i ON i.account = c.account
    GROUP BY ALL
),
flagged AS (
    SELECT *, round_inflows / individual_inflows AS round_share
    FROM measured WHERE round_inflows >= $min_round_share * individual_inflows
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM inflow WHERE account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
