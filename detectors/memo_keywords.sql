-- T5 memo keywords: accounts whose payments' memo or purpose speak of investment and returns, from several
-- counterparties. The keyword list is data (rules/keywords.yaml), joined into one regular expression.
-- Licensed financial institutions (by name) are skipped, and memos on payments with them do not count.
-- The hit figures, the evidence and the keywords are taken in one GROUP BY, read once: Spark inlines a CTE at
-- every reference, and the earlier form (the hit accounts read by the payment count, the flagged accounts by
-- the evidence and by the final rows) ran the hits several times over.
WITH marked AS (
    SELECT payment_id, payer_account, payee_account, payer_name, payee_name, amount_cny,
           regexp_extract(coalesce(memo, '') || ' ' || coalesce(purpose, ''),
                          array_to_string($memo_keywords, '|')) AS keyword
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND (memo IS NOT NULL OR purpose IS NOT NULL)
),
hits AS (
    SELECT *,
           coalesce(regexp_matches(payer_name, array_to_string($financial_institutions, '|')), false) AS payer_financial,
           coalesce(regexp_matches(payee_name, array_to_string($financial_institutions, '|')), false) AS payee_financial
    FROM marked WHERE keyword <> ''
),
moves AS (
    -- each hit seen from both ends; an end that is a financial institution neither counts nor is counted
    SELECT payee_account AS account, coalesce(payer_account, 'CASH') AS counterparty, payment_id, amount_cny, keyword
    FROM hits WHERE payee_account IS NOT NULL AND NOT payee_financial AND NOT payer_financial
    UNION ALL
    SELECT payer_account, coalesce(payee_account, 'CASH'), payment_id, amount_cny, keyword
    FROM hits WHERE payer_account IS NOT NULL AND NOT payer_financial AND NOT payee_financial
),
hit_accounts AS (
    -- the hits' figures, their largest payments as evidence, and the keywords among those
    SELECT account, count(*) AS keyword_hits, count(DISTINCT counterparty) AS hit_counterparties,
           sum(amount_cny) AS hit_amount_cny,
           array_agg(payment_id ORDER BY amount_cny DESC, payment_id)[1:$max_evidence] AS evidence,
           list_sort(list_distinct(array_agg(keyword) FILTER (WHERE rank <= $max_evidence))) AS keywords
    FROM (SELECT *, row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank,
                 count(*) OVER (PARTITION BY account) AS account_hits
          FROM moves) ranked
    -- fewer hits than the counterparties needed: not worth the distinct count and the sorted evidence
    WHERE account_hits >= $min_counterparties
    GROUP BY account HAVING count(DISTINCT counterparty) >= $min_counterparties
),
all_payments AS (
    -- the payments in the window of the accounts with enough hits (the hits read again: a scan of the memo rows;
    -- not the hit accounts, whose figures would be counted again)
    SELECT account, count(*) AS transactions
    FROM (SELECT payee_account AS account FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM moves GROUP BY account HAVING count(*) >= $min_counterparties)
          UNION ALL
          SELECT payer_account FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payer_account IN (SELECT account FROM moves GROUP BY account HAVING count(*) >= $min_counterparties)) both_ends
    GROUP BY account
)
SELECT h.account, h.keyword_hits, h.hit_counterparties, h.hit_amount_cny, t.transactions,
       h.keyword_hits / t.transactions AS hit_share, h.evidence, h.keywords
FROM hit_accounts h JOIN all_payments t ON t.account = h.account
WHERE (h.keyword_hits >= $min_hits
       OR (t.transactions >= $min_transactions AND h.keyword_hits >= $min_share * t.transactions))
ORDER BY h.account
