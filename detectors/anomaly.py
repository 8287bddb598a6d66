"""A1 anomaly score (异常评分): accounts whose combination of features is unlike the county's other accounts.

Rules find what someone already described; a scheme that changed its shape can slip under every threshold yet
still look like no ordinary account (a crowd of elderly payers, regular payouts, money that never rests).
Method: per-account features in SQL (`scoring_features.sql`), robust z-scores (distance from the median in
units of the interquartile spread, log scale for counts and amounts), an IsolationForest with a fixed seed;
the top anomalies are explained by the features with the largest |z|, shown against the population median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb

from detectors import scoring
from detectors.base import Alert, Rule, Window

TYPOLOGY = "anomaly"
STAGE = "sweep"

EVIDENCE_SQL = """
SELECT account_no, list(payment_id ORDER BY amount_cny DESC, payment_id)[1:$max_evidence] AS evidence
FROM (
    SELECT payee_account AS account_no, payment_id, amount_cny FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND list_contains($accounts, payee_account)
    UNION ALL
    SELECT payer_account, payment_id, amount_cny FROM payments
    WHERE txn_time >= $start AND txn_time < $end AND list_contains($accounts, payer_account)
)
GROUP BY account_no
"""


@dataclass(frozen=True)
class Params:
    window_days: int
    """Length of the window the features are measured over (days)."""
    min_txn: int
    """Payments in or out of an account in the window for it to be scored (payments)."""
    min_accounts: int
    """Fewest scored accounts that make a population to compare against; fewer: no alerts (accounts)."""
    contamination: float
    """Share of the scored accounts reported as anomalies (fraction 0..0.5)."""
    top_k: int
    """Most anomaly alerts in one run, whatever the share says (alerts)."""
    min_score: float
    """Lowest IsolationForest anomaly score to report; about 0.5 is ordinary, 1 is isolated at once (0..1)."""
    top_features: int
    """Features named in each reason (features)."""
    n_estimators: int
    """Trees in the forest (trees)."""
    random_state: int
    """Seed of the forest, fixed so a rerun gives the same alerts (integer)."""
    max_evidence: int
    """Payment ids kept per alert: the largest payments of the account (payments)."""
    memo_keywords: tuple[str, ...] = ()
    """Memo keywords from rules/keywords.yaml (regular expressions)."""


def detect(con: duckdb.DuckDBPyConnection, rule: Rule, window: Window) -> list[Alert]:
    params: Params = rule.params
    keywords = "|".join(f"(?:{word})" for word in params.memo_keywords) or scoring.DEFAULT_KEYWORDS
    if isinstance(con, duckdb.DuckDBPyConnection):
        # kept in the warehouse between nights: a night with little new data measures only what it changed
        scoring.refresh_stored_features(con, window, keywords)
    features = scoring.account_features(con, window, keywords, min_txn=params.min_txn)
    if features.height < max(params.min_accounts, 2):
        return []
    scored = scoring.score_accounts(features, params.n_estimators, params.random_state)
    wanted = min(params.top_k, math.ceil(params.contamination * features.height))
    chosen = [int(i) for i in scored.order()[:wanted] if scored.scores[i] >= params.min_score]
    if not chosen:
        return []
    evidence = dict(
        con.execute(
            EVIDENCE_SQL,
            {
                "start": window.start,
                "end": window.end,
                "max_evidence": params.max_evidence,
                "accounts": [scored.accounts[i] for i in chosen],
            },
        ).fetchall()
    )
    alerts = []
    for rank, index in enumerate(chosen, start=1):
        account = scored.accounts[index]
        contributions = scored.explain(index, params.top_features)
        score = float(scored.scores[index])
        # like the sweep rules: 0.5 when just at min_score, rising to 1.0 for an account isolated at once
        past_threshold = (score - params.min_score) / max(1 - params.min_score, 1e-9)
        reason_zh = (
            f"{window.days} 天内账户特征异常（异常分 {score:.2f}，{features.height:,} 个账户中第 {rank} 名）："
            + scoring.describe(contributions, "zh")
        )
        reason_en = (
            f"Unusual account over {window.days} days (anomaly score {score:.2f}, rank {rank} of "
            f"{features.height:,} accounts): " + scoring.describe(contributions, "en")
        )
        metrics = {
            "anomaly_score": round(score, 4),
            "rank": rank,
            "scored_accounts": features.height,
            "top_features": [
                {"feature": c.feature.name, "value": _plain(c.value), "median": _plain(c.median), "z": round(c.z, 2)}
                for c in contributions
            ],
            "features": {f.name: _plain(features[f.name][index]) for f in scoring.ACCOUNT_FEATURES},
        }
        alerts.append(
            Alert(
                rule_id=rule.rule_id,
                typology=rule.typology,
                subject_kind="account",
                subject=account,
                window_start=window.start,
                window_end=window.end,
                metrics=metrics,
                evidence=tuple(evidence.get(account) or ()),
                strength=round(0.5 + 0.5 * min(max(past_threshold, 0.0), 1.0), 4),
                reason_zh=reason_zh,
                reason_en=reason_en,
                accounts=(account,),
            )
        )
    return alerts


def _plain(value) -> float | None:
    """JSON-ready: NaN and missing become None, numbers rounded for reading."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else round(value, 4)
