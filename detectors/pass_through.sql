-- T2 rapid pass-through: accounts whose inflows leave again within hours, so little money ever stays.
-- Money is matched first in, first out from the window start, after an opening balance estimated as the least
-- the account must have held (reports do not give balances).
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
totals AS (
    SELECT account,
           count(*) FILTER (WHERE is_in = 1) AS inflows,
           coalesce(sum(amount_cny) FILTER (WHERE is_in = 1), 0) AS inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE is_in = 0), 0) AS outflow_cny
    FROM moves
    GROUP BY account
    HAVING count(*) FILTER (WHERE is_in = 1) >= $min_inflows
       AND sum(amount_cny) FILTER (WHERE is_in = 1) >= $min_inflow_cny
       AND coalesce(sum(amount_cny) FILTER (WHERE is_in = 0), 0)
           BETWEEN $min_out_in_ratio * sum(amount_cny) FILTER (WHERE is_in = 1)
               AND $max_out_in_ratio * sum(amount_cny) FILTER (WHERE is_in = 1)
),
timeline AS (
    -- the account's net position through the window, inflows first at equal times
    SELECT m.*,
           sum(CASE WHEN is_in = 1 THEN amount_cny ELSE -amount_cny END) OVER (
               PARTITION BY account ORDER BY txn_time, is_in DESC, payment_id ROWS UNBOUNDED PRECEDING) AS running_net,
           sum(amount_cny) OVER (PARTITION BY account, is_in ORDER BY txn_time, payment_id
                                 ROWS UNBOUNDED PRECEDING) AS cumulative_cny
    FROM moves m WHERE account IN (SELECT account FROM totals)
),
opening AS (
    -- the smallest opening balance that keeps the account from going below zero: money it already held
    SELECT account, greatest(0, -min(running_net)) AS opening_cny FROM timeline GROUP BY account
),
cleared AS (
    -- FIFO: the opening balance leaves first; inflow i is cleared once cumulative outflow reaches the opening
    -- balance plus the inflow before i plus pass_fraction of i. Inflows are keyed by that amount, outflows by
    -- their cumulative outflow; the earliest outflow at or after an inflow's key is the moment it was cleared.
    SELECT account, is_in, payment_id, txn_time, amount_cny,
           min(CASE WHEN is_in = 0 THEN txn_time END) OVER (
               PARTITION BY account ORDER BY clearing_key, is_in DESC
               ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS cleared_at
    FROM (SELECT t.*, CASE WHEN is_in = 1 THEN o.opening_cny + cumulative_cny - amount_cny
                                               + $pass_fraction * amount_cny
                           ELSE cumulative_cny END AS clearing_key
          FROM timeline t JOIN opening o ON o.account = t.account) keyed
),
speed AS (
    SELECT account,
           coalesce(sum(amount_cny) FILTER (
               WHERE cleared_at <= txn_time + INTERVAL 1 HOUR * $max_hours), 0) AS fast_inflow_cny,
           median(epoch(cleared_at - txn_time) / 3600.0) AS median_hours
    FROM cleared WHERE is_in = 1
    GROUP BY account
),
daily AS (
    -- the balance after the day's last payment, in the timeline's order
    SELECT account, opening_cny + running_net AS end_of_day_cny
    FROM (SELECT t.account, t.running_net, o.opening_cny,
                 row_number() OVER (PARTITION BY t.account, CAST(t.txn_time AS DATE)
                                    ORDER BY t.txn_time DESC, t.is_in, t.payment_id DESC) AS last_first
          FROM timeline t JOIN opening o ON o.account = t.account) ordered
    WHERE last_first = 1
),
balance AS (
    SELECT account, avg(end_of_day_cny) AS avg_balance_cny FROM daily GROUP BY account
),
flagged AS (
    SELECT t.account, t.inflows, t.inflow_cny, t.outflow_cny,
           t.outflow_cny / t.inflow_cny AS out_in_ratio,
           s.fast_inflow_cny / t.inflow_cny AS fast_share,
           s.median_hours,
           b.avg_balance_cny / t.inflow_cny AS balance_share
    FROM totals t JOIN speed s ON s.account = t.account JOIN balance b ON b.account = t.account
    WHERE s.fast_inflow_cny >= $min_fast_share * t.inflow_cny
      AND b.avg_balance_cny < $max_balance_share * t.inflow_cny
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM timeline WHERE account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
