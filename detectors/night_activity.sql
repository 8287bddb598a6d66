-- T8 night activity: accounts where a large share of the payments happen at night (local time) through a
-- non-counter channel (online transfers, or any payment reported with a channel), moving real money.
WITH marked AS (
    SELECT payment_id, payer_account, payee_account, amount_cny,
           (extract(hour FROM txn_time) >= $night_start_hour OR extract(hour FROM txn_time) < $night_end_hour)
               AND NOT is_cash AND (method = 'ONLINE' OR channel IS NOT NULL) AS at_night
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end
),
moves AS (
    SELECT payee_account AS account, payment_id, amount_cny, at_night FROM marked WHERE payee_account IS NOT NULL
    UNION ALL
    SELECT payer_account, payment_id, amount_cny, at_night FROM marked WHERE payer_account IS NOT NULL
),
night_busy AS (
    -- a cheap first pass over the night payments only
    SELECT account FROM moves WHERE at_night
    GROUP BY account
    HAVING count(*) >= $min_night_share * $min_transactions AND sum(amount_cny) >= $min_night_amount_cny
),
measured AS (
    SELECT account, count(*) AS transactions, count(*) FILTER (WHERE at_night) AS night_transactions,
           coalesce(sum(amount_cny) FILTER (WHERE at_night), 0) AS night_amount_cny
    FROM moves WHERE account IN (SELECT account FROM night_busy)
    GROUP BY account
    HAVING count(*) >= $min_transactions
       AND count(*) FILTER (WHERE at_night) >= $min_night_share * count(*)
),
flagged AS (SELECT *, night_transactions / transactions AS night_share FROM measured),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM moves WHERE at_night AND account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
