-- T2 rapid pass-through: accounts whose inflows leave again within hours, so little money ever stays.
-- Money is matched first in, first out from the window start, after an opening balance estimated as the least
-- the account must have held (reports do not give balances).
-- One chain of windows over the moves and one GROUP BY, no CTE read twice: Spark inlines a CTE at every
-- reference, and the earlier form (timeline joined back to its own per-account figures) ran the moves ten times.
WITH receiving AS (
    -- a cheap first pass over the inflows only
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL
    GROUP BY payee_account HAVING count(*) >= $min_inflows AND sum(amount_cny) >= $min_inflow_cny
),
moves AS (
    SELECT payee_account AS account, payment_id, txn_time, amount_cny, 1 AS is_in
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM receiving)
    UNION ALL
    SELECT payer_account, payment_id, txn_time, amount_cny, 0
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payer_account IN (SELECT account FROM receiving)
),
sized AS (
    -- the accounts whose window totals pass, found with windows over the account (not a GROUP BY joined back)
    SELECT * FROM (
        SELECT *,
               sum(is_in) OVER (PARTITION BY account) AS account_inflows,
               coalesce(sum(CASE WHEN is_in = 1 THEN amount_cny END) OVER (PARTITION BY account), 0) AS account_in_cny,
               coalesce(sum(CASE WHEN is_in = 0 THEN amount_cny END) OVER (PARTITION BY account), 0) AS account_out_cny
        FROM moves) summed
    WHERE account_inflows >= $min_inflows AND account_in_cny >= $min_inflow_cny
      AND account_out_cny BETWEEN $min_out_in_ratio * account_in_cny AND $max_out_in_ratio * account_in_cny
),
timeline AS (
    -- the account's net position through the window, inflows first at equal times; the cumulative inflow and
    -- outflow in the same order (among inflows alone it is time, then payment id); the day's last payment in
    -- that order gives the balance at the end of the day
    SELECT *,
           sum(CASE WHEN is_in = 1 THEN amount_cny ELSE -amount_cny END) OVER running AS running_net,
           CASE WHEN is_in = 1 THEN sum(CASE WHEN is_in = 1 THEN amount_cny ELSE 0 END) OVER running
                ELSE sum(CASE WHEN is_in = 0 THEN amount_cny ELSE 0 END) OVER running END AS cumulative_cny,
           coalesce(lead(CAST(txn_time AS DATE)) OVER (PARTITION BY account ORDER BY txn_time, is_in DESC, payment_id)
                    <> CAST(txn_time AS DATE), true) AS last_of_day
    FROM sized
    WINDOW running AS (PARTITION BY account ORDER BY txn_time, is_in DESC, payment_id ROWS UNBOUNDED PRECEDING)
),
opened AS (
    -- the smallest opening balance that keeps the account from going below zero: money it already held
    SELECT *, greatest(0, -min(running_net) OVER (PARTITION BY account)) AS opening_cny FROM timeline
),
cleared AS (
    -- FIFO: the opening balance leaves first; inflow i is cleared once cumulative outflow reaches the opening
    -- balance plus the inflow before i plus pass_fraction of i. Inflows are keyed by that amount, outflows by
    -- their cumulative outflow; the earliest outflow at or after an inflow's key is the moment it was cleared.
    SELECT *,
           min(CASE WHEN is_in = 0 THEN txn_time END) OVER (
               PARTITION BY account ORDER BY clearing_key, is_in DESC
               ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS cleared_at
    FROM (SELECT *, CASE WHEN is_in = 1 THEN opening_cny + cumulative_cny - amount_cny + $pass_fraction * amount_cny
                         ELSE cumulative_cny END AS clearing_key
          FROM opened) keyed
),
totals AS (
    SELECT account,
           count(*) FILTER (WHERE is_in = 1) AS inflows,
           coalesce(sum(amount_cny) FILTER (WHERE is_in = 1), 0) AS inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE is_in = 0), 0) AS outflow_cny,
           coalesce(sum(amount_cny) FILTER (
               WHERE is_in = 1 AND cleared_at <= txn_time + INTERVAL 1 HOUR * $max_hours), 0) AS fast_inflow_cny,
           median(CASE WHEN is_in = 1 THEN epoch(cleared_at - txn_time) / 3600.0 END) AS median_hours,
           avg(opening_cny + running_net) FILTER (WHERE last_of_day) AS avg_balance_cny,
           array_agg(payment_id ORDER BY amount_cny DESC, payment_id)[1:$max_evidence] AS evidence
    FROM cleared
    GROUP BY account
)
SELECT account, inflows, inflow_cny, outflow_cny,
       outflow_cny / inflow_cny AS out_in_ratio,
       fast_inflow_cny / inflow_cny AS fast_share,
       median_hours,
       avg_balance_cny / inflow_cny AS balance_share,
       evidence
FROM totals
WHERE fast_inflow_cny >= $min_fast_share * inflow_cny
  AND avg_balance_cny < $max_balance_share * inflow_cny
ORDER BY account
