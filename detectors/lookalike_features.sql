-- The money of each ring's core (hub and collectors) inside the ring's window, measured for telling a lawful
-- look-alike from a scheme (detectors/lookalikes.py, rules/lookalikes.yaml): individuals' money into the core,
-- and what the hub pays out. Parameters: $run_id, $wage_words, $utility_words, $claim_words, $financial_words
-- (regular expressions). One row per ring.
WITH hub AS (
    SELECT ring_id, hub_account, window_start, window_end FROM rings WHERE run_id = $run_id
),
core AS (
    SELECT ring_id, hub_account AS account_no, window_start, window_end FROM hub
    UNION
    SELECT m.ring_id, m.account_no, h.window_start, h.window_end
    FROM ring_members m JOIN hub h USING (ring_id) WHERE m.run_id = $run_id AND m.role = 'collector'
),
controllers AS (
    SELECT ring_id, account_no FROM ring_members WHERE run_id = $run_id AND role = 'controller'
),
inflow AS (
    SELECT k.ring_id, coalesce(p.payer_id_no, p.payer_account, p.payer_name) AS payer, p.payer_account,
           p.amount_cny, p.txn_time, p.method
    FROM core k JOIN payments p ON p.payee_account = k.account_no
        AND p.txn_time >= k.window_start AND p.txn_time < k.window_end
    WHERE p.payer_kind = 'PERSON'
      AND NOT EXISTS (SELECT 1 FROM core o WHERE o.ring_id = k.ring_id AND o.account_no = p.payer_account)
),
per_payer AS (
    SELECT ring_id, payer, sum(amount_cny) AS paid,
           count(DISTINCT date_trunc('month', txn_time)) AS months,
           min(amount_cny) AS low, max(amount_cny) AS high, min(txn_time) AS first_paid
    FROM inflow GROUP BY ring_id, payer
),
-- a payment back to any account a person paid the core from goes back to that person (not to one account
-- picked by row order); an account that two payers used is matched to the one who paid more
paid_by_account AS (
    SELECT a.ring_id, a.payer_account, max(q.paid) AS paid
    FROM (SELECT DISTINCT ring_id, payer, payer_account FROM inflow WHERE payer_account IS NOT NULL) a
    JOIN per_payer q ON q.ring_id = a.ring_id AND q.payer = a.payer
    GROUP BY a.ring_id, a.payer_account
),
first_day AS (SELECT ring_id, min(first_paid) AS first_paid FROM per_payer GROUP BY ring_id),
inflow_figures AS (
    SELECT i.ring_id,
           count(*) AS n_in,
           sum(amount_cny) AS person_in,
           sum(amount_cny) FILTER (WHERE method = 'POS') / sum(amount_cny) AS pos_share,
           avg(CASE WHEN amount_cny % 1000 = 0 THEN 1.0 ELSE 0.0 END) AS round_share
    FROM inflow i GROUP BY i.ring_id
),
payer_figures AS (
    SELECT q.ring_id, count(*) AS payers,
           avg(CASE WHEN q.months >= 2 AND q.high <= q.low * 1.05 THEN 1.0 ELSE 0.0 END) AS regular_payer_share,
           avg(CASE WHEN q.first_paid >= f.first_paid + INTERVAL 30 DAY THEN 1.0 ELSE 0.0 END)
               AS late_new_payer_share
    FROM per_payer q JOIN first_day f USING (ring_id) GROUP BY q.ring_id
),
outflow AS (
    SELECT h.ring_id, p.payee_account, p.payee_kind, p.payee_name, p.amount_cny, p.is_cash,
           concat_ws(' ', p.memo, p.purpose, p.payee_name) AS words,
           q.paid AS payee_paid,
           c.account_no IS NOT NULL AS to_controller
    FROM hub h JOIN payments p ON p.payer_account = h.hub_account
        AND p.txn_time >= h.window_start AND p.txn_time < h.window_end
    LEFT JOIN paid_by_account q ON q.ring_id = h.ring_id AND q.payer_account = p.payee_account
    LEFT JOIN controllers c ON c.ring_id = h.ring_id AND c.account_no = p.payee_account
    WHERE NOT EXISTS (SELECT 1 FROM core o WHERE o.ring_id = h.ring_id AND o.account_no = p.payee_account)
),
classed AS (
    SELECT *,
        CASE
            WHEN is_cash OR payee_account IS NULL THEN 'cash'
            WHEN payee_paid IS NOT NULL THEN 'payout'
            -- a large drain's receiver is a "controller" to detectors/rings.py; an organisation there is
            -- judged by what it is paid for (a supplier), a person as a controller
            WHEN to_controller AND coalesce(payee_kind, '') <> 'ORG' THEN 'controller'
            WHEN regexp_matches(words, $wage_words) THEN 'wages'
            WHEN regexp_matches(words, $utility_words) THEN 'utilities'
            WHEN regexp_matches(words, $claim_words) THEN 'claims'
            WHEN payee_kind = 'ORG' THEN 'organisations'
            ELSE 'persons'
        END AS kind,
        amount_cny / nullif(payee_paid, 0) AS payout_ratio
    FROM outflow
),
payout_median AS (
    SELECT ring_id, median(payout_ratio) AS ratio, count(*) AS n FROM classed WHERE kind = 'payout' GROUP BY ring_id
),
out_figures AS (
    SELECT c.ring_id,
           sum(amount_cny) AS total_out,
           coalesce(sum(amount_cny) FILTER (WHERE kind IN ('wages', 'utilities', 'claims', 'organisations')), 0)
               / sum(amount_cny) AS operating_share,
           coalesce(sum(amount_cny) FILTER (WHERE kind IN ('cash', 'controller', 'persons')), 0)
               / sum(amount_cny) AS drain_share,
           coalesce(sum(amount_cny) FILTER (WHERE kind = 'payout'), 0) / sum(amount_cny) AS payout_share,
           coalesce(sum(amount_cny) FILTER (WHERE regexp_matches(coalesce(payee_name, ''), $financial_words)), 0)
               / sum(amount_cny) AS to_financial_share,
           count(*) FILTER (WHERE kind = 'payout') AS payouts,
           avg(CASE WHEN abs(payout_ratio / nullif(m.ratio, 0) - 1) <= 0.05 THEN 1.0 ELSE 0.0 END)
               FILTER (WHERE kind = 'payout') AS fixed_rate_share
    FROM classed c LEFT JOIN payout_median m USING (ring_id) GROUP BY c.ring_id
)
SELECT h.ring_id, h.hub_account,
       coalesce(regexp_matches(pa.holder_name, $financial_words), false) AS financial_holder,
       coalesce(f.payers, 0) AS payers,
       coalesce(f.regular_payer_share, 0) AS regular_payer_share,
       coalesce(f.late_new_payer_share, 0) AS late_new_payer_share,
       coalesce(i.pos_share, 0) AS pos_share,
       coalesce(i.round_share, 0) AS round_share,
       coalesce(o.operating_share, 0) AS operating_share,
       coalesce(o.drain_share, 0) AS drain_share,
       coalesce(o.payout_share, 0) AS payout_share,
       coalesce(o.to_financial_share, 0) AS to_financial_share,
       coalesce(o.payouts, 0) AS payouts,
       coalesce(o.fixed_rate_share, 0) AS fixed_rate_share,
       coalesce(m.ratio, 0) AS payout_ratio
FROM hub h
LEFT JOIN payout_median m ON m.ring_id = h.ring_id
LEFT JOIN parties pa ON pa.account_no = h.hub_account
LEFT JOIN payer_figures f ON f.ring_id = h.ring_id
LEFT JOIN inflow_figures i ON i.ring_id = h.ring_id
LEFT JOIN out_figures o ON o.ring_id = h.ring_id
ORDER BY h.ring_id
