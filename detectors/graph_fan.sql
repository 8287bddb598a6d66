-- G8/G9: accounts whose distinct counterparties in one stepped window (graph_windows, its payments graph_edges)
-- stand out against the account's own other windows and against every account's count in that window. One row per
-- account: its strongest window.
WITH edges AS (
    -- the payments of the fan, for the evidence
    SELECT k, payment_id, amount,
           CASE WHEN $direction = 'in' THEN payee ELSE payer END AS account,
           CASE WHEN $direction = 'in' THEN payer ELSE payee END AS other
    FROM graph_edges
),
fan AS (
    SELECT k, account, CASE WHEN $direction = 'in' THEN senders ELSE receivers END AS counterparties,
           CASE WHEN $direction = 'in' THEN amount_in ELSE amount_out END AS amount
    FROM graph_account_windows
    WHERE CASE WHEN $direction = 'in' THEN senders ELSE receivers END > 0
),
population AS (
    -- the window's own distribution of distinct counterparties, over the accounts active in it
    SELECT k, quantile_cont(counterparties, $population_percentile) AS cutoff FROM fan GROUP BY k
),
windows_run AS (SELECT count(*) AS windows FROM graph_windows),
own AS (SELECT account, sum(counterparties) AS total FROM fan GROUP BY account),
scored AS (
    SELECT f.k, f.account, f.counterparties, f.amount, pop.cutoff,
           -- the account's mean over its other windows, a window without payments counting 0
           CASE WHEN r.windows > 1 THEN (o.total - f.counterparties) / (r.windows - 1.0) ELSE 0.0 END AS baseline
    FROM fan f
    JOIN population pop ON pop.k = f.k
    JOIN own o ON o.account = f.account
    CROSS JOIN windows_run r
    WHERE f.counterparties >= $min_counterparties AND f.counterparties > pop.cutoff
),
hits AS (
    SELECT k, account, counterparties, amount, cutoff, baseline,
           row_number() OVER (PARTITION BY account ORDER BY counterparties - baseline DESC, k) AS strongest
    FROM scored
    WHERE counterparties >= $baseline_multiple * greatest(baseline, 1.0)
)
SELECT h.account, h.counterparties, h.amount, h.cutoff, h.baseline, w.w_start, w.w_end,
       array_agg(e.payment_id ORDER BY e.amount DESC, e.payment_id) AS evidence
FROM hits h
JOIN graph_windows w ON w.k = h.k
JOIN edges e ON e.k = h.k AND e.account = h.account
WHERE h.strongest = 1
GROUP BY h.account, h.counterparties, h.amount, h.cutoff, h.baseline, w.w_start, w.w_end
ORDER BY h.account
