-- T13 receipts unrelated to the business: (a) a non-financial organisation (by industry and name) paid by many individuals whose
-- payments carry investment words or round amounts; (b) an individual paid often by several organisations.
WITH busy_orgs AS (
    -- cheap first passes before the distinct counts and the regular expressions
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_kind = 'ORG' AND payer_kind = 'PERSON'
      AND payee_account IS NOT NULL
    GROUP BY payee_account HAVING count(*) >= $min_payers
),
busy_persons AS (
    SELECT payee_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_kind = 'PERSON' AND payer_kind = 'ORG'
      AND payee_account IS NOT NULL AND payer_account IS NOT NULL
    GROUP BY payee_account HAVING count(*) >= $min_org_payments
),
org_inflow AS (
    SELECT payee_account AS account, payee_name, payment_id, payer_account, amount_cny,
           regexp_matches(coalesce(memo, '') || ' ' || coalesce(purpose, ''),
                          array_to_string($memo_keywords, '|')) AS keyword_hit,
           amount_cny % $unit_cny = 0 AS is_round
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy_orgs)
      AND payee_kind = 'ORG' AND payer_kind = 'PERSON'
),
org_measured AS (
    SELECT account, min(payee_name) AS payee_name,
           count(DISTINCT payer_account) AS individual_payers, count(*) AS inflows,
           sum(amount_cny) AS inflow_cny,
           count(*) FILTER (WHERE keyword_hit) AS keyword_hits,
           count(*) FILTER (WHERE is_round) AS round_inflows
    FROM org_inflow
    GROUP BY account
    HAVING count(DISTINCT payer_account) >= $min_payers
),
org_flagged AS (
    SELECT m.account, 'organisation' AS branch, m.individual_payers, m.inflows, m.inflow_cny,
           m.keyword_hits / m.inflows AS keyword_share, m.round_inflows / m.inflows AS round_share,
           p.occupation, NULL::BIGINT AS org_payers, NULL::BIGINT AS org_payments
    FROM org_measured m LEFT JOIN parties p ON p.account_no = m.account
    WHERE NOT regexp_matches(coalesce(p.occupation, '') || ' ' || coalesce(p.holder_name, m.payee_name, ''),
                             array_to_string($financial_institutions, '|'))
      AND (m.keyword_hits >= $min_keyword_share * m.inflows OR m.round_inflows >= $min_round_share * m.inflows)
),
person_flagged AS (
    SELECT payee_account AS account, 'individual' AS branch, NULL::BIGINT AS individual_payers,
           count(*) AS inflows, sum(amount_cny) AS inflow_cny, NULL::DOUBLE AS keyword_share,
           NULL::DOUBLE AS round_share, NULL::VARCHAR AS occupation,
           count(DISTINCT payer_account) AS org_payers, count(*) AS org_payments
    FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM busy_persons)
      AND payer_account IS NOT NULL AND payee_kind = 'PERSON' AND payer_kind = 'ORG'
    GROUP BY payee_account
    HAVING count(DISTINCT payer_account) >= $min_org_payers AND count(*) >= $min_org_payments
),
flagged AS (SELECT * FROM org_flagged UNION ALL SELECT * FROM person_flagged),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT payee_account AS account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY payee_account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM payments
          WHERE txn_time >= $start AND txn_time < $end AND payee_account IN (SELECT account FROM flagged)
            AND ((payee_kind = 'ORG' AND payer_kind = 'PERSON') OR (payee_kind = 'PERSON' AND payer_kind = 'ORG'))
         ) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT f.*, e.evidence FROM flagged f LEFT JOIN evidence e ON e.account = f.account ORDER BY f.account, f.branch
