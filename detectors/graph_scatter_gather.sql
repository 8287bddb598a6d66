-- G11: two-hop paths source → middle → target inside one stepped window (graph_windows, its payments graph_edges),
-- the second hop after the first within {hop_seconds} seconds and carrying about the same amount; one row per path
-- of every (window, source, target) with at least $min_paths distinct middles.
WITH busy AS (
    -- middles are quiet accounts: more payments than this in the window is a shop or a payroll, not a relay
    SELECT k, account FROM graph_account_windows WHERE payments > $max_middle_payments
),
-- only the windows evaluated in this run (graph_windows_todo): every path below starts from a floor's window
floor AS (SELECT k, quantile_cont(amount, $min_amount_percentile) AS cutoff FROM graph_edges
          WHERE k IN (SELECT k FROM graph_windows_todo) GROUP BY k),
first_hops AS (
    SELECT e.* FROM graph_edges e
    JOIN floor f ON f.k = e.k
    LEFT JOIN busy b ON b.k = e.k AND b.account = e.payee
    WHERE e.amount >= f.cutoff AND b.account IS NULL
),
paths AS (
    SELECT h1.k, h1.payer AS source, h1.payee AS middle, h2.payee AS target,
           h1.payment_id AS first_id, h2.payment_id AS second_id, h1.txn_time AS first_time,
           h2.txn_time AS second_time, h1.amount AS first_amount, h2.amount AS second_amount
    FROM first_hops h1
    JOIN graph_edges h2 ON h2.k = h1.k AND h2.payer = h1.payee
    WHERE h2.txn_time > h1.txn_time AND h2.txn_time <= h1.txn_time + INTERVAL '{hop_seconds}' SECOND
      AND abs(h2.amount - h1.amount) <= $amount_tolerance * h1.amount
      AND h2.payee <> h1.payer
),
shapes AS (
    SELECT k, source, target FROM paths GROUP BY k, source, target HAVING count(DISTINCT middle) >= $min_paths
)
SELECT p.* FROM paths p
JOIN shapes s ON s.k = p.k AND s.source = p.source AND s.target = p.target
