-- G12 candidates: accounts that, inside one stepped window (graph_windows, its payments graph_edges), are paid by
-- and pay many more distinct accounts than nearly every account in that window and than in their own other windows.
-- One row per payment in or out of a candidate in its window; the time order and amounts are checked in Python.
WITH ends AS (
    SELECT k, payee AS account, 'in' AS direction, payer AS other, txn_time, amount, payment_id FROM graph_edges
    UNION ALL
    SELECT k, payer AS account, 'out' AS direction, payee AS other, txn_time, amount, payment_id FROM graph_edges
),
fan AS (
    SELECT k, account, 'in' AS direction, senders AS counterparties FROM graph_account_windows WHERE senders > 0
    UNION ALL
    SELECT k, account, 'out' AS direction, receivers AS counterparties FROM graph_account_windows WHERE receivers > 0
),
population AS (
    SELECT k, direction, quantile_cont(counterparties, $population_percentile) AS cutoff
    FROM fan GROUP BY k, direction
),
windows_run AS (SELECT count(*) AS windows FROM graph_windows),
own AS (SELECT account, direction, sum(counterparties) AS total FROM fan GROUP BY account, direction),
standing_out AS (
    SELECT f.k, f.account, f.direction, f.counterparties, pop.cutoff
    FROM fan f
    JOIN population pop ON pop.k = f.k AND pop.direction = f.direction
    JOIN own o ON o.account = f.account AND o.direction = f.direction
    CROSS JOIN windows_run r
    WHERE f.counterparties >= $min_counterparties AND f.counterparties > pop.cutoff
      AND f.counterparties >= $baseline_multiple * greatest(
          CASE WHEN r.windows > 1 THEN (o.total - f.counterparties) / (r.windows - 1.0) ELSE 0.0 END, 1.0)
),
candidates AS (
    SELECT i.k, i.account, greatest(i.cutoff, o.cutoff) AS cutoff
    FROM standing_out i
    JOIN standing_out o ON o.k = i.k AND o.account = i.account AND o.direction = 'out'
    WHERE i.direction = 'in'
)
SELECT c.k, c.account, c.cutoff, w.w_start, w.w_end, e.direction, e.other, e.txn_time, e.amount, e.payment_id
FROM candidates c
JOIN graph_windows w ON w.k = c.k
JOIN ends e ON e.k = c.k AND e.account = c.account
ORDER BY c.account, c.k, e.txn_time, e.payment_id
