-- T11 cash-out and structuring: accounts that withdraw a large part of their inflow in cash, or that make
-- several cash payments just under the ¥50,000 large-value threshold within a few days.
WITH inflow AS (
    SELECT payee_account AS account, sum(amount_cny) AS inflow_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL
    GROUP BY payee_account
),
withdrawals AS (
    SELECT payer_account AS account, sum(amount_cny) AS cash_out_cny, count(*) AS cash_withdrawals
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND is_cash AND payer_account IS NOT NULL
      AND payee_account IS NULL
    GROUP BY payer_account
    HAVING sum(amount_cny) >= $min_cash_out_cny
),
near_cash AS (
    -- cash paid in or out just under the threshold, with how many more follow within structuring_days
    SELECT account, payment_id, amount_cny, txn_time,
           count(*) OVER (PARTITION BY account ORDER BY txn_time
                          RANGE BETWEEN CURRENT ROW AND INTERVAL 1 DAY * $structuring_days FOLLOWING) AS in_run
    FROM (SELECT coalesce(payer_account, payee_account) AS account, payment_id, amount_cny, txn_time
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND is_cash
            AND amount_cny >= $structuring_low_cny AND amount_cny <= $structuring_high_cny
            AND (payer_account IS NULL) <> (payee_account IS NULL)) cash
),
structuring AS (
    SELECT account, max(in_run) AS longest_run, count(*) AS near_threshold_cash
    FROM near_cash GROUP BY account HAVING max(in_run) >= $min_structured
),
flagged AS (
    SELECT coalesce(w.account, s.account) AS account,
           coalesce(i.inflow_cny, 0) AS inflow_cny,
           coalesce(w.cash_out_cny, 0) AS cash_out_cny,
           coalesce(w.cash_withdrawals, 0) AS cash_withdrawals,
           CASE WHEN i.inflow_cny > 0 THEN coalesce(w.cash_out_cny, 0) / i.inflow_cny END AS cash_out_share,
           coalesce(s.longest_run, 0) AS longest_run,
           coalesce(s.near_threshold_cash, 0) AS near_threshold_cash,
           coalesce(w.cash_out_cny >= $min_cash_out_share * coalesce(i.inflow_cny, 0), false) AS is_cash_out,
           s.account IS NOT NULL AS is_structuring
    FROM withdrawals w
    FULL JOIN structuring s ON s.account = w.account
    LEFT JOIN inflow i ON i.account = coalesce(w.account, s.account)
),
offending AS (SELECT * FROM flagged WHERE is_cash_out OR is_structuring),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT coalesce(payer_account, payee_account) AS account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY coalesce(payer_account, payee_account)
                                    ORDER BY amount_cny DESC, payment_id) AS rank
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND is_cash
            AND (payer_account IS NULL) <> (payee_account IS NULL)
            AND coalesce(payer_account, payee_account) IN (SELECT account FROM offending)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT o.*, e.evidence FROM offending o LEFT JOIN evidence e ON e.account = o.account ORDER BY o.account
