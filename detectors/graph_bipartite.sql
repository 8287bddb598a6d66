-- G13 candidates: inside one stepped window (graph_windows, its payments graph_edges), payments between quiet
-- accounts whose sender shares at least $min_shared receivers with another sender. One row per such payment; blocks
-- are formed and their density checked in Python.
WITH busy AS (
    SELECT k, account FROM graph_account_windows WHERE payments > $max_member_payments
),
-- only the windows evaluated in this run (graph_windows_todo): every link and row below joins a floor's window
floor AS (SELECT k, quantile_cont(amount, $min_amount_percentile) AS cutoff FROM graph_edges
          WHERE k IN (SELECT k FROM graph_windows_todo) GROUP BY k),
links AS (
    SELECT DISTINCT e.k, e.payer, e.payee FROM graph_edges e
    JOIN floor f ON f.k = e.k
    LEFT JOIN busy bp ON bp.k = e.k AND bp.account = e.payer
    LEFT JOIN busy bq ON bq.k = e.k AND bq.account = e.payee
    WHERE e.amount >= f.cutoff AND bp.account IS NULL AND bq.account IS NULL
),
paired AS (
    SELECT l1.k, l1.payer AS sender, l2.payer AS partner
    FROM links l1 JOIN links l2 ON l2.k = l1.k AND l2.payee = l1.payee AND l2.payer <> l1.payer
    GROUP BY l1.k, l1.payer, l2.payer
    HAVING count(*) >= $min_shared
),
senders AS (SELECT DISTINCT k, sender FROM paired)
SELECT e.k, e.payer, e.payee, e.amount, e.payment_id, e.txn_time
FROM graph_edges e
JOIN senders s ON s.k = e.k AND s.sender = e.payer
JOIN floor f ON f.k = e.k
LEFT JOIN busy bq ON bq.k = e.k AND bq.account = e.payee
WHERE e.amount >= f.cutoff AND bq.account IS NULL
