-- T9 one controller, many accounts: actor groups (pipelines/actors.py) of at least $min_accounts accounts at
-- $min_institutions institutions or more, that trade with each other or jointly take money from many individuals.
WITH groups AS (
    SELECT a.actor_id,
           list(a.account_no ORDER BY a.account_no) AS accounts,
           count(*) AS n_accounts,
           count(DISTINCT p.institution_code) AS n_institutions,
           list(DISTINCT r.reason ORDER BY r.reason) FILTER (WHERE r.reason NOT IN ('own', '')) AS link_reasons
    FROM actor_accounts a
    JOIN parties p USING (account_no)
    LEFT JOIN (SELECT account_no, unnest(string_split(link_reason, ',')) AS reason FROM actor_accounts) r
        USING (account_no)
    GROUP BY a.actor_id
    HAVING count(DISTINCT a.account_no) >= $min_accounts AND count(DISTINCT p.institution_code) >= $min_institutions
),
members AS (
    SELECT actor_id, unnest(accounts) AS account_no FROM groups
),
inflow AS (
    SELECT m.actor_id, p.payment_id, p.amount_cny, p.payer_kind,
           coalesce(p.payer_id_no, p.payer_account) AS payer,
           same.actor_id IS NOT NULL AS internal
    FROM payments p
    JOIN members m ON p.payee_account = m.account_no
    LEFT JOIN members same ON p.payer_account = same.account_no AND same.actor_id = m.actor_id
    WHERE p.txn_time >= $start AND p.txn_time < $end
),
measured AS (
    SELECT actor_id,
           coalesce(sum(amount_cny) FILTER (WHERE NOT internal), 0) AS outside_inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE internal), 0) AS internal_flow_cny,
           count(*) FILTER (WHERE internal) AS internal_payments,
           count(DISTINCT payer) FILTER (WHERE NOT internal AND payer_kind = 'PERSON') AS individual_payers,
           list(payment_id ORDER BY internal DESC, amount_cny DESC, payment_id) AS evidence
    FROM inflow GROUP BY actor_id
)
SELECT g.actor_id AS actor, g.accounts, g.n_accounts, g.n_institutions, coalesce(g.link_reasons, []) AS link_reasons,
       m.outside_inflow_cny, m.internal_flow_cny, m.internal_payments, m.individual_payers,
       m.evidence[1:$max_evidence] AS evidence
FROM groups g JOIN measured m USING (actor_id)
WHERE m.outside_inflow_cny >= $min_inflow_cny
  AND (m.individual_payers >= $min_joint_payers
       OR (m.internal_payments >= $min_internal_payments
           AND m.internal_flow_cny >= $min_internal_share * m.outside_inflow_cny))
ORDER BY g.actor_id
