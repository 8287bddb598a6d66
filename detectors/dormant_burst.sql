-- T7 new or dormant account suddenly active: accounts opened shortly before the window's end, or quiet in the
-- idle_days before the window (their flow then, per window length, was at most 1/burst_multiple of the
-- window's flow), that now have many counterparties or a large flow. "New" comes from the reports' own
-- account_opened; "quiet" is only judged when the warehouse's history covers the idle_days look-back.
-- New or quiet is judged on the busy accounts first, so the distinct count and the evidence are taken once, for
-- those alone: Spark inlines a CTE at every reference, and the earlier form (the bursting accounts read by the
-- look-back, the flagged ones by the evidence and by the final rows) ran the window's moves several times over.
WITH current_moves AS (
    SELECT payee_account AS account, coalesce(payer_account, 'CASH') AS counterparty, payment_id, amount_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL
    UNION ALL
    SELECT payer_account, coalesce(payee_account, 'CASH'), payment_id, amount_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payer_account IS NOT NULL
),
busy AS (
    -- a cheap first pass before the distinct count of counterparties: enough moves or flow
    SELECT account, sum(amount_cny) AS flow_cny FROM current_moves
    GROUP BY account HAVING count(*) >= $min_counterparties OR sum(amount_cny) >= $min_flow_cny
),
earlier AS (
    -- the look-back's moves, joined to the busy accounts below (a filter by them here would run them again)
    SELECT payee_account AS account, amount_cny FROM payments
    WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start AND payee_account IS NOT NULL
    UNION ALL
    SELECT payer_account, amount_cny FROM payments
    WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start AND payer_account IS NOT NULL
),
coverage AS (
    -- The look-back is covered when payments were reported on at least half its days: one stray old row
    -- (or a single early file) must not make every account without earlier payments look "quiet".
    SELECT count(DISTINCT CAST(txn_time AS DATE)) AS history_days,
           count(DISTINCT CAST(txn_time AS DATE)) * 2 >= $idle_days AS has_history
    FROM payments WHERE txn_time >= $start - INTERVAL 1 DAY * $idle_days AND txn_time < $start
),
looked_back AS (
    SELECT b.account, b.flow_cny, coalesce(sum(e.amount_cny), 0) AS earlier_flow_cny
    FROM busy b LEFT JOIN earlier e ON e.account = b.account
    GROUP BY b.account, b.flow_cny
),
measured AS (
    SELECT b.account, p.account_opened, b.earlier_flow_cny, c.history_days,
           coalesce(p.account_opened >= CAST($end AS DATE) - INTERVAL 1 DAY * $new_days, false) AS is_new,
           c.has_history AND b.earlier_flow_cny * $window_days * $burst_multiple <= b.flow_cny * $idle_days
               AS is_quiet
    FROM looked_back b
    CROSS JOIN coverage c
    LEFT JOIN parties p ON p.account_no = b.account
),
flagged AS (SELECT * FROM measured WHERE is_new OR is_quiet)
-- the window's moves again, once, for the flagged accounts: the distinct counterparties and the evidence
SELECT f.account, count(DISTINCT m.counterparty) AS counterparties, sum(m.amount_cny) AS flow_cny,
       count(*) AS transactions, f.account_opened, f.earlier_flow_cny, f.history_days, f.is_new, f.is_quiet,
       array_agg(m.payment_id ORDER BY m.amount_cny DESC, m.payment_id)[1:$max_evidence] AS evidence
FROM flagged f JOIN current_moves m ON m.account = f.account
GROUP BY f.account, f.account_opened, f.earlier_flow_cny, f.history_days, f.is_new, f.is_quiet
HAVING count(DISTINCT m.counterparty) >= $min_counterparties OR sum(m.amount_cny) >= $min_flow_cny
ORDER BY f.account
