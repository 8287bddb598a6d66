-- T14 near-threshold structuring: pairs of accounts (or an account and cash) moving several amounts just
-- under an Art. 5 large-value threshold within a few days. The threshold is the one that applies to either
-- end: cash ¥50,000; organisations ¥2,000,000; persons ¥500,000 (cross-border ¥200,000). The subject is the
-- receiving account, or for cash withdrawn the account drawing it: the end that avoids a report on its takings.
WITH priced AS (
    SELECT payment_id, txn_time, amount_cny,
           coalesce(payer_account, 'CASH') AS payer, coalesce(payee_account, 'CASH') AS payee,
           payer_account, payee_account,
           CASE WHEN is_cash THEN $cash_threshold_cny WHEN payer_kind = 'ORG' THEN $org_threshold_cny
                WHEN method = 'CROSS_BORDER' THEN $cross_border_threshold_cny ELSE $person_threshold_cny END
               AS payer_threshold,
           CASE WHEN is_cash THEN $cash_threshold_cny WHEN payee_kind = 'ORG' THEN $org_threshold_cny
                WHEN method = 'CROSS_BORDER' THEN $cross_border_threshold_cny ELSE $person_threshold_cny END
               AS payee_threshold
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end
),
near AS (
    SELECT *, count(*) OVER (PARTITION BY payer, payee ORDER BY txn_time
                             RANGE BETWEEN CURRENT ROW AND INTERVAL 1 DAY * $within_days FOLLOWING) AS in_run
    FROM priced
    WHERE (amount_cny >= $band_low * payer_threshold AND amount_cny < payer_threshold)
       OR (amount_cny >= $band_low * payee_threshold AND amount_cny < payee_threshold)
),
pairs AS (
    SELECT payer, payee, max(in_run) AS longest_run, count(*) AS near_payments, sum(amount_cny) AS amount_cny
    FROM near GROUP BY payer, payee HAVING max(in_run) >= $min_transfers
),
ends AS (
    SELECT CASE WHEN payee = 'CASH' THEN payer ELSE payee END AS account,
           CASE WHEN payee = 'CASH' THEN payee ELSE payer END AS counterparty,
           longest_run, near_payments, amount_cny
    FROM pairs
),
flagged AS (
    SELECT account, count(*) AS pairs, max(longest_run) AS longest_run, sum(near_payments) AS near_payments,
           sum(amount_cny) AS near_amount_cny
    FROM ends GROUP BY account
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT e.account, n.payment_id, n.amount_cny,
                 row_number() OVER (PARTITION BY e.account ORDER BY n.amount_cny DESC, n.payment_id) AS rank
          FROM near n JOIN ends e
            ON (e.account = n.payer AND e.counterparty = n.payee) OR (e.account = n.payee AND e.counterparty = n.payer)
         ) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
