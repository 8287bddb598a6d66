-- Account features for the anomaly score and the ranking model: one row per account with at least $min_txn
-- payments (in or out) in the window [$start, $end). $as_of is the window's last day (ages are counted to it),
-- $keywords the memo regex, $accounts an optional list restricting the accounts (empty list: all accounts).
WITH wanted AS (SELECT unnest($accounts) AS account_no),
w AS (
    SELECT txn_time, amount_cny, CAST(amount_cny AS DOUBLE) AS amount, payer_account, payer_kind,
           payer_birth, payee_account, payee_kind, is_cash,
           -- once per payment, not per leg; most payments carry no text at all
           CASE WHEN memo IS NULL AND purpose IS NULL THEN false
                ELSE regexp_matches(coalesce(memo, '') || ' ' || coalesce(purpose, ''), $keywords) END AS keyword_hit
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND amount_cny > 0
      -- an account's features read only its own payments, so a few accounts need not read every payment
      AND (len($accounts) = 0 OR payer_account IN (SELECT account_no FROM wanted)
           OR payee_account IN (SELECT account_no FROM wanted))
),
-- accounts numbered once: the groupings, the as-of join and the joins below work on integers instead of
-- 19-character account numbers, which held the query over the nightly's memory limit and made it spill
numbered AS (
    SELECT account_no, row_number() OVER () AS account_key
    FROM (SELECT payer_account AS account_no FROM w UNION SELECT payee_account FROM w)
    WHERE account_no IS NOT NULL
),
coded AS (
    SELECT w.*, payer.account_key AS payer_key, payee.account_key AS payee_key
    FROM w LEFT JOIN numbered payer ON payer.account_no = w.payer_account
    LEFT JOIN numbered payee ON payee.account_no = w.payee_account
),
all_legs AS (
    SELECT payee_key AS account_key, 'IN' AS direction, txn_time, amount_cny, amount,
           payer_key AS counterparty, payer_kind AS counterparty_kind, payer_birth AS counterparty_birth,
           is_cash, keyword_hit
    FROM coded WHERE payee_key IS NOT NULL
    UNION ALL
    SELECT payer_key, 'OUT', txn_time, amount_cny, amount, payee_key, payee_kind, NULL, is_cash, keyword_hit
    FROM coded WHERE payer_key IS NOT NULL
),
active AS (
    SELECT account_key FROM all_legs
    WHERE len($accounts) = 0
       OR account_key IN (SELECT account_key FROM numbered WHERE account_no IN (SELECT account_no FROM wanted))
    GROUP BY account_key HAVING count(*) >= $min_txn
),
legs AS (
    SELECT l.* FROM all_legs l JOIN active a USING (account_key)
),
-- Only outflows need the time since the latest inflow and since the previous outflow. Taken by an as-of join
-- and a lag over outflows alone, instead of two running windows over every leg: a shop's tens of thousands of
-- inflows were sorted in one partition, the costliest step of the query.
out_legs AS (
    SELECT account_key, txn_time,
           lag(txn_time) OVER (PARTITION BY account_key ORDER BY txn_time) AS previous_out_time
    FROM legs WHERE direction = 'OUT'
),
holds AS (
    -- the latest inflow at or before each outflow: how long money sits before it moves on
    SELECT o.account_key, o.txn_time, o.previous_out_time, i.txn_time AS last_in_time
    FROM out_legs o ASOF LEFT JOIN (SELECT account_key, txn_time FROM legs WHERE direction = 'IN') i
        ON o.account_key = i.account_key AND o.txn_time >= i.txn_time
),
out_timing AS (
    SELECT account_key,
           median((epoch(txn_time) - epoch(last_in_time)) / 3600.0) AS median_hold_hours,
           CASE WHEN count(previous_out_time) >= 2
                 AND avg(epoch(txn_time) - epoch(previous_out_time)) > 0
                THEN stddev_samp(epoch(txn_time) - epoch(previous_out_time))
                     / avg(epoch(txn_time) - epoch(previous_out_time)) END AS out_interval_cv
    FROM holds GROUP BY account_key
),
in_amounts AS (
    SELECT account_key, amount_cny, count(*) AS n FROM legs WHERE direction = 'IN'
    GROUP BY account_key, amount_cny
),
in_modal AS (
    SELECT account_key, max(n) AS modal_count FROM in_amounts GROUP BY account_key
),
-- distinct counterparties by one grouping instead of four DISTINCT aggregates (the costliest part at scale)
counterparties AS (
    SELECT account_key, direction, counterparty, max(counterparty_kind) AS kind, max(counterparty_birth) AS birth
    FROM legs WHERE counterparty IS NOT NULL
    GROUP BY account_key, direction, counterparty
),
counterparty_counts AS (
    SELECT account_key,
           count(*) FILTER (WHERE direction = 'IN') AS payers,
           count(*) FILTER (WHERE direction = 'OUT') AS payees,
           count(*) FILTER (WHERE direction = 'IN' AND kind = 'PERSON') AS individual_payers,
           count(*) FILTER (WHERE direction = 'IN' AND kind = 'PERSON'
                              AND birth <= $as_of - INTERVAL 60 YEAR) AS elderly_payers
    FROM counterparties GROUP BY account_key
),
per_account AS (
    SELECT account_key,
           count(*) AS n_txn,
           count(*) FILTER (WHERE direction = 'IN') AS n_in,
           count(*) FILTER (WHERE direction = 'OUT') AS n_out,
           coalesce(sum(amount) FILTER (WHERE direction = 'IN'), 0) AS amount_in,
           coalesce(sum(amount) FILTER (WHERE direction = 'OUT'), 0) AS amount_out,
           avg(CASE WHEN amount_cny % 1000 = 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE direction = 'IN')
               AS round_in_share,
           CASE WHEN count(*) FILTER (WHERE direction = 'OUT') >= 3
                THEN stddev_samp(amount) FILTER (WHERE direction = 'OUT')
                     / avg(amount) FILTER (WHERE direction = 'OUT') END AS out_amount_cv,
           avg(CASE WHEN hour(txn_time) >= 22 OR hour(txn_time) < 6 THEN 1.0 ELSE 0.0 END) AS night_share,
           coalesce(sum(amount) FILTER (WHERE direction = 'OUT' AND is_cash), 0) AS cash_out_amount,
           avg(CASE WHEN keyword_hit THEN 1.0 ELSE 0.0 END) AS keyword_share
    FROM legs GROUP BY account_key
)
SELECT n.account_no,
       p.n_txn,
       p.n_in,
       p.n_out,
       p.amount_in,
       p.amount_out,
       coalesce(c.payers, 0) AS payers,
       coalesce(c.payees, 0) AS payees,
       c.individual_payers / nullif(c.payers, 0) AS individual_payer_share,
       c.elderly_payers / nullif(c.individual_payers, 0) AS elderly_payer_share,
       -- capped: an account that mostly pays out has no meaningful ratio beyond "far more out than in"
       least(p.amount_out / nullif(p.amount_in, 0), 10.0) AS pass_through,
       r.median_hold_hours,
       r.out_interval_cv,
       p.round_in_share,
       CASE WHEN p.n_in >= 5 THEN m.modal_count / p.n_in END AS unit_in_share,
       p.out_amount_cv,
       p.night_share,
       coalesce(p.cash_out_amount / nullif(p.amount_out, 0), 0) AS cash_out_share,
       p.keyword_share,
       date_diff('day', pt.account_opened, $as_of) AS account_age_days
FROM per_account p
JOIN numbered n USING (account_key)
LEFT JOIN counterparty_counts c USING (account_key)
LEFT JOIN out_timing r USING (account_key)
LEFT JOIN in_modal m USING (account_key)
LEFT JOIN parties pt USING (account_no)
ORDER BY n.account_no
