-- T5 memo keywords: accounts whose payments' memo or purpose speak of investment and returns, from several
-- counterparties. The keyword list is data (rules/keywords.yaml), joined into one regular expression.
-- Licensed financial institutions (by name) are skipped, and memos on payments with them do not count.
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
    SELECT account, count(*) AS keyword_hits, count(DISTINCT counterparty) AS hit_counterparties,
           sum(amount_cny) AS hit_amount_cny
    FROM moves
    GROUP BY account HAVING count(DISTINCT counterparty) >= $min_counterparties
),
all_payments AS (
    SELECT account, count(*) AS transactions
    FROM (SELECT payee_account AS account FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM hit_accounts)
          UNION ALL
          SELECT payer_account FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payer_account IN (SELECT account FROM hit_accounts)) both_ends
    GROUP BY account
),
measured AS (
    SELECT h.*, t.transactions FROM hit_accounts h JOIN all_payments t ON t.account = h.account
),
flagged AS (
    SELECT *, keyword_hits / transactions AS hit_share
    FROM measured
    WHERE (keyword_hits >= $min_hits
           OR (transactions >= $min_transactions AND keyword_hits >= $min_share * transactions))
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence,
           list_sort(list_distinct(array_agg(keyword))) AS keywords
    FROM (SELECT account, payment_id, amount_cny, keyword,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM moves WHERE account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence, e.keywords FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
