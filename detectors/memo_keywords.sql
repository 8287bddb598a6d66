-- T5 memo keywords: accounts whose payments' memo or purpose speak of investment and returns, from several
-- counterparties. The keyword list is data (rules/keywords.yaml), joined into one regular expression.
-- Licensed financial institutions (by name) are skipped, and memos on payments with them do not count.
WITH marked AS (
    SELECT payment_id, payer_account, payee_account, amount_cny,
           regexp_extract(coalesce(memo, '') || ' ' || coalesce(purpose, ''),
                          array_to_string($memo_keywords, '|')) AS keyword,
           coalesce(regexp_matches(payer_name, array_to_string($financial_institutions, '|')), false) AS payer_financial,
           coalesce(regexp_matches(payee_name, array_to_string($financial_institutions, '|')), false) AS payee_financial
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end
),
moves AS (
    SELECT payee_account AS account, coalesce(payer_account, 'CASH') AS counterparty, payment_id, amount_cny,
           CASE WHEN payer_financial THEN '' ELSE keyword END AS keyword
    FROM marked WHERE payee_account IS NOT NULL AND NOT payee_financial
    UNION ALL
    SELECT payer_account, coalesce(payee_account, 'CASH'), payment_id, amount_cny,
           CASE WHEN payee_financial THEN '' ELSE keyword END
    FROM marked WHERE payer_account IS NOT NULL AND NOT payer_financial
),
measured AS (
    SELECT account, count(*) AS transactions,
           count(*) FILTER (WHERE keyword <> '') AS keyword_hits,
           count(DISTINCT counterparty) FILTER (WHERE keyword <> '') AS hit_counterparties,
           coalesce(sum(amount_cny) FILTER (WHERE keyword <> ''), 0) AS hit_amount_cny
    FROM moves
    GROUP BY account
    HAVING count(*) FILTER (WHERE keyword <> '') > 0
),
flagged AS (
    SELECT *, keyword_hits / transactions AS hit_share
    FROM measured
    WHERE hit_counterparties >= $min_counterparties
      AND (keyword_hits >= $min_hits
           OR (transactions >= $min_transactions AND keyword_hits >= $min_share * transactions))
),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence,
           list_sort(list_distinct(array_agg(keyword))) AS keywords
    FROM (SELECT account, payment_id, amount_cny, keyword,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM moves WHERE keyword <> '' AND account IN (SELECT account FROM flagged)) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence, e.keywords FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account
