-- T10 insiders and salespeople: (a) an organisation sends a large share of its inflow to its own legal
-- representative (by ID number, on the payment or on the receiving account); (b) an account pays several
-- individuals who never paid it, repeatedly, in varying amounts that together are a small share of its inflow
-- from individuals: commissions that rise and fall with the money they bring in (a salary does not vary).
WITH inflow AS (
    SELECT payee_account AS account, sum(amount_cny) AS inflow_cny,
           coalesce(sum(amount_cny) FILTER (WHERE payer_kind = 'PERSON'), 0) AS individual_inflow_cny
    FROM payments WHERE txn_time >= $start AND txn_time < $end AND payee_account IS NOT NULL
    GROUP BY payee_account
),
insider_payments AS (
    SELECT o.account_no AS account, p.payment_id, p.amount_cny
    FROM payments p
    JOIN parties o ON o.account_no = p.payer_account AND o.holder_kind = 'ORG' AND o.legal_rep_id_no IS NOT NULL
    LEFT JOIN parties r ON r.account_no = p.payee_account
    WHERE p.txn_time >= $start AND p.txn_time < $end
      AND (p.payee_id_no = o.legal_rep_id_no OR r.holder_id_no = o.legal_rep_id_no)
),
insiders AS (
    SELECT s.account, sum(s.amount_cny) AS insider_cny, count(*) AS insider_payments
    FROM insider_payments s GROUP BY s.account HAVING sum(s.amount_cny) >= $min_insider_cny
),
payers_of_many AS (
    -- a cheap first pass: enough payments to persons for several recipients paid several times
    SELECT payer_account AS account FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND payee_kind = 'PERSON' AND payer_account IS NOT NULL
    GROUP BY payer_account HAVING count(*) >= $min_recipients * $min_commission_payments
),
payouts AS (
    -- payments from an account with individual inflow to persons who did not pay it in the window
    SELECT p.payer_account AS account, p.payee_account AS recipient, count(*) AS payments,
           sum(p.amount_cny) AS paid_cny, stddev_samp(p.amount_cny) / avg(p.amount_cny) AS amount_cv
    FROM payments p
    WHERE p.txn_time >= $start AND p.txn_time < $end AND p.payee_kind = 'PERSON' AND p.payee_account IS NOT NULL
      AND p.payer_account IN (SELECT account FROM inflow WHERE individual_inflow_cny > 0)
      AND p.payer_account IN (SELECT account FROM payers_of_many)
      AND NOT EXISTS (SELECT 1 FROM payments back
                      WHERE back.payer_account = p.payee_account AND back.payee_account = p.payer_account
                        AND back.txn_time >= $start AND back.txn_time < $end)
    GROUP BY 1, 2
    HAVING count(*) >= $min_commission_payments
),
commissions AS (
    SELECT o.account, count(*) AS commission_recipients, sum(o.paid_cny) AS commission_cny
    FROM payouts o
    WHERE o.amount_cv >= $min_amount_cv
    GROUP BY o.account
    HAVING count(*) >= $min_recipients
),
flagged AS (
    SELECT coalesce(s.account, c.account) AS account, i.inflow_cny, i.individual_inflow_cny,
           coalesce(s.insider_cny, 0) AS insider_cny, coalesce(s.insider_payments, 0) AS insider_payments,
           coalesce(s.insider_cny, 0) / nullif(i.inflow_cny, 0) AS insider_share,
           coalesce(c.commission_recipients, 0) AS commission_recipients,
           coalesce(c.commission_cny, 0) AS commission_cny,
           coalesce(c.commission_cny, 0) / nullif(i.individual_inflow_cny, 0) AS commission_share,
           coalesce(s.insider_cny >= $min_insider_share * i.inflow_cny, false) AS is_insider,
           coalesce(c.commission_cny BETWEEN $min_commission_rate * i.individual_inflow_cny
                                         AND $max_commission_rate * i.individual_inflow_cny, false) AS is_commission
    FROM insiders s
    FULL JOIN commissions c ON c.account = s.account
    JOIN inflow i ON i.account = coalesce(s.account, c.account)
),
offending AS (SELECT * FROM flagged WHERE is_insider OR is_commission),
evidence AS (
    SELECT account, array_agg(payment_id ORDER BY amount_cny DESC, payment_id) AS evidence
    FROM (SELECT account, payment_id, amount_cny,
                 row_number() OVER (PARTITION BY account ORDER BY amount_cny DESC, payment_id) AS rank
          FROM (SELECT account, payment_id, amount_cny FROM insider_payments
                WHERE account IN (SELECT account FROM offending WHERE is_insider)
                UNION ALL
                SELECT p.payer_account, p.payment_id, p.amount_cny
                FROM payments p JOIN payouts o ON o.account = p.payer_account AND o.recipient = p.payee_account
                WHERE p.txn_time >= $start AND p.txn_time < $end
                  AND o.account IN (SELECT account FROM offending WHERE is_commission)) relevant
         ) ranked
    WHERE rank <= $max_evidence
    GROUP BY account
)
SELECT o.*, e.evidence FROM offending o LEFT JOIN evidence e ON e.account = o.account ORDER BY o.account
