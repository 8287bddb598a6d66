-- T7 new or dormant account suddenly active: accounts opened shortly before the window's end, or quiet in the
-- idle_days before the window (their flow then, per window length, was at most 1/burst_multiple of the
-- window's flow), that now have many counterparties or a large flow. "New" comes from the reports' own
-- account_opened; "quiet" is only judged when the warehouse's history covers the idle_days look-back.
WITH current_moves AS (
    SELECT payee_account AS account, coalesce(payer_account, 'CASH') AS counterparty, payment_id, amount_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL
    UNION ALL
    SELECT payer_account, coalesce(payee_account, 'CASH'), payment_id, amount_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payer_account IS NOT NULL
),
busy AS (
    -- a cheap first pass before the distinct count of counterparties
    SELECT account FROM current_moves
    GROUP BY account HAVING count(*) >= $min_counterparties OR sum(amount_cny) >= $min_flow_cny
),
bursting AS (
    SELECT account, count(DISTINCT counterparty) AS counterparties, sum(amount_cny) AS flow_cny,
           count(*) AS transactions
    FROM current_moves WHERE account IN (SELECT account FROM busy)
    GROUP BY account
    HAVING count(DISTINCT counterparty) >= $min_counterparties OR sum(amount_cny) >= $min_flow_cny
),
earlier AS (
    SELECT account, sum(amount_cny) AS earlier_flow_cny
    FROM (SELECT payee_account AS account, amount_cny FROM payments
          WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start
            AND payee_account IN (SELECT account FROM bursting)
          UNION ALL
          SELECT payer_account, amount_cny FROM payments
          WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start
            AND payer_account IN (SELECT account FROM bursting)) before_window
    GROUP BY account
),
coverage AS (
    -- The look-back is covered when payments were reported on at least half its days: one stray old row
    -- (or a single early file) must not make every account without earlier payments look "quiet".
    SELECT count(DISTINCT CAST(txn_time AS DATE)) AS history_days,
           count(DISTINCT CAST(txn_time AS DATE)) * 2 >= $idle_days AS has_history
    FROM payments WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start
),
measured AS (
    SELECT b.*, p.account_opened, coalesce(e.earlier_flow_cny, 0) AS earlier_flow_cny, c.history_days,
           coalesce(p.account_opened >= CAST($end AS DATE) - INTERVAL 1 DAY * $new_days, false) AS is_new,
           c.has_history
               AND coalesce(e.earlier_flow_cny, 0) * $window_days * $burst_multiple <= b.flow_cny * $idle_days
               AS is_quiet
    FROM bursting b
    CROSS JOIN coverage c
    LEFT JOIN parties p ON p.account_no = b.account
    LEFT JOIN earlier e ON e.account = b.account
),
flagged AS (SELECT * FROM measured WHERE is_new OR is_quiet),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM current_moves WHERE account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
