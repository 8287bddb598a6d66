-- T4 round or unit-multiple amounts: accounts whose individual inflows are mostly multiples of a round unit
-- (e.g. ¥1,000) or of the account's own most common amount (a subscription unit), when that is not small,
-- and each payer pays in savings-sized sums.
-- The counts, the modal amount and the evidence are each taken once: Spark inlines a CTE at every reference,
-- and the earlier form (the counted accounts read again for the evidence and for the final rows) ran them
-- several times over.
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
    -- the inflows again, once: which are round for the account's modal amount, and the largest as evidence
    SELECT c.account, c.individual_inflows, c.individual_payers, c.inflow_cny,
           CASE WHEN c.modal_amount_cny >= $unit_cny AND c.modal_amount_cny % $unit_cny <> 0
                THEN c.modal_amount_cny END AS unit_amount_cny,
           count(*) FILTER (WHERE i.amount_cny % $unit_cny = 0
                               OR (c.modal_amount_cny >= $unit_cny AND i.amount_cny % c.modal_amount_cny = 0))
               AS round_inflows,
           array_agg(i.payment_id ORDER BY i.amount_cny DESC, i.payment_id)[1:$max_evidence] AS evidence
    FROM counted c JOIN inflow i ON i.account = c.account
    GROUP BY c.account, c.individual_inflows, c.individual_payers, c.inflow_cny, c.modal_amount_cny
)
SELECT account, individual_inflows, individual_payers, inflow_cny, unit_amount_cny, round_inflows,
       round_inflows / individual_inflows AS round_share, evidence
FROM measured WHERE round_inflows >= $min_round_share * individual_inflows
ORDER BY account
